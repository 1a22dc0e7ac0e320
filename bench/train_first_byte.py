"""Time from `pipemode train` starting to the training process's first byte of data, Pipe vs File
mode, for the same channel (issue #4: Pipe must stay under 0.5 s whatever the channel's size;
File mode has to download the whole channel first).

usage: train_first_byte.py --root REPO --source SOURCE [--label L] [--rounds N] [--results FILE]
It writes a CreateTrainingJob request per round and mode into a temp dir, runs
`node bin/pipemode.js train`, and reads the time the trainer recorded for its first byte. Prints
one line per mode (with PASS/FAIL for Pipe's 0.5 s target) and appends one JSON line per mode to
FILE: {"label", "mode", "first_byte_s": [..], "median_s", "job_s": [..]}.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

# the trainer: note the time of the first byte of channel "train", then stop reading
TRAINER = r'''
import os, sys, time
path = os.environ["SM_CHANNEL_TRAIN"]
if os.path.isdir(path):
    first = None
    for root, _, names in sorted(os.walk(path)):
        for n in sorted(names):
            with open(os.path.join(root, n), "rb") as f:
                if f.read(1):
                    first = time.time()
                    break
        if first: break
else:
    fifo = path + "_0"
    while not os.path.exists(fifo):
        time.sleep(0.001)
    with open(fifo, "rb", buffering=0) as f:
        f.read(1)
        first = time.time()
open(sys.argv[1], "w").write(repr(first))
'''


def run(root, source, mode, work, n):
    name = f"fb-{mode.lower()}-{n}"
    stamp = os.path.join(work, name + ".t")
    trainer = os.path.join(work, "trainer.py")
    with open(trainer, "w") as f:
        f.write(TRAINER)
    job = {
        "TrainingJobName": name,
        "AlgorithmSpecification": {"TrainingInputMode": mode, "ContainerEntrypoint": [sys.executable, trainer, stamp]},
        "InputDataConfig": [{"ChannelName": "train", "DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": source}}}],
        "OutputDataConfig": {"S3OutputPath": os.path.join(work, "out")},
    }
    job_file = os.path.join(work, name + ".json")
    with open(job_file, "w") as f:
        json.dump(job, f)
    # the previous run's File-mode copies are still being written back: let the disk settle first
    os.sync()
    time.sleep(1)
    started = time.time()
    subprocess.run(["node", os.path.join(root, "bin", "pipemode.js"), "train", job_file, "--jobs-dir", os.path.join(work, "jobs"), "-q"], check=True)
    ended = time.time()
    with open(stamp) as f:
        first = float(f.read())
    subprocess.run(["rm", "-rf", os.path.join(work, "jobs", name)], check=True)  # File mode copies: free the disk
    return first - started, ended - started


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--root", required=True)
    p.add_argument("--source", required=True)
    p.add_argument("--label", default="")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--results")
    p.add_argument("--modes", default="Pipe,File", help="comma-separated: Pipe, File")
    a = p.parse_args()
    modes = [m for m in ("Pipe", "File") if m in a.modes.split(",")]
    with tempfile.TemporaryDirectory(prefix="pipemode-fb-") as work:
        results = {m: [] for m in modes}
        for n in range(a.rounds):
            for mode in modes:
                results[mode].append(run(a.root, a.source, mode, work, n))
        for mode, runs in results.items():
            fb = [r[0] for r in runs]
            row = {"label": a.label, "mode": mode, "first_byte_s": [round(x, 3) for x in fb],
                   "median_s": round(statistics.median(fb), 3), "job_s": [round(r[1], 3) for r in runs]}
            if a.results:
                with open(a.results, "a") as f:
                    f.write(json.dumps(row) + "\n")
            verdict = "" if mode != "Pipe" else ("  PASS (< 0.5 s)" if row["median_s"] < 0.5 else "  FAIL (target < 0.5 s)")
            print(f"  {a.label:<44} {mode:<5} first byte {row['median_s']:.3f} s (runs {row['first_byte_s']}){verdict}", flush=True)


main()
