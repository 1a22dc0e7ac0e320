"""A training process for the end-to-end tests (test/integration/python-reader.test.ts): reads a
channel with pipemode's Python reader, epoch after epoch, and prints one JSON line per epoch:
{"epoch": N, "mode": "Pipe"|"File"|"FastFile", "records": [sha256 of each record, in the order read]}.

usage: channel_digest.py BASE_DIR CHANNEL FORMAT EPOCHS [--torch-workers W] [--timeout S] [--slow]
With --torch-workers W the records come through pipemode.torch.ChannelDataset and a torch
DataLoader with W worker processes (0 = the main process). With --slow it prints {"started": true}
after the first record and then takes 50 ms per record; an epoch that pipemode reports incomplete
(the .error marker) prints {"epoch": N, "error": CODE, "message": ..., "records": [...]} and ends.
"""
import argparse
import hashlib
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # this source tree's pipemode

import pipemode  # noqa: E402


def digest(record):
    return hashlib.sha256(record).hexdigest()


def main():
    p = argparse.ArgumentParser()
    p.add_argument("base_dir")
    p.add_argument("channel")
    p.add_argument("format")
    p.add_argument("epochs", type=int)
    p.add_argument("--torch-workers", type=int, default=None)
    p.add_argument("--timeout", type=float, default=60)
    p.add_argument("--slow", action="store_true")
    args = p.parse_args()
    if args.torch_workers is None:
        reader = pipemode.ChannelReader(args.channel, args.format, base_dir=args.base_dir, timeout=args.timeout)
        for n in range(args.epochs):
            records = []
            try:
                for r in reader:  # each iter() reads the next epoch
                    records.append(digest(r))
                    if args.slow:
                        if len(records) == 1:
                            print(json.dumps({"started": True}), flush=True)
                        time.sleep(0.05)
            except pipemode.EpochIncompleteError as e:
                print(json.dumps({"epoch": n, "error": e.code, "message": e.message, "records": records}), flush=True)
                return
            print(json.dumps({"epoch": n, "mode": reader.mode, "records": records}), flush=True)
        return
    from torch.utils.data import DataLoader
    from pipemode.torch import ChannelDataset

    dataset = ChannelDataset(args.channel, args.format, base_dir=args.base_dir, timeout=args.timeout, transform=digest)
    loader = DataLoader(dataset, batch_size=None, num_workers=args.torch_workers, timeout=args.timeout * 2 if args.torch_workers else 0)
    for n in range(args.epochs):
        records = list(loader)  # each iter() of the loader: every worker's next epoch
        print(json.dumps({"epoch": n, "mode": dataset.mode, "records": records}), flush=True)


if __name__ == "__main__":
    main()
