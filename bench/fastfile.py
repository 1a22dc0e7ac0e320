#!/usr/bin/env python3
"""FastFile benchmark (bench/fastfile.sh sets up the S3 server, the data and s3fs, then calls this).

  fastfile.py make-small DIR COUNT KIB     make COUNT random files of KIB KiB in DIR once, plus DIR.json
  fastfile.py run [options]                benchmark; a table on stdout, one JSON line per run in --results

Scenarios, each end to end from a cold start to the reader's last byte:
  large  the 2 GiB channel (64 x 32 MiB) read file by file in name order with 1 MiB reads:
           pipemode mount   `pipemode mount s3://…` + read through the mount (listing and mount included)
           File mode        `rclone copy` (16 transfers) to a local folder, then read the copies
           s3fs             `s3fs bucket:/prefix` + read through the mount
  small  20,000 x 16 KiB files, read whole, one after another in name order, the way a map-style dataset
         without shuffling reads them: pipemode mount vs s3fs (and File mode, for reference); "pipemode
         opens" is the mount with PIPEMODE_FUSE_OPENS=1 (an OPEN and a RELEASE per file, as before the
         mount did without them), for information.

The reader is a Python process (os.listdir of the mount point, sorted, open/readinto/close). An untimed first
round reads every variant's bytes through sha256 and compares them with the source. Timed rounds are
interleaved (every variant once, then again, …, the order rotating) and the table gives medians. CPU is the
user+system time of the process that serves the data (pipemode, s3fs, rclone) from wait4(), and of the reader.
"""
import argparse
import hashlib
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time

MiB = 1 << 20
READ_SIZE = 1 << 20

READER = r'''
import hashlib, os, sys
root, verify = sys.argv[1], sys.argv[2] == "1"
h = hashlib.sha256()
buf = bytearray(1 << 20)
view = memoryview(buf)
files = n = 0
for name in sorted(os.listdir(root)):
    with open(os.path.join(root, name), "rb", buffering=0) as f:
        while True:
            k = f.readinto(buf)
            if not k:
                break
            n += k
            if verify:
                h.update(view[:k])
    files += 1
print(files, n, h.hexdigest() if verify else "-")
'''


def log(msg):
    print(f'fastfile: {msg}', file=sys.stderr, flush=True)


# ---------------------------------------------------------------- data

def make_small(directory, count, kib):
    manifest = directory.rstrip('/') + '.json'
    try:
        with open(manifest) as f:
            m = json.load(f)
        if m['count'] == count and m['kib'] == kib and len(os.listdir(directory)) == count and 'files' in m:
            return
    except (OSError, ValueError, KeyError):
        pass
    log(f'generating {count} files of {kib} KiB in {directory}')
    shutil.rmtree(directory, ignore_errors=True)
    os.makedirs(directory)
    digest = hashlib.sha256()
    for i in range(count):
        body = os.urandom(kib * 1024)
        with open(os.path.join(directory, f'{i:06d}.bin'), 'wb') as f:
            f.write(body)
        digest.update(body)
    with open(manifest, 'w') as f:
        # 'files' (in name order) makes it a bench/harness.py manifest too (the small-objects Pipe rows)
        files = [os.path.join(directory, f'{i:06d}.bin') for i in range(count)]
        json.dump({'count': count, 'kib': kib, 'bytes': count * kib * 1024, 'sha256': digest.hexdigest(), 'files': files}, f)


def expected(data_dir):
    """(files, bytes, sha256 of the concatenation in name order) of a local copy of the data."""
    digest = hashlib.sha256()
    files = total = 0
    for name in sorted(os.listdir(data_dir)):
        with open(os.path.join(data_dir, name), 'rb') as f:
            while True:
                b = f.read(8 * MiB)
                if not b:
                    break
                digest.update(b)
                total += len(b)
        files += 1
    return files, total, digest.hexdigest()


# ---------------------------------------------------------------- processes

def cpu_of(rusage):
    return rusage.ru_utime + rusage.ru_stime


def wait_child(proc, timeout):
    deadline = time.monotonic() + timeout
    while True:
        pid, status, rusage = os.wait4(proc.pid, os.WNOHANG)
        if pid == proc.pid:
            proc.returncode = os.waitstatus_to_exitcode(status)
            return proc.returncode, cpu_of(rusage)
        if time.monotonic() > deadline:
            proc.kill()
            _, status, rusage = os.wait4(proc.pid, 0)
            proc.returncode = os.waitstatus_to_exitcode(status)
            return None, cpu_of(rusage)
        time.sleep(0.01)


def is_mounted(path):
    with open('/proc/self/mountinfo') as f:
        return any(line.split(' ')[4] == path for line in f)


def wait_mounted(path, proc, timeout=60):
    deadline = time.monotonic() + timeout
    while not is_mounted(path):
        if proc.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f'{path} was not mounted (exit {proc.returncode})')
        time.sleep(0.005)
    # a FUSE mount answers once its server has taken the INIT request
    while True:
        try:
            os.listdir(path)
            return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.005)


def read_tree(path, verify):
    start = time.monotonic()
    proc = subprocess.Popen([sys.executable, '-c', READER, path, '1' if verify else '0'], stdout=subprocess.PIPE)
    out = proc.stdout.read().decode()
    code, cpu = wait_child(proc, 3600)
    if code != 0:
        raise RuntimeError(f'reader failed on {path}: exit {code}')
    files, nbytes, digest = out.split()
    return int(files), int(nbytes), digest, cpu, time.monotonic() - start


def server_cpu(pid_dir):
    total = 0.0
    tick = os.sysconf('SC_CLK_TCK')
    for name in ('rgw', 'osd', 'mon'):
        try:
            with open(os.path.join(pid_dir, f'{name}.pid')) as f:
                pid = f.read().strip()
            with open(f'/proc/{pid}/stat') as f:
                fields = f.read().rsplit(')', 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / tick
        except (OSError, IndexError, ValueError):
            pass
    return total


# ---------------------------------------------------------------- variants

class Run:
    def __init__(self, opts, scenario, variant, verify):
        self.opts, self.scenario, self.variant, self.verify = opts, scenario, variant, verify
        self.work = tempfile.mkdtemp(prefix='pm-ff-', dir=opts.work_dir)
        self.mnt = os.path.join(self.work, 'mnt')
        os.makedirs(self.mnt)

    def prefix(self):
        return self.opts.large_prefix if self.scenario == 'large' else self.opts.small_prefix

    def go(self):
        server_before = server_cpu(self.opts.server_pid_dir)
        try:
            result = getattr(self, 'run_' + self.variant.replace(' ', '_'))()
        finally:
            for _ in range(3):
                if not is_mounted(self.mnt):
                    break
                subprocess.run(['umount', '-l', self.mnt], stderr=subprocess.DEVNULL)
            shutil.rmtree(self.work, ignore_errors=True)
        result['server_cpu_s'] = server_cpu(self.opts.server_pid_dir) - server_before
        return result

    def run_pipemode_mount(self, env=None):
        o = self.opts
        start = time.monotonic()
        err = open(os.path.join(self.work, 'pipemode.log'), 'w+')
        proc = subprocess.Popen(['node', os.path.join(o.root, 'bin/pipemode.js'), 'mount', f's3://{o.bucket}/{self.prefix()}', self.mnt,
                                 '--memory-budget', f'{o.memory_budget_mib}MiB'], stderr=err, stdout=subprocess.DEVNULL, env=env)
        wait_mounted(self.mnt, proc)
        files, nbytes, digest, reader_cpu, _ = read_tree(self.mnt, self.verify)
        seconds = time.monotonic() - start
        proc.send_signal(signal.SIGTERM)
        code, cpu = wait_child(proc, 60)
        err.seek(0)
        if code != 0:
            raise RuntimeError(f'pipemode mount exited {code}: {err.read()}')
        return dict(files=files, bytes=nbytes, sha256=digest, seconds=seconds, cpu_s=cpu, reader_cpu_s=reader_cpu)

    def run_pipemode_opens(self):
        # the mount as it was before it did without OPEN/RELEASE on small-file channels (informational)
        return self.run_pipemode_mount(dict(os.environ, PIPEMODE_FUSE_OPENS='1'))

    def run_s3fs(self):
        o = self.opts
        start = time.monotonic()
        env = dict(os.environ, AWSACCESSKEYID=os.environ['AWS_ACCESS_KEY_ID'], AWSSECRETACCESSKEY=os.environ['AWS_SECRET_ACCESS_KEY'])
        proc = subprocess.Popen(['s3fs', f'{o.bucket}:/{self.prefix().rstrip("/")}', self.mnt, '-f', '-o', f'url={o.endpoint}',
                                 '-o', 'use_path_request_style', '-o', 'endpoint=us-east-1', '-o', 'ro'],
                                env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_mounted(self.mnt, proc)
        files, nbytes, digest, reader_cpu, _ = read_tree(self.mnt, self.verify)
        seconds = time.monotonic() - start
        subprocess.run(['umount', self.mnt], check=True)
        code, cpu = wait_child(proc, 60)
        return dict(files=files, bytes=nbytes, sha256=digest, seconds=seconds, cpu_s=cpu, reader_cpu_s=reader_cpu)

    def run_File_mode(self):
        o = self.opts
        start = time.monotonic()
        transfers = '16' if self.scenario == 'large' else '64'
        env = {k: v for k, v in os.environ.items() if k != 'AWS_CA_BUNDLE'}
        proc = subprocess.Popen(['rclone', 'copy', '--transfers', transfers, '--checkers', transfers, '--s3-no-check-bucket',
                                 f'{o.rclone_remote}:{o.bucket}/{self.prefix()}', self.mnt], env=env)
        code, cpu = wait_child(proc, 3600)
        if code != 0:
            raise RuntimeError(f'rclone copy exited {code}')
        files, nbytes, digest, reader_cpu, _ = read_tree(self.mnt, self.verify)
        seconds = time.monotonic() - start
        return dict(files=files, bytes=nbytes, sha256=digest, seconds=seconds, cpu_s=cpu, reader_cpu_s=reader_cpu)


# ---------------------------------------------------------------- report

def median(xs):
    return statistics.median(xs) if xs else float('nan')


def report(records, opts):
    print()
    print(f'FastFile: end to end (mount or download, then read every byte), median of {opts.rounds} interleaved rounds; '
          f'pipemode --memory-budget {opts.memory_budget_mib}MiB')
    print(f'{"scenario":<34} {"variant":<16} {"seconds":>8} {"MiB/s":>8} {"files/s":>9} {"CPU s":>7} {"reader CPU s":>12} {"S3 server CPU s":>15}')
    meds = {}
    for scenario, label in (('large', 'large: 64 x 32 MiB (2 GiB)'), ('small', f'small: {opts.small_count} x {opts.small_kib} KiB')):
        for variant in opts.variants[scenario]:
            rs = [r for r in records if r['scenario'] == scenario and r['variant'] == variant and not r['verify']]
            if not rs:
                continue
            secs = median([r['seconds'] for r in rs])
            nbytes = rs[0]['bytes']
            files = rs[0]['files']
            meds[(scenario, variant)] = secs
            cpu = median([r['cpu_s'] for r in rs])
            reader_cpu = median([r['reader_cpu_s'] for r in rs])
            server = median([r['server_cpu_s'] for r in rs])
            runs = ', '.join(f"{r['seconds']:.2f}" for r in rs)
            print(f'{label:<34} {variant:<16} {secs:>8.2f} {nbytes / MiB / secs:>8.1f} {files / secs:>9.0f} '
                  f'{cpu:>7.2f} {reader_cpu:>12.2f} {server:>15.2f}   (runs: {runs} s)')
    print()
    mount, download = meds.get(('large', 'pipemode mount')), meds.get(('large', 'File mode'))
    if mount and download:
        ok = 'PASS' if mount <= download else 'FAIL'
        print(f'  target: large files, mount + read no slower than download + read: {mount:.2f} s vs {download:.2f} s ({download / mount:.2f}x)  {ok}')
    mount, s3fs = meds.get(('small', 'pipemode mount')), meds.get(('small', 's3fs'))
    if mount and s3fs:
        ok = 'PASS' if s3fs / mount >= 2 else 'FAIL'
        print(f'  target: small files, at least 2x s3fs: {s3fs / mount:.2f}x ({opts.small_count / mount:.0f} vs {opts.small_count / s3fs:.0f} files/s)  {ok}')
    mount, s3fs = meds.get(('large', 'pipemode mount')), meds.get(('large', 's3fs'))
    if mount and s3fs:
        print(f'  large files vs s3fs: {s3fs / mount:.2f}x')


def run(opts):
    want = {'large': expected(opts.large_dir), 'small': expected(opts.small_dir)}
    opts.variants = {'large': ['pipemode mount', 'File mode', 's3fs'], 'small': ['pipemode mount', 'pipemode opens', 's3fs', 'File mode']}
    if not opts.s3fs:
        opts.variants = {k: [v for v in vs if v != 's3fs'] for k, vs in opts.variants.items()}
    records = []
    with open(opts.results, 'a') as out:
        for round_no in range(opts.rounds + 1):
            verify = round_no == 0
            for scenario in opts.scenarios:
                variants = opts.variants[scenario]
                shift = round_no % len(variants)
                for variant in variants[shift:] + variants[:shift]:
                    r = Run(opts, scenario, variant, verify).go()
                    files, nbytes, digest = want[scenario]
                    if r['files'] != files or r['bytes'] != nbytes or (verify and r['sha256'] != digest):
                        raise RuntimeError(f'{scenario} {variant}: read {r["files"]} files, {r["bytes"]} bytes, sha256 {r["sha256"]}; '
                                           f'expected {files}, {nbytes}, {digest}')
                    r.update(scenario=scenario, variant=variant, round=round_no, verify=verify, time=time.time())
                    records.append(r)
                    out.write(json.dumps(r) + '\n')
                    out.flush()
                    label = 'verify' if verify else f'round {round_no}'
                    log(f"{label}: {scenario:<5} {variant:<15} {r['seconds']:7.2f} s  "
                        f"{r['bytes'] / MiB / r['seconds']:8.1f} MiB/s  {r['files'] / r['seconds']:7.0f} files/s  CPU {r['cpu_s']:.2f} s")
    report(records, opts)


def main():
    p = argparse.ArgumentParser()
    sub = p.add_subparsers(dest='cmd', required=True)
    m = sub.add_parser('make-small')
    m.add_argument('dir')
    m.add_argument('count', type=int)
    m.add_argument('kib', type=int)
    r = sub.add_parser('run')
    r.add_argument('--root', required=True)
    r.add_argument('--large-dir', required=True)
    r.add_argument('--small-dir', required=True)
    r.add_argument('--bucket', default='bench')
    r.add_argument('--large-prefix', default='data/')
    r.add_argument('--small-prefix', default='small/')
    r.add_argument('--endpoint', required=True)
    r.add_argument('--rclone-remote', default='bench')
    r.add_argument('--server-pid-dir', required=True)
    r.add_argument('--work-dir', default=None)
    r.add_argument('--rounds', type=int, default=3)
    r.add_argument('--memory-budget-mib', type=int, default=256)
    r.add_argument('--small-count', type=int, default=20000)
    r.add_argument('--small-kib', type=int, default=16)
    r.add_argument('--no-s3fs', dest='s3fs', action='store_false', help='leave s3fs out (it takes minutes on the small files)')
    r.add_argument('--scenarios', default='large,small')
    r.add_argument('--results', required=True)
    a = p.parse_args()
    if a.cmd == 'make-small':
        make_small(a.dir, a.count, a.kib)
    else:
        a.scenarios = a.scenarios.split(',')
        run(a)


if __name__ == '__main__':
    main()
