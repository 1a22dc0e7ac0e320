"""Part `epochs`: how long a reader waits between epochs of `pipemode pipe`: from EOF of <ch>_N to
the first byte of <ch>_N+1 (the reader opens the next FIFO at once, as a training loop does).

usage: epoch_gap.py --root REPO --source SOURCE [--epochs N] [--label L] [--results FILE]
The reader reads 1 MiB at a time and hashes every epoch; all epochs must have the same sha256
(and, for a local folder, the sha256 of its files concatenated in key order). Prints the median gap
(min-max) in ms and appends one JSON line to FILE: {"label", "gaps_ms": [..], "median_ms", "epoch_s"}.
"""
import argparse
import hashlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time


def local_sha(folder):
    h = hashlib.sha256()
    paths = []
    for root, _, names in os.walk(folder):
        paths += [os.path.join(root, n) for n in names]
    # keys in S3 order: bytewise on the path below the folder
    for p in sorted(paths, key=lambda p: os.path.relpath(p, folder).encode()):
        with open(p, "rb") as f:
            while chunk := f.read(1 << 20):
                h.update(chunk)
    return h.hexdigest()


def main():
    a = argparse.ArgumentParser()
    a.add_argument("--root", required=True)
    a.add_argument("--source", required=True)
    a.add_argument("--epochs", type=int, default=4)
    a.add_argument("--label", default="")
    a.add_argument("--results")
    args = a.parse_args()
    with tempfile.TemporaryDirectory(prefix="pipemode-epochs-") as fifo_dir:
        writer = subprocess.Popen(["node", os.path.join(args.root, "bin", "pipemode.js"), "pipe", "--channel", f"train={args.source}",
                                   "--dir", fifo_dir, "--epochs", str(args.epochs), "-q"])
        gaps, shas, durations = [], [], []
        last_eof = None
        buf = bytearray(1 << 20)
        for epoch in range(args.epochs):
            path = os.path.join(fifo_dir, f"train_{epoch}")
            while not os.path.exists(path):
                if writer.poll() is not None:
                    sys.exit(f"pipemode pipe exited ({writer.returncode}) before epoch {epoch}")
                time.sleep(0.0005)
            h = hashlib.sha256()
            with open(path, "rb", buffering=0) as f:
                n = f.readinto(buf)
                first = time.monotonic()
                if last_eof is not None:
                    gaps.append((first - last_eof) * 1000)
                while n:
                    h.update(memoryview(buf)[:n])
                    n = f.readinto(buf)
                last_eof = time.monotonic()
            durations.append(last_eof - first)
            if os.path.exists(path + ".error"):
                sys.exit(f"epoch {epoch} failed: {open(path + '.error').read()}")
            shas.append(h.hexdigest())
        if writer.wait(timeout=60) != 0:
            sys.exit(f"pipemode pipe exited with {writer.returncode}")
    if len(set(shas)) != 1:
        sys.exit(f"epochs differ: {shas}")
    if os.path.isdir(args.source) and shas[0] != local_sha(args.source):
        sys.exit("the epochs' bytes are not the folder's")
    median = statistics.median(gaps)
    print(f"  {args.label:<44} between epochs {median:.1f} ms (min {min(gaps):.1f}, max {max(gaps):.1f}; {len(gaps)} gaps), "
          f"an epoch {statistics.median(durations):.2f} s, sha256 checked", flush=True)
    if args.results:
        with open(args.results, "a") as f:
            f.write(json.dumps({"label": args.label, "gaps_ms": [round(g, 1) for g in gaps], "median_ms": round(median, 1),
                                "epoch_s": round(statistics.median(durations), 3)}) + "\n")


main()
