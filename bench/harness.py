#!/usr/bin/env python3
"""pipemode benchmark harness (bench/run.sh sets it up and calls it).

  harness.py prepare DATA_DIR SIZE_MIB    make DATA_DIR (random files of 32 MiB) once, plus DATA_DIR.json
                                          with the file list, total bytes and the sha256 of their concatenation
  harness.py prepare-gzip DATA_DIR SIZE_MIB
                                          the same for Gzip channels: text-like files of 32 MiB (inflated), each
                                          gzipped (level 6); DATA_DIR.json has the inflated bytes and their sha256
  harness.py run DATA_DIR [options]       benchmark; a table on stdout, one JSON line per run in --results

Every run pairs one writer with bench/fiforead (the reader, a C program reading 1 MiB per read()) through
either a fresh FIFO (the reader opens it, the harness opens the write end and hands it to the writer as
stdout, as `writer > FIFO` would) or an anonymous pipe (as `writer | reader` would). Throughput is what the
reader measured, from open() returning to EOF, so it includes the writer's start-up. Writer CPU time and peak
RSS come from wait4(). Every run's byte count is checked; an untimed round before the timed ones reads each
variant's stream in this process and compares its sha256 with that of the files themselves.

Rounds are interleaved (every variant once, then again, ...) so machine drift hits all variants alike, and
each pair's order alternates between rounds. Ratios are medians of the same invocation divided.
"""
import argparse
import hashlib
import json
import re
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time

FILE_MIB = 32
READ_SIZE = 1 << 20
MiB = 1 << 20
GiB = 1 << 30
CLOCK_TICK = os.sysconf('SC_CLK_TCK')


# ---------------------------------------------------------------- data

def manifest_path(data_dir):
    return data_dir.rstrip('/') + '.json'


def kept_manifest(data_dir, complete):
    """The data set made by an earlier invocation, if its manifest says `complete` of it; else None."""
    try:
        with open(manifest_path(data_dir)) as f:
            manifest = json.load(f)
        return manifest if complete(manifest) else None
    except (OSError, ValueError, KeyError):
        return None


def empty_folder(path):
    os.makedirs(path, exist_ok=True)
    for name in os.listdir(path):
        os.unlink(os.path.join(path, name))


def prepare(data_dir, size_mib):
    """Random files totalling size_mib MiB; kept between invocations (DATA_DIR.json marks them complete)."""
    manifest = kept_manifest(data_dir, lambda m: m['bytes'] == size_mib * MiB == sum(os.path.getsize(p) for p in m['files']))
    if manifest is not None:
        return manifest
    log(f'generating {size_mib} MiB of random data in {data_dir}')
    empty_folder(data_dir)
    files, digest, left, index = [], hashlib.sha256(), size_mib * MiB, 0
    while left > 0:
        path = os.path.join(data_dir, f'part-{index:05d}.bin')
        size = min(left, FILE_MIB * MiB)
        with open(path, 'wb') as f:
            for offset in range(0, size, 4 * MiB):
                chunk = os.urandom(min(4 * MiB, size - offset))
                f.write(chunk)
                digest.update(chunk)
        files.append(path)
        left -= size
        index += 1
    manifest = {'files': files, 'bytes': size_mib * MiB, 'sha256': digest.hexdigest()}
    with open(manifest_path(data_dir), 'w') as f:
        json.dump(manifest, f)
    return manifest


def prepare_gzip(data_dir, size_mib):
    """Gzip files whose contents are CSV-like text (digits and words, about 1.9:1 at level 6), size_mib MiB inflated."""
    import gzip
    import random
    manifest = kept_manifest(data_dir, lambda m: m['bytes'] == size_mib * MiB and m.get('gzip') and all(os.path.exists(p) for p in m['files']))
    if manifest is not None:
        return manifest
    log(f'generating {size_mib} MiB (inflated) of gzip files in {data_dir}')
    empty_folder(data_dir)
    rnd = random.Random(17)
    words = [''.join(rnd.choice('abcdefghijklmnopqrstuvwxyz') for _ in range(rnd.randint(2, 9))) for _ in range(5000)]
    files, digest, left, index = [], hashlib.sha256(), size_mib * MiB, 0
    while left > 0:
        size = min(left, FILE_MIB * MiB)
        lines, total = [], 0
        while total < size:
            line = f"{rnd.randint(0, 10**9)},{rnd.random():.6f},{' '.join(rnd.choices(words, k=8))}\n"
            lines.append(line)
            total += len(line)
        data = ''.join(lines).encode()[:size]
        path = os.path.join(data_dir, f'part-{index:05d}.csv.gz')
        with open(path, 'wb') as f:
            f.write(gzip.compress(data, 6))
        digest.update(data)
        files.append(path)
        left -= size
        index += 1
    manifest = {'files': files, 'bytes': size_mib * MiB, 'sha256': digest.hexdigest(), 'gzip': True}
    with open(manifest_path(data_dir), 'w') as f:
        json.dump(manifest, f)
    return manifest


def warm_page_cache(files):
    for path in files:
        with open(path, 'rb', buffering=0) as f:
            while f.read(8 * MiB):
                pass


# ---------------------------------------------------------------- variants

def variants(opts, manifest):
    """Pairs of (pipemode, baseline) writers; 'argv' writes the whole channel to stdout."""
    pipemode = ['node', os.path.join(opts.root, 'bin', 'pipemode.js'), 'cat']
    budget = ['--memory-budget', f'{opts.memory_budget_mib}MiB']
    local_dir = opts.data_dir.rstrip('/') + '/'
    out = []

    def pair(group, transport, ours, theirs, their_label, their_env=None):
        out.append(dict(name=f'{group}: pipemode cat', group=group, role='pipemode', transport=transport,
                        argv=pipemode + [ours] + budget, env=None))
        out.append(dict(name=f'{group}: {their_label}', group=group, role='baseline', transport=transport,
                        argv=theirs, env=their_env))

    if opts.objects:
        return small_object_variants(opts, pipemode + budget)
    if opts.gzip:
        # a Gzip channel: pipemode inflates several objects at once; gzip -dc one file after the other
        pair('local FIFO gzip', 'fifo', local_dir, ['gzip', '-dc'] + manifest['files'], 'gzip -dc FILES')
        out[0]['argv'] = pipemode + [local_dir, '--compression', 'gzip'] + budget
        return out
    pair('local FIFO', 'fifo', local_dir, ['cat'] + manifest['files'], 'cat FILES')
    # the same, forced through the read/write (prefetcher) path instead of splice(2): informational
    out.append(dict(name='local FIFO: pipemode cat --no-zero-copy', group='local FIFO', role='pipemode-alt', transport='fifo',
                    argv=pipemode + [local_dir, '--no-zero-copy'] + budget, env=None))
    pair('local pipe', 'pipe', local_dir, ['cat'] + manifest['files'], 'cat FILES')
    if opts.s3_url:
        rclone_env = {k: v for k, v in os.environ.items() if k != 'AWS_CA_BUNDLE'}  # rclone 1.60 trips over it
        pair('S3 FIFO', 'fifo', opts.s3_url, ['rclone', 'cat', opts.rclone_path], 'rclone cat', rclone_env)
        # the copying path (socket → JS buffers → pipe) on the same store: what the splice saves
        out.append(dict(name='S3 FIFO: pipemode cat, copying path', group='S3 FIFO', role='pipemode-alt', transport='fifo',
                        argv=pipemode + [opts.s3_url] + budget, env={**os.environ, 'PIPEMODE_SPLICE_HTTP': '0'}))
        # the default parts before 16 MiB: twice the requests for the same bytes (the server's cost is mostly per request)
        out.append(dict(name='S3 FIFO: pipemode cat --part-size 8MiB', group='S3 FIFO', role='pipemode-alt', transport='fifo',
                        argv=pipemode + [opts.s3_url, '--part-size', '8MiB'] + budget, env=None))
    if opts.s3_url and opts.tls_endpoint:
        # the same store behind a TLS proxy (bench/tls-proxy.mjs, throw-away certificate): the copying path
        ours_env = {**os.environ, 'AWS_ENDPOINT_URL_S3': opts.tls_endpoint, 'NODE_EXTRA_CA_CERTS': opts.tls_ca}
        theirs_env = {**rclone_env, 'RCLONE_CONFIG_BENCH_ENDPOINT': opts.tls_endpoint}
        out.append(dict(name='S3 HTTPS FIFO: pipemode cat', group='S3 HTTPS FIFO', role='pipemode', transport='fifo',
                        argv=pipemode + [opts.s3_url] + budget, env=ours_env))
        out.append(dict(name='S3 HTTPS FIFO: rclone cat', group='S3 HTTPS FIFO', role='baseline', transport='fifo',
                        argv=['rclone', 'cat', '--ca-cert', opts.tls_ca, opts.rclone_path], env=theirs_env))
        # the same through node:https instead of the lean client over tls.connect: informational
        out.append(dict(name='S3 HTTPS FIFO: pipemode cat, node:https', group='S3 HTTPS FIFO', role='pipemode-alt', transport='fifo',
                        argv=pipemode + [opts.s3_url] + budget, env={**ours_env, 'PIPEMODE_NODE_HTTPS': '1'}))
    return out


def small_object_variants(opts, pipemode):
    """Many small objects from S3 into a FIFO: pipemode against rclone cat and against rclone copy
    --transfers 32 into a temporary folder followed by cat of the files in name order."""
    rclone_env = {k: v for k, v in os.environ.items() if k != 'AWS_CA_BUNDLE'}  # rclone 1.60 trips over it
    group = 'S3 small objects FIFO'
    copy_then_cat = ('d=$(mktemp -d) && rclone copy --transfers 32 --checkers 32 "$0" "$d" && '
                     'find "$d" -type f | sort | xargs cat; rc=$?; rm -rf "$d"; exit $rc')
    return [
        dict(name=f'{group}: pipemode cat', group=group, role='pipemode', transport='fifo',
             argv=pipemode[:3] + [opts.s3_url] + pipemode[3:], env=None),
        dict(name=f'{group}: pipemode cat, copying path', group=group, role='pipemode-alt', transport='fifo',
             argv=pipemode[:3] + [opts.s3_url] + pipemode[3:], env={**os.environ, 'PIPEMODE_SPLICE_HTTP': '0'}),
        dict(name=f'{group}: rclone cat', group=group, role='baseline', transport='fifo',
             argv=['rclone', 'cat', opts.rclone_path], env=rclone_env),
        dict(name=f'{group}: rclone copy --transfers 32 + cat', group=group, role='baseline-alt', transport='fifo',
             argv=['sh', '-c', copy_then_cat, opts.rclone_path], env=rclone_env),
    ]


# ---------------------------------------------------------------- processes

def log(msg):
    print(f'bench: {msg}', file=sys.stderr, flush=True)


def machine_busy_secs():
    fields = list(map(int, open('/proc/stat').readline().split()[1:9]))
    return (sum(fields) - fields[3] - fields[4]) / CLOCK_TICK


def process_cpu_secs(pids):
    total = 0
    for pid in pids:
        try:
            stat = open(f'/proc/{pid}/stat').read()
        except OSError:
            continue
        fields = stat[stat.rindex(')') + 2:].split()
        total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / CLOCK_TICK


def server_pids(pid_dir):
    if not pid_dir or not os.path.isdir(pid_dir):
        return []
    return [open(os.path.join(pid_dir, n)).read().strip() for n in sorted(os.listdir(pid_dir)) if n.endswith('.pid')]


def reap(proc):
    """wait4() the process: (exit code, CPU seconds, peak RSS MiB)."""
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    return proc.returncode, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024


def open_fifo_for_writing(fifo, reader, deadline):
    """Non-blocking open (ENXIO until the reader has opened its end), then back to a blocking fd."""
    while True:
        try:
            fd = os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)
            os.set_blocking(fd, True)
            return fd
        except OSError as err:
            if err.errno != 6 or reader.poll() is not None or time.monotonic() > deadline:  # 6 = ENXIO
                raise
            time.sleep(0.001)


def start_writer(variant, stdout, err_file):
    env = dict(variant['env'] if variant['env'] is not None else os.environ, PIPEMODE_REPORT_PATH='1')
    return subprocess.Popen(variant['argv'], stdout=stdout, stderr=err_file, stdin=subprocess.DEVNULL, env=env)


def kill_after(timeout, procs):
    def kill():
        for p in procs:
            if p.returncode is None:
                try:
                    p.kill()
                except OSError:
                    pass
    timer = threading.Timer(timeout, kill)
    timer.daemon = True
    timer.start()
    return timer


def timed_run(variant, opts, err_file):
    """One writer → fiforead run; returns the reader's JSON plus the writer's rusage."""
    fifo = os.path.join(opts.work_dir, 'channel.fifo')
    if variant['transport'] == 'fifo':
        os.mkfifo(fifo)
        reader = subprocess.Popen([opts.reader, fifo], stdout=subprocess.PIPE)
        try:
            wfd = open_fifo_for_writing(fifo, reader, time.monotonic() + 30)
        except OSError:
            reader.kill()
            raise
        finally:
            os.unlink(fifo)
        writer = start_writer(variant, wfd, err_file)
        os.close(wfd)
    else:
        rfd, wfd = os.pipe()
        reader = subprocess.Popen([opts.reader, '-'], stdin=rfd, stdout=subprocess.PIPE)
        writer = start_writer(variant, wfd, err_file)
        os.close(rfd)
        os.close(wfd)
    timer = kill_after(opts.timeout, [writer, reader])
    w_rc, w_cpu, w_rss = reap(writer)
    r_rc, r_cpu, _ = reap(reader)
    timer.cancel()
    line = reader.stdout.read().decode(errors='replace').strip()
    reader.stdout.close()
    result = json.loads(line) if line.startswith('{') else {'bytes': 0, 'MiBps': 0.0}
    result.update(writer_rc=w_rc, writer_cpu=w_cpu, writer_rss_MiB=w_rss, reader_rc=r_rc, reader_cpu=r_cpu)
    return result


def verify_run(variant, opts, err_file):
    """The same wiring, but this process reads (1 MiB reads) and hashes the stream. Not timed."""
    fifo = os.path.join(opts.work_dir, 'channel.fifo')
    if variant['transport'] == 'fifo':
        os.mkfifo(fifo)
        rfd = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)
        wfd = os.open(fifo, os.O_WRONLY)
        os.unlink(fifo)
        os.set_blocking(rfd, True)
    else:
        rfd, wfd = os.pipe()
    writer = start_writer(variant, wfd, err_file)
    os.close(wfd)
    timer = kill_after(opts.timeout, [writer])
    digest, total, buf = hashlib.sha256(), 0, bytearray(READ_SIZE)
    view = memoryview(buf)
    with os.fdopen(rfd, 'rb', buffering=0) as stream:
        while n := stream.readinto(view):
            digest.update(view[:n])
            total += n
    w_rc, w_cpu, w_rss = reap(writer)
    timer.cancel()
    return {'bytes': total, 'sha256': digest.hexdigest(), 'writer_rc': w_rc, 'writer_cpu': w_cpu,
            'writer_rss_MiB': w_rss}


def run_one(variant, round_no, opts, manifest):
    verify = round_no == 0
    pids = server_pids(opts.server_pid_dir) if variant['group'].startswith('S3') else []
    err_path = os.path.join(opts.work_dir, 'writer.err')
    busy0, server0, t0 = machine_busy_secs(), process_cpu_secs(pids), time.monotonic()
    with open(err_path, 'w+b') as err_file:
        result = (verify_run if verify else timed_run)(variant, opts, err_file)
        err_file.seek(0)
        err_all = err_file.read().decode(errors='replace')
        err_tail = err_all[-800:]
        paths = [line.split('path: ', 1)[1] for line in err_all.splitlines() if line.startswith('pipemode: path: ')]
    server_cpu = process_cpu_secs(pids) - server0 if pids else None
    ours = result['writer_cpu'] + result.get('reader_cpu', 0) + (server_cpu or 0)
    problems = []
    if result['bytes'] != manifest['bytes']:
        problems.append(f"{result['bytes']} bytes, expected {manifest['bytes']}")
    if verify and result['sha256'] != manifest['sha256']:
        problems.append('sha256 differs from the files\'')
    if result['writer_rc'] != 0 or result.get('reader_rc', 0) != 0:
        problems.append(f"exit codes writer {result['writer_rc']} reader {result.get('reader_rc', '-')}")
    record = {'variant': variant['name'], 'group': variant['group'], 'role': variant['role'],
              'transport': variant['transport'], 'round': round_no, 'kind': 'verify' if verify else 'timed',
              'ok': not problems, 'problems': problems, 'expected_bytes': manifest['bytes'], **result,
              'wall_secs': time.monotonic() - t0, 'server_cpu': server_cpu, 'path': paths[-1] if paths else None,
              'others_cpu': max(0.0, machine_busy_secs() - busy0 - ours),
              'machine_busy_cpu': machine_busy_secs() - busy0,
              'argv': variant['argv'], 'ts': time.strftime('%Y-%m-%dT%H:%M:%S')}
    if problems:
        record['writer_stderr_tail'] = err_tail
    return record


# ---------------------------------------------------------------- report

def fmt(x, digits=0):
    return '-' if x is None else f'{x:.{digits}f}'


def summarize(variant, records):
    mine = [r for r in records if r['variant'] == variant['name']]
    timed = [r for r in mine if r['kind'] == 'timed' and r['ok']]
    gib = lambda r: r['bytes'] / GiB
    s = {'name': variant['name'], 'role': variant['role'], 'group': variant['group'],
         'ok_runs': sum(r['ok'] for r in mine), 'runs': len(mine), 'median': None}
    if timed:
        rates = [r['MiBps'] for r in timed]
        s.update(median=statistics.median(rates), min=min(rates), max=max(rates),
                 cpu_per_gib=statistics.median(r['writer_cpu'] / gib(r) for r in timed),
                 peak_rss=max(r['writer_rss_MiB'] for r in mine),
                 first_byte_ms=statistics.median(r['first_byte_secs'] * 1000 for r in timed),
                 after_first_byte=statistics.median(r['bytes'] / MiB / (r['secs'] - r['first_byte_secs']) for r in timed),
                 pipe_kib=statistics.median(r['pipe_bytes'] / 1024 for r in timed))
        servers = [r['server_cpu'] / gib(r) for r in timed if r['server_cpu'] is not None]
        s['server_cpu_per_gib'] = statistics.median(servers) if servers else None
        busy = [r['machine_busy_cpu'] / r['wall_secs'] / os.cpu_count() * 100 for r in timed if 'machine_busy_cpu' in r]
        s['machine_busy_pct'] = statistics.median(busy) if busy else None
    return s


def table(rows):
    header = ['variant', 'MiB/s median (min–max)', 'ratio vs baseline', 'writer CPU s/GiB',
              'writer peak RSS MiB', 'first byte ms', 'MiB/s after 1st byte', 'pipe KiB', 'runs ok']
    widths = [len(h) for h in header]
    for row in rows:
        widths = [max(w, len(c)) for w, c in zip(widths, row)]
    line = lambda cells: ' | '.join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(cells, widths)))
    out = [line(header), '-+-'.join('-' * w for w in widths)]
    out += [line(row) for row in rows]
    return '\n'.join(out)


def report(opts, manifest, vs, records):
    sums = [summarize(v, records) for v in vs]
    baseline = {s['group']: s for s in sums if s['role'] == 'baseline'}
    rows, ratios = [], {}
    for s in sums:
        base = baseline[s['group']]
        if s['role'] == 'baseline':
            ratio = 'baseline'
        elif s['median'] and base['median']:
            ratio_value = s['median'] / base['median']
            if s['role'] == 'pipemode':
                ratios[s['group']] = ratio_value  # targets apply to the default path
            ratio = f"{ratio_value:.2f}x"
        else:
            ratio = '-'
        rate = f"{s['median']:.0f} ({s['min']:.0f}–{s['max']:.0f})" if s['median'] else 'no valid run'
        rows.append([s['name'], rate, ratio, fmt(s.get('cpu_per_gib'), 2), fmt(s.get('peak_rss')),
                     fmt(s.get('first_byte_ms')), fmt(s.get('after_first_byte')), fmt(s.get('pipe_kib')),
                     f"{s['ok_runs']}/{s['runs']}"])
    print(f"pipemode bench: {manifest['bytes'] // MiB} MiB in {len(manifest['files'])} files, "
          f"{opts.rounds} timed round(s) + 1 untimed sha256 round, reader bench/fiforead (1 MiB reads), "
          f"pipemode --memory-budget {opts.memory_budget_mib}MiB")
    print(table(rows))
    if opts.objects:
        print_objects(manifest, sums)
    server = [s for s in sums if s.get('server_cpu_per_gib') is not None]
    if server:
        print('RGW+OSD+mon CPU s/GiB (median): ' +
              ', '.join(f"{s['name']} {s['server_cpu_per_gib']:.2f}" for s in server))
        # near 100 % the run is bound by the machine's CPUs (the store's above all), not by waiting
        print(f'all {os.cpu_count()} CPUs busy (median share, every process): ' +
              ', '.join(f"{s['name']} {s['machine_busy_pct']:.0f}%" for s in server if s.get('machine_busy_pct') is not None))
    for v in vs:
        ran = sorted({r['path'] for r in records if r['variant'] == v['name'] and r.get('path')})
        if ran:
            print(f"path of {v['name']}: " + ' | '.join(ran))
    print_noise(records)
    print()
    print_targets(opts, sums, ratios)


def print_objects(manifest, sums):
    """The small-objects rows in objects/s and CPU-s per 1,000 objects, with both baselines' ratios."""
    count = len(manifest['files'])
    per_object = manifest['bytes'] / count
    base = {s['role']: s for s in sums if s['role'].startswith('baseline')}
    print(f'{count} objects of {per_object / 1024:.0f} KiB:')
    for s in sums:
        if not s['median']:
            continue
        rate = s['median'] * MiB / per_object
        cpu = s['cpu_per_gib'] * manifest['bytes'] / GiB / count * 1000
        vs = ', '.join(f"{s['median'] / b['median']:.2f}x {b['name'].split(': ', 1)[1]}"
                       for role, b in sorted(base.items()) if b is not s and b['median'])
        print(f"  {s['name']}: {rate:.0f} objects/s, {cpu:.3f} writer CPU-s per 1,000 objects" + (f' ({vs})' if vs else ''))


def print_noise(records):
    """Share of the machine's CPUs used by processes outside the run (and outside the S3 server)."""
    shares = [r['others_cpu'] / r['wall_secs'] / os.cpu_count() * 100 for r in records if r['kind'] == 'timed']
    if not shares:
        return
    disturbed = sum(share > 10 for share in shares)
    print(f'other processes used a median {statistics.median(shares):.0f}% (max {max(shares):.0f}%) of the '
          f'{os.cpu_count()} CPUs during the timed runs; {disturbed}/{len(shares)} runs above 10%'
          + (' (disturbed: rerun on a quiet machine)' if disturbed > len(shares) // 4 else ''))


def print_targets(opts, sums, ratios):
    wanted = {'local FIFO': 1.5, 'local FIFO gzip': 1.5, 'local pipe': 1.5, 'S3 FIFO': 1.0, 'S3 HTTPS FIFO': 1.0, 'S3 small objects FIFO': 1.5}
    by_group = {}
    for s in sums:
        by_group.setdefault(s['group'], []).append(s)
    results = []
    for group, target in wanted.items():
        if group not in by_group:
            continue
        bad = sum(s['runs'] - s['ok_runs'] for s in by_group[group])
        ratio = ratios.get(group)
        ok = ratio is not None and ratio >= target and bad == 0
        what = f'{ratio:.2f}x' if ratio is not None else 'no ratio'
        note = f', {bad} run(s) failed verification' if bad else ''
        results.append((ok, f'{group}: pipemode ≥ {target:.1f}× baseline: {what}{note}'))
    alt = {s['group']: s for s in sums if s['role'] == 'baseline-alt' and s['median']}
    for s in sums:
        if s['role'] == 'pipemode' and s['median'] and s['group'] in alt:
            ratio = s['median'] / alt[s['group']]['median']
            results.append((ratio >= 1.2, f"{s['group']}: pipemode ≥ 1.2× {alt[s['group']]['name'].split(': ', 1)[1]}: {ratio:.2f}x"))
    limit = 128 + opts.memory_budget_mib
    ours = [s for s in sums if s['role'].startswith('pipemode') and s.get('peak_rss') is not None]
    if ours:
        worst = max(ours, key=lambda s: s['peak_rss'])
        results.append((worst['peak_rss'] <= limit,
                        f"pipemode peak RSS ≤ 128 MiB + budget = {limit} MiB: {worst['peak_rss']:.0f} MiB ({worst['name']})"))
    bad_total = sum(s['runs'] - s['ok_runs'] for s in sums)
    results.append((bad_total == 0, f'every run delivered the exact bytes (sha256 checked once per variant): '
                                    f'{bad_total} bad run(s)'))
    for ok, text in results:
        print(f"{'PASS' if ok else 'FAIL'}  {text}")
    print(f"{sum(ok for ok, _ in results)}/{len(results)} targets met")


# ---------------------------------------------------------------- main

def run(opts):
    with open(manifest_path(opts.data_dir)) as f:
        manifest = json.load(f)
    vs = variants(opts, manifest)
    if opts.only:
        vs = [v for v in vs if re.search(opts.only, v['name'])]
    log(f'warming the page cache ({manifest["bytes"] // MiB} MiB)')
    warm_page_cache(manifest['files'])
    records = []
    with open(opts.results, 'w') as out:
        for round_no in range(opts.rounds + 1):
            order = vs if round_no % 2 == 0 else list(reversed(vs))  # alternate who goes first
            for variant in order:
                record = run_one(variant, round_no, opts, manifest)
                records.append(record)
                out.write(json.dumps(record) + '\n')
                out.flush()
                rate = f"{record['MiBps']:.0f} MiB/s" if 'MiBps' in record else 'sha256 ' + record['sha256'][:12]
                status = 'ok' if record['ok'] else 'BAD: ' + '; '.join(record['problems'])
                log(f"round {round_no}{' (verify)' if round_no == 0 else ''} {variant['name']}: {rate} {status}")
    report(opts, manifest, vs, records)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest='cmd', required=True)
    p = sub.add_parser('prepare')
    p.add_argument('data_dir')
    p.add_argument('size_mib', type=int)
    g = sub.add_parser('prepare-gzip')
    g.add_argument('data_dir')
    g.add_argument('size_mib', type=int)
    r = sub.add_parser('run')
    r.add_argument('data_dir')
    r.add_argument('--root', required=True, help='the pipemode checkout (bin/pipemode.js)')
    r.add_argument('--reader', required=True, help='the compiled fiforead')
    r.add_argument('--results', required=True, help='JSON lines file, one line per run (overwritten)')
    r.add_argument('--rounds', type=int, default=5)
    r.add_argument('--memory-budget-mib', type=int, default=128)
    r.add_argument('--s3-url', help='s3://bucket/prefix/ holding the same files (omit to skip S3)')
    r.add_argument('--rclone-path', help='the same prefix as an rclone path, e.g. bench:bucket/prefix/')
    r.add_argument('--server-pid-dir', help='directory of the S3 server\'s *.pid files (for its CPU time)')
    r.add_argument('--tls-endpoint', help='https:// URL of a TLS proxy in front of the same S3 server (HTTPS rows)')
    r.add_argument('--tls-ca', help='the proxy\'s certificate (PEM), trusted by both clients')
    r.add_argument('--objects', action='store_true',
                   help='DATA_DIR is a folder of many small objects (also at --s3-url): the small-objects rows only')
    r.add_argument('--gzip', action='store_true',
                   help='DATA_DIR holds gzip files (prepare-gzip): the Gzip channel rows only')
    r.add_argument('--only', help='run only the variants whose name matches this regular expression')
    r.add_argument('--timeout', type=float, default=300, help='seconds per run before the processes are killed')
    opts = parser.parse_args()
    if opts.cmd == 'prepare':
        prepare(opts.data_dir, opts.size_mib)
        return
    if opts.cmd == 'prepare-gzip':
        prepare_gzip(opts.data_dir, opts.size_mib)
        return
    with tempfile.TemporaryDirectory(prefix='pipemode-bench-') as work_dir:
        opts.work_dir = work_dir
        run(opts)


if __name__ == '__main__':
    main()
