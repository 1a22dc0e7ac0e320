"""pipemode.torch: a DataLoader with worker processes never has two processes on one FIFO; each
iter() is the next epoch; File mode shards files among workers; Pipe mode with --fifos-per-channel
gives each worker its own FIFO. Skipped (with the reason) where torch is not importable."""
import collections
import os
import sys
import unittest

import _support  # noqa: F401  (import path)
from _support import FifoServer, tmpdir, write_config

import pipemode

try:
    import torch
    from torch.utils.data import DataLoader
    TORCH_ERROR = None
except Exception as e:  # ImportError, or a broken install
    TORCH_ERROR = f"{type(e).__name__}: {e}"

SKIP = f"torch is not importable under {sys.executable} ({TORCH_ERROR}); on Debian: apt-get install python3-torch"


def recordio(records):
    return b"".join(pipemode.encode_recordio(r) for r in records)


def label_of(record):
    return int(record["label"]["values"]["values"][0])


@unittest.skipIf(TORCH_ERROR is not None, SKIP)
class TorchFileModeTest(unittest.TestCase):
    def setUp(self):
        from pipemode.torch import ChannelDataset
        self.ChannelDataset = ChannelDataset
        self.base = tmpdir(self)
        write_config(self.base, {"train": "File"})
        root = os.path.join(self.base, "input", "data", "train")
        os.makedirs(os.path.join(root, "part"))
        self.labels = []
        for f in range(7):  # 7 files of 5 RecordIO-protobuf records: labels 0..34
            recs = []
            for i in range(5):
                label = f * 5 + i
                self.labels.append(label)
                recs.append(pipemode.encode_record({"values": pipemode.tensor([float(label), 1.0], "float32")},
                                                   {"values": pipemode.tensor([label], "int32")}))
            with open(os.path.join(root, "part" if f % 2 else "", f"shard-{f}.pbr"), "wb") as out:
                out.write(recordio(recs))

    def check(self, loader, dataset, epochs=3):
        for epoch in range(epochs):
            got = [int(x) for x in loader]
            self.assertEqual(collections.Counter(got), collections.Counter(self.labels), f"epoch {epoch}")
        return got

    def test_two_workers_three_epochs(self):
        dataset = self.ChannelDataset("train", "protobuf", base_dir=self.base, transform=label_of)
        self.assertEqual(dataset.mode, "File")
        self.check(DataLoader(dataset, batch_size=None, num_workers=2, timeout=60), dataset)
        # each iter() of a worker moved that worker on by one epoch (the main process's copy shares the counters)
        self.assertEqual([dataset.next_epoch(w) for w in range(3)], [3, 3, 0])

    def test_persistent_workers_and_batches(self):
        dataset = self.ChannelDataset("train", "protobuf", base_dir=self.base, transform=label_of)
        loader = DataLoader(dataset, batch_size=4, num_workers=2, persistent_workers=True, timeout=60)
        for epoch in range(2):
            got = [int(x) for batch in loader for x in batch]
            self.assertEqual(collections.Counter(got), collections.Counter(self.labels), f"epoch {epoch}")

    def test_spawned_workers(self):
        # spawn pickles the dataset (and its shared-memory epoch counters) instead of forking
        dataset = self.ChannelDataset("train", "protobuf", base_dir=self.base)
        loader = DataLoader(dataset, batch_size=None, num_workers=2, multiprocessing_context="spawn", timeout=120)
        for epoch in range(2):
            records = list(loader)  # records as dicts of tensors (default_convert), keys int64
            got = [int(r["label"]["values"]["values"][0]) for r in records]
            self.assertEqual(collections.Counter(got), collections.Counter(self.labels), f"epoch {epoch}")
            self.assertEqual(records[0]["features"]["values"]["keys"].dtype, torch.int64)
        self.assertEqual([dataset.next_epoch(w) for w in range(2)], [2, 2])

    def test_the_workers_read_disjoint_files(self):
        dataset = self.ChannelDataset("train", "protobuf", base_dir=self.base)
        files = [dataset.reader_for(w, 2).files() for w in range(2)]
        self.assertEqual(set(files[0]) & set(files[1]), set())
        self.assertEqual(len(files[0]) + len(files[1]), 7)

    def test_tensors_from_numpy_records(self):
        if not pipemode.protobuf.HAVE_NUMPY:
            self.skipTest("numpy is not importable")
        dataset = self.ChannelDataset("train", "protobuf", base_dir=self.base,
                                      transform=lambda r: torch.from_numpy(r["features"]["values"]["values"]))
        batches = list(DataLoader(dataset, batch_size=5, num_workers=0))
        self.assertEqual(sorted(int(row[0]) for b in batches for row in b), self.labels)
        self.assertEqual(batches[0].dtype, torch.float32)


@unittest.skipIf(TORCH_ERROR is not None, SKIP)
class TorchPipeModeTest(unittest.TestCase):
    def setUp(self):
        from pipemode.torch import ChannelDataset
        self.ChannelDataset = ChannelDataset
        self.base = tmpdir(self)
        write_config(self.base, {"train": "Pipe"})
        self.prefix = os.path.join(self.base, "input", "data", "train")

    def serve(self, epochs, suffix=""):
        server = FifoServer(self.prefix, epochs, suffix=suffix)
        self.addCleanup(server.close)
        return server

    def test_two_workers_two_fifos_three_epochs(self):
        K = 2
        shares = {(n, k): [f"epoch {n} part {k} record {i}".encode() for i in range(40)] for n in range(3) for k in range(K)}
        servers = [self.serve([recordio(shares[n, k]) for n in range(3)], suffix=f"_{k}") for k in range(K)]
        dataset = self.ChannelDataset("train", base_dir=self.base, timeout=60)
        loader = DataLoader(dataset, batch_size=None, num_workers=K, timeout=60)  # fresh worker processes every epoch
        for n in range(3):
            got = list(loader)
            want = shares[n, 0] + shares[n, 1]
            self.assertEqual(collections.Counter(got), collections.Counter(want), f"epoch {n}")
        for s in servers:
            s.join()
            self.assertEqual(s.early, {})

    def test_main_process_reads_one_fifo_per_epoch(self):
        epochs = [[f"{n}:{i}".encode() for i in range(25)] for n in range(3)]
        server = self.serve([recordio(e) for e in epochs])
        loader = DataLoader(self.ChannelDataset("train", base_dir=self.base, timeout=60), batch_size=None, num_workers=0)
        for n in range(3):
            self.assertEqual(list(loader), epochs[n])
        server.join()

    def test_two_workers_on_one_fifo_is_refused(self):
        os.mkfifo(self.prefix + "_0")
        loader = DataLoader(self.ChannelDataset("train", base_dir=self.base, timeout=30), batch_size=None, num_workers=2, timeout=60)
        with self.assertRaises(Exception) as cm:
            list(loader)
        self.assertIn("--fifos-per-channel 2", str(cm.exception))
        self.assertIn("only one process may read", str(cm.exception))

    def test_workers_must_match_the_fifo_count(self):
        for k in range(3):
            os.mkfifo(f"{self.prefix}_0_{k}")
        loader = DataLoader(self.ChannelDataset("train", base_dir=self.base, timeout=30), batch_size=None, num_workers=2, timeout=60)
        with self.assertRaises(Exception) as cm:
            list(loader)
        self.assertIn("num_workers must equal pipemode's --fifos-per-channel", str(cm.exception))
        with self.assertRaises(pipemode.ShardError) as cm:
            list(self.ChannelDataset("train", base_dir=self.base, timeout=30))
        self.assertIn("DataLoader(num_workers=3)", str(cm.exception))


@unittest.skipIf(TORCH_ERROR is not None, SKIP)
class TorchConfigTest(unittest.TestCase):
    def test_config_errors_surface_in_the_main_process(self):
        from pipemode.torch import ChannelDataset
        base = tmpdir(self)
        write_config(base, {"train": "Pipe"})
        with self.assertRaises(pipemode.ChannelConfigError):
            ChannelDataset("validation", base_dir=base)
        with self.assertRaises(TypeError):
            ChannelDataset("train", base_dir=base, shard=(0, 2))

    def test_set_epoch(self):
        from pipemode.torch import ChannelDataset
        base = tmpdir(self)
        write_config(base, {"train": "Pipe"})
        dataset = ChannelDataset("train", base_dir=base, start_epoch=4)
        self.assertEqual(dataset.next_epoch(1), 4)
        dataset.set_epoch(9)
        self.assertEqual(dataset.next_epoch(0), 9)


class TorchAvailabilityTest(unittest.TestCase):
    def test_report(self):
        """Reports why torch is missing (a skip); where it is importable, one record makes the round trip
        file -> ChannelDataset -> DataLoader unchanged, and only once."""
        if TORCH_ERROR is not None:
            self.skipTest(SKIP)
        from pipemode.torch import ChannelDataset
        base = tmpdir(self)
        write_config(base, {"train": "File"})
        root = os.path.join(base, "input", "data", "train")
        os.makedirs(root)
        with open(os.path.join(root, "one.rec"), "wb") as out:
            out.write(recordio([b"the only record"]))
        loader = DataLoader(ChannelDataset("train", base_dir=base), batch_size=None, num_workers=0)
        self.assertEqual(list(loader), [b"the only record"])


if __name__ == "__main__":
    unittest.main()
