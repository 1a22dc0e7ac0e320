"""Writes a small CSV dataset for the quick start: y = 3*x1 - 2*x2 + 0.5 + noise, in shards.

usage: make_data.py DIR [SHARDS] [ROWS_PER_SHARD]
"""
import os
import random
import sys

def main():
    out = sys.argv[1]
    shards = int(sys.argv[2]) if len(sys.argv) > 2 else 8
    rows = int(sys.argv[3]) if len(sys.argv) > 3 else 2000
    rng = random.Random(7)
    os.makedirs(out, exist_ok=True)
    for s in range(shards):
        with open(os.path.join(out, f"part-{s:03d}.csv"), "w") as f:
            for _ in range(rows):
                x1, x2 = rng.uniform(-1, 1), rng.uniform(-1, 1)
                y = 3 * x1 - 2 * x2 + 0.5 + rng.gauss(0, 0.05)
                f.write(f"{y:.6f},{x1:.6f},{x2:.6f}\n")

main()
