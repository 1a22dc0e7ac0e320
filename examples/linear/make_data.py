"""Writes a small CSV dataset for the quick start: y = 3*x1 - 2*x2 + 0.5 + noise, in shards.

usage: make_data.py DIR [SHARDS] [ROWS_PER_SHARD] [--holdout]
--holdout writes unseen rows of features only ("x1,x2"), for batch transform, from another seed.
"""
import os
import random
import sys

def main():
    holdout = "--holdout" in sys.argv
    args = [a for a in sys.argv[1:] if a != "--holdout"]
    out = args[0]
    shards = int(args[1]) if len(args) > 1 else 8
    rows = int(args[2]) if len(args) > 2 else 2000
    rng = random.Random(11 if holdout else 7)
    os.makedirs(out, exist_ok=True)
    for s in range(shards):
        with open(os.path.join(out, f"part-{s:03d}.csv"), "w") as f:
            for _ in range(rows):
                x1, x2 = rng.uniform(-1, 1), rng.uniform(-1, 1)
                y = 3 * x1 - 2 * x2 + 0.5 + rng.gauss(0, 0.05)
                f.write(f"{x1:.6f},{x2:.6f}\n" if holdout else f"{y:.6f},{x1:.6f},{x2:.6f}\n")

main()
