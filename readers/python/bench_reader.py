#!/usr/bin/env python3
"""Records/s of pipemode's Python reader from a FIFO, against a plain ``readinto`` loop over the same FIFO.

For each record size (default 1 KiB and 100 KiB) it writes a data file of framed records (default
MXNet RecordIO, 256 MiB), then, round after round (interleaved, so drift hits every variant alike),
serves that file into a fresh FIFO with a writer process and reads it to EOF with:

  plain       a bare loop: ``f.readinto(1 MiB buffer)`` until EOF (no framing: the upper bound)
  reader      ``pipemode.read_records(f, FORMAT)``: one ``bytes`` object per record
  zero_copy   the same with ``copy=False``: a memoryview per record, no copy

Each run is timed from open() to EOF and must deliver every byte (plain) or every record (readers);
an untimed first round checks the sha256 of every record. Records/s for ``plain`` is the number of
records in the file over its time. Prints a table of medians, then ONE JSON line (the last line):
per size, the median records/s and MiB/s of each variant (and every run), ``ratio`` = reader / plain
and ``ratio_zero_copy``, and, for the 100 KiB size, ``pass`` against the target ratio 0.8.

Writer: ``cat DATA > FIFO`` by default; ``--writer 'CMD'`` runs CMD through /bin/sh with {fifo},
{data} (the data file) and {dir} (a folder holding only that file) substituted, e.g.
``--writer 'node bin/pipemode.js cat {dir}/ > {fifo}'``.

usage: bench_reader.py [--sizes 1024,102400] [--total-mib 256] [--rounds 5] [--format recordio|tfrecord|lines]
                       [--writer CMD] [--buffer-size BYTES] [--workdir DIR] [--keep]
"""
import argparse
import hashlib
import json
import os
import platform
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # the package next to this script, unless installed

import pipemode  # noqa: E402
from pipemode import formats  # noqa: E402

MIB = 1 << 20


def make_data(path, fmt, size, total):
    """Writes ~total bytes of records of `size` bytes; returns (records, bytes, sha256 of the record hashes)."""
    rng = random.Random(size)
    pool = rng.randbytes(4 * MIB + size)
    encode = {"recordio": pipemode.encode_recordio, "tfrecord": pipemode.encode_tfrecord,
              "lines": lambda p: p + b"\n"}[fmt]
    digest = hashlib.sha256()
    count = 0
    written = 0
    with open(path, "wb") as f:
        chunk = []
        while written < total:
            off = rng.randrange(0, 4 * MIB)
            payload = pool[off:off + size]
            if fmt == "lines":
                payload = payload.replace(b"\n", b" ")
            framed = encode(payload)
            chunk.append(framed)
            written += len(framed)
            digest.update(hashlib.sha256(payload).digest())
            count += 1
            if len(chunk) >= 256:
                f.write(b"".join(chunk))
                chunk = []
        f.write(b"".join(chunk))
    return count, written, digest.hexdigest()


def start_writer(template, fifo, data, folder):
    if template is None:
        return subprocess.Popen(f"exec cat {sh_quote(data)} > {sh_quote(fifo)}", shell=True)
    cmd = template.replace("{fifo}", sh_quote(fifo)).replace("{data}", sh_quote(data)).replace("{dir}", sh_quote(folder))
    return subprocess.Popen(cmd, shell=True)


def sh_quote(s):
    return "'" + s.replace("'", "'\\''") + "'"


def read_plain(f, buffer_size):
    buf = bytearray(buffer_size)
    total = 0
    readinto = f.readinto
    while True:
        n = readinto(buf)
        if not n:
            return 0, total
        total += n


def read_reader(f, fmt, buffer_size, copy):
    count = 0
    total = 0
    for r in formats.read_records(f, fmt, copy=copy, buffer_size=buffer_size, verify_data_crc=False):
        count += 1
        total += len(r)
    return count, total


def read_checked(f, fmt, buffer_size):
    digest = hashlib.sha256()
    count = 0
    verify = pipemode.CRC32C_IMPLEMENTATION != "python"  # the pure-Python CRC would take minutes
    for r in formats.read_records(f, fmt, buffer_size=buffer_size, verify_data_crc=verify):
        digest.update(hashlib.sha256(r).digest())
        count += 1
    return count, digest.hexdigest()


def one_run(variant, args, fifo, data, folder):
    os.mkfifo(fifo, 0o600)
    try:
        writer = start_writer(args.writer, fifo, data, folder)
        try:
            started = time.perf_counter()
            with open(fifo, "rb", buffering=0) as f:
                if variant == "plain":
                    result = read_plain(f, args.buffer_size)
                elif variant == "check":
                    result = read_checked(f, args.format, args.buffer_size)
                else:
                    result = read_reader(f, args.format, args.buffer_size, copy=(variant == "reader"))
            seconds = time.perf_counter() - started
        finally:
            code = writer.wait(120)
        if code != 0:
            raise SystemExit(f"bench_reader: the writer exited {code}")
        return seconds, result
    finally:
        os.unlink(fifo)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--sizes", default="1024,102400")
    p.add_argument("--total-mib", type=float, default=256)
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--format", default="recordio", choices=["recordio", "tfrecord", "lines"])
    p.add_argument("--writer", default=None)
    p.add_argument("--buffer-size", type=int, default=formats.DEFAULT_BUFFER_SIZE)
    p.add_argument("--workdir", default=None)
    p.add_argument("--keep", action="store_true", help="keep the data files")
    p.add_argument("--target", type=float, default=0.8)
    args = p.parse_args()

    work = args.workdir or tempfile.mkdtemp(prefix="pipemode-bench-py-")
    os.makedirs(work, exist_ok=True)
    results = []
    try:
        for size in [int(s) for s in args.sizes.split(",")]:
            folder = os.path.join(work, f"data-{args.format}-{size}")
            os.makedirs(folder, exist_ok=True)
            data = os.path.join(folder, "records.bin")
            count, nbytes, want = make_data(data, args.format, size, int(args.total_mib * MIB))
            fifo = os.path.join(work, "fifo")
            got_count, got = one_run("check", args, fifo, data, folder)[1]
            if (got_count, got) != (count, want):
                raise SystemExit(f"bench_reader: {size}-byte records: read {got_count} records (sha {got[:12]}), wrote {count} ({want[:12]})")
            runs = {"plain": [], "reader": [], "zero_copy": []}
            for _ in range(args.rounds):
                for variant in runs:
                    seconds, (n, total) = one_run(variant, args, fifo, data, folder)
                    if variant == "plain" and total != nbytes:
                        raise SystemExit(f"bench_reader: plain read {total} of {nbytes} bytes")
                    if variant != "plain" and n != count:
                        raise SystemExit(f"bench_reader: {variant} read {n} of {count} records")
                    runs[variant].append(seconds)
            entry = {"record_size": size, "records": count, "bytes": nbytes}
            for variant, times in runs.items():
                med = statistics.median(times)
                entry[variant] = {"records_per_s": round(count / med), "mib_per_s": round(nbytes / MIB / med, 1),
                                  "seconds": [round(t, 4) for t in times]}
            entry["ratio"] = round(entry["reader"]["records_per_s"] / entry["plain"]["records_per_s"], 3)
            entry["ratio_zero_copy"] = round(entry["zero_copy"]["records_per_s"] / entry["plain"]["records_per_s"], 3)
            if size >= 100 * 1024:
                entry["target"] = args.target
                entry["pass"] = entry["ratio"] >= args.target
            results.append(entry)
    finally:
        if not args.keep and not args.workdir:
            shutil.rmtree(work, ignore_errors=True)
    print(f"record size  plain readinto rec/s  pipemode reader rec/s  ratio  zero-copy rec/s  ratio  target (medians of {args.rounds})")
    for e in results:
        verdict = "" if "target" not in e else f"  {'PASS' if e['pass'] else 'FAIL'} (>= {e['target']}x)"
        print(f"{e['record_size']:>9} B  {e['plain']['records_per_s']:>20,}  {e['reader']['records_per_s']:>21,}  {e['ratio']:>5.2f}"
              f"  {e['zero_copy']['records_per_s']:>15,}  {e['ratio_zero_copy']:>5.2f}{verdict}")
    print(json.dumps({"bench": "python-reader", "format": args.format, "python": platform.python_version(),
                      "executable": sys.executable, "crc32c": pipemode.CRC32C_IMPLEMENTATION,
                      "writer": args.writer or "cat {data} > {fifo}", "buffer_size": args.buffer_size,
                      "rounds": args.rounds, "results": results}))


if __name__ == "__main__":
    main()
