"""Issue 17 goal 1: the first byte independent of channel size.

usage: first_byte.py --root REPO --bucket B --counts 10,30000[,100000] [--rounds 5] [--results FILE]
                     [--local-root DIR] [--no-s3]
       (objects under s3://B/fb-<count>/ and files in DIR/fb-<count>/, made by bench/run.sh part firstbyte)

1. `pipemode cat s3://B/fb-N/` (and `pipemode cat DIR/fb-N/`, the same files in a local folder)
   into a pipe: time from the process start to the reader's first byte,
   for each count, unshuffled (streams from the first listing page) and with --shuffle-seed (needs
   every key: the whole parallel listing first). Rounds are interleaved; medians, and each count's
   ratio against the 10-object (smallest) channel's median, with PASS/FAIL against 1.5x for the
   unshuffled channel. The path that ran (spliced, or through the prefetcher while the listing goes
   on) is read from cat's -v lines.
2. Listing time of the same prefixes, each a whole process: pipemode's listing (bench/list_prefix.mjs,
   parallel and serial) against `aws s3 ls --recursive` and `rclone lsf -R`; every tool must find
   N objects. Wall time of the process; for pipemode also the listing's own time.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import time


def cat_first_byte(root, uri, shuffle):
    cmd = ['node', os.path.join(root, 'bin', 'pipemode.js'), '-v', 'cat', uri] + (['--shuffle-seed', '7'] if shuffle else [])
    started = time.monotonic()
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    first = p.stdout.read(1)
    t = time.monotonic() - started
    p.stdout.close()  # the reader goes: cat ends its epoch early
    err = p.stderr.read().decode(errors='replace')
    p.wait()
    if not first:
        sys.exit(f'{uri}: no byte (exit {p.returncode}): {err[-2000:]}')
    if 'streams while the rest is listed' in err and 'spliced' in err:
        path = 'spliced, streamed while listing'
    elif 'streams while the rest is listed' in err:
        path = 'prefetcher, streamed while listing'
    elif 'spliced' in err:
        path = 'spliced, listed whole'
    else:
        path = 'prefetcher, listed whole'
    return t, path


def timed(cmd, env=None):
    started = time.monotonic()
    out = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, check=True).stdout.decode()
    return time.monotonic() - started, out


def main():
    p = argparse.ArgumentParser()
    p.add_argument('--root', required=True)
    p.add_argument('--bucket', default='bench')
    p.add_argument('--counts', default='10,30000')
    p.add_argument('--rounds', type=int, default=5)
    p.add_argument('--results')
    p.add_argument('--local-root', help='also the same channels as local folders DIR/fb-<count>/')
    p.add_argument('--no-s3', action='store_true', help='local folders only')
    a = p.parse_args()
    counts = [int(c) for c in a.counts.split(',')]
    base = min(counts)
    sources = {} if a.no_s3 else {'S3': lambda n: f's3://{a.bucket}/fb-{n}/'}
    if a.local_root:
        sources['local folder'] = lambda n: os.path.join(a.local_root, f'fb-{n}') + '/'
    fb = {(src, n, s): [] for src in sources for n in counts for s in (False, True)}
    paths = {}
    for r in range(a.rounds + 1):  # round 0 warms up (SDK files in the page cache), untimed
        order = counts[r % len(counts):] + counts[:r % len(counts)]
        for n in order:
            for src, uri in sources.items():
                for shuffle in (False, True):
                    t, path = cat_first_byte(a.root, uri(n), shuffle)
                    if r > 0:
                        fb[(src, n, shuffle)].append(t)
                        paths[(src, n, shuffle)] = path
    rows = []
    for src in sources:
        print(f'pipemode cat, {src}: time to the first byte (median of {a.rounds}), ratio against the {base}-object channel')
        for shuffle in (False, True):
            b = statistics.median(fb[(src, base, shuffle)])
            for n in counts:
                m = statistics.median(fb[(src, n, shuffle)])
                ratio = m / b
                verdict = '' if shuffle or n == base else ('  PASS (<= 1.5x)' if ratio <= 1.5 else '  FAIL (target <= 1.5x)')
                label = 'shuffled  ' if shuffle else 'unshuffled'
                print(f'  {label} {n:>7} objects  {m:6.3f} s  {ratio:5.2f}x  ({paths[(src, n, shuffle)]}; runs {[round(x, 3) for x in fb[(src, n, shuffle)]]}){verdict}', flush=True)
                rows.append({'part': 'firstbyte', 'source': src, 'objects': n, 'shuffled': shuffle, 'first_byte_s': fb[(src, n, shuffle)], 'median_s': m, 'ratio': ratio, 'path': paths[(src, n, shuffle)]})
    if not a.no_s3:
        rows += list_prefixes(a, counts)
    if a.results:
        with open(a.results, 'a') as f:
            for row in rows:
                f.write(json.dumps(row) + '\n')


def list_prefixes(a, counts):
    """The listing time of the S3 prefixes of 1,000 objects or more, pipemode against aws and rclone."""
    endpoint = os.environ['AWS_ENDPOINT_URL_S3']
    rows = []
    print(f'Listing a prefix, whole process (median of {a.rounds}; pipemode\'s own listing time in brackets)')
    aws_env = dict(os.environ)
    for n in counts:
        if n < 1000:
            continue
        uri = f's3://{a.bucket}/fb-{n}/'
        tools = {
            'pipemode (parallel)': ['node', os.path.join(a.root, 'bench', 'list_prefix.mjs'), uri],
            'pipemode (serial)': ['node', os.path.join(a.root, 'bench', 'list_prefix.mjs'), uri, '1'],
            'aws s3 ls --recursive': ['aws', 's3', 'ls', '--recursive', uri, '--endpoint-url', endpoint],
            'rclone lsf -R': ['env', '-u', 'AWS_CA_BUNDLE', 'rclone', 'lsf', '-R', '--files-only', f'bench:{a.bucket}/fb-{n}/'],
        }
        times = {k: [] for k in tools}
        inner = {k: [] for k in tools}
        for r in range(a.rounds):
            for name, cmd in tools.items():
                t, out = timed(cmd, aws_env)
                lines = out.strip().split('\n')
                if name.startswith('pipemode'):
                    found, requests, secs = lines[-1].split()
                    inner[name].append(float(secs))
                    found = int(found)
                else:
                    found = len([l for l in lines if l])
                if found != n:
                    sys.exit(f'{name} found {found} objects under {uri}, not {n}')
                times[name].append(t)
        base_t = statistics.median(times['pipemode (parallel)'])
        for name in tools:
            m = statistics.median(times[name])
            extra = f' [{statistics.median(inner[name]):.3f} s]' if inner[name] else ''
            print(f'  {n:>7} objects  {name:<22} {m:6.3f} s{extra}  {m / base_t:5.2f}x pipemode parallel', flush=True)
            rows.append({'part': 'listing', 'objects': n, 'tool': name, 'wall_s': times[name], 'median_s': m, 'own_s': inner[name]})
    return rows


main()
