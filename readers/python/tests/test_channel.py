"""ChannelReader: input mode from inputdataconfig.json, File/FastFile order and shards, and Pipe mode
over real FIFOs (os.mkfifo) written by a thread or a child process: epochs, EOF, the .error marker,
early close, timeouts and the --fifos-per-channel shards."""
import json
import os
import subprocess
import sys
import textwrap
import threading
import time
import unittest

import _support  # noqa: F401  (import path)
from _support import FifoServer, sha256, tmpdir, write_config

import pipemode
from pipemode import (ChannelConfigError, ChannelReader, EpochIncompleteError, FifoTimeoutError, RecordFormatError,
                      ShardError)


def recordio(records):
    return b"".join(pipemode.encode_recordio(r) for r in records)


def epoch_records(n, count=50):
    return [f"epoch {n} record {i} ".encode() * (i % 7) for i in range(count)]


class ConfigTest(unittest.TestCase):
    def test_mode_from_config_any_case(self):
        base = tmpdir(self)
        write_config(base, {"a": "pipe", "b": "FILE", "c": "FastFile"})
        self.assertEqual(ChannelReader("a", base_dir=base).mode, "Pipe")
        self.assertEqual(ChannelReader("b", base_dir=base).mode, "File")
        self.assertEqual(ChannelReader("c", base_dir=base).mode, "FastFile")

    def test_base_dir_from_environment(self):
        base = tmpdir(self)
        write_config(base, {"train": "File"})
        saved = os.environ.get("SAGEMAKER_BASE_DIR")
        os.environ["SAGEMAKER_BASE_DIR"] = base
        try:
            r = ChannelReader("train")
            self.assertEqual((r.base_dir, r.path), (base, os.path.join(base, "input", "data", "train")))
        finally:
            if saved is None:
                del os.environ["SAGEMAKER_BASE_DIR"]
            else:
                os.environ["SAGEMAKER_BASE_DIR"] = saved

    def test_unknown_channel_lists_the_channels(self):
        base = tmpdir(self)
        write_config(base, {"train": "Pipe", "validation": "File"})
        with self.assertRaises(ChannelConfigError) as cm:
            ChannelReader("training", base_dir=base)
        self.assertIn("channel 'training' is not in", str(cm.exception))
        self.assertIn("its channels: train, validation", str(cm.exception))
        with self.assertRaises(ChannelConfigError) as cm:
            ChannelReader("Train", base_dir=base)
        self.assertIn("did you mean 'train'", str(cm.exception))

    def test_missing_config_lists_what_exists_and_overrides_work(self):
        base = tmpdir(self)
        data = os.path.join(base, "input", "data")
        os.makedirs(os.path.join(data, "images"))
        os.mkfifo(os.path.join(data, "train_0"))
        os.mkfifo(os.path.join(data, "val_3_1"))
        with self.assertRaises(ChannelConfigError) as cm:
            ChannelReader("train", base_dir=base)
        msg = str(cm.exception)
        self.assertIn("inputdataconfig.json does not exist", msg)
        self.assertIn("pass mode='Pipe'", msg)
        self.assertIn("channels found under", msg)
        self.assertIn("images, train, val", msg)
        self.assertEqual(ChannelReader("train", base_dir=base, mode="pipe").mode, "Pipe")
        with open(os.path.join(data, "images", "x"), "wb") as f:
            f.write(b"a\nb")
        self.assertEqual(list(ChannelReader("whatever", "lines", mode="File", path=os.path.join(data, "images"))), [b"a", b"b"])
        with self.assertRaises(ChannelConfigError):
            ChannelReader("train", base_dir=base, mode="Stream")

    def test_object_format_needs_recordio_wrapping_in_pipe_mode(self):
        base = tmpdir(self)
        write_config(base, {"raw": "Pipe", "wrapped": {"TrainingInputMode": "Pipe", "RecordWrapperType": "RecordIO"}})
        with self.assertRaises(ChannelConfigError) as cm:
            ChannelReader("raw", "object", base_dir=base)
        self.assertIn("RecordWrapperType RecordIO", str(cm.exception))
        ChannelReader("wrapped", "object", base_dir=base)


class FileModeTest(unittest.TestCase):
    NAMES = ["b", "a-c", "a/b", "a/a/z", "B", "é", "z.bin", "a.", "sub/dir/deep"]

    def make(self, mode="File"):
        base = tmpdir(self)
        write_config(base, {"train": mode})
        root = os.path.join(base, "input", "data", "train")
        for name in self.NAMES:
            path = os.path.join(root, name)
            os.makedirs(os.path.dirname(path), exist_ok=True)
            with open(path, "wb") as f:
                f.write(recordio([name.encode(), b"#2 of " + name.encode()]))
        return base, root

    def test_every_file_in_utf8_byte_order_every_epoch(self):
        for mode in ("File", "FastFile"):
            base, root = self.make(mode)
            order = sorted(self.NAMES, key=lambda n: n.encode("utf-8"))
            self.assertEqual(order[:5], ["B", "a-c", "a.", "a/a/z", "a/b"])  # '-' < '.' < '/' as bytes
            reader = ChannelReader("train", base_dir=base)
            self.assertEqual(reader.files(), [os.path.join(root, n) for n in order])
            want = [r for n in order for r in (n.encode(), b"#2 of " + n.encode())]
            for _ in range(3):
                self.assertEqual(list(reader), want)
            self.assertEqual(reader.next_epoch, 3)
            self.assertEqual(list(reader.epoch(7)), want)

    def test_shards_split_the_files(self):
        base, root = self.make()
        order = sorted(self.NAMES, key=lambda n: n.encode("utf-8"))
        seen = []
        for k in range(3):
            files = ChannelReader("train", base_dir=base, shard=(k, 3)).files()
            self.assertEqual(files, [os.path.join(root, n) for n in order[k::3]])
            seen += files
        self.assertEqual(sorted(seen), sorted(os.path.join(root, n) for n in self.NAMES))

    def test_object_format_and_lines_per_file(self):
        base = tmpdir(self)
        write_config(base, {"t": "File"})
        root = os.path.join(base, "input", "data", "t")
        os.makedirs(root)
        for name, data in (("1", b"x\ny"), ("2", b""), ("3", b"z\n")):
            with open(os.path.join(root, name), "wb") as f:
                f.write(data)
        self.assertEqual(list(ChannelReader("t", "object", base_dir=base)), [b"x\ny", b"", b"z\n"])
        # each file is decoded on its own: its last line ends with it (unlike concatenated Pipe-mode objects)
        self.assertEqual(list(ChannelReader("t", "lines", base_dir=base)), [b"x", b"y", b"z"])

    def test_symlink_cycles_end(self):
        base = tmpdir(self)
        write_config(base, {"t": "File"})
        root = os.path.join(base, "input", "data", "t")
        os.makedirs(os.path.join(root, "d"))
        with open(os.path.join(root, "d", "f"), "wb") as f:
            f.write(pipemode.encode_recordio(b"only"))
        os.symlink("..", os.path.join(root, "d", "loop"))
        self.assertEqual(list(ChannelReader("t", base_dir=base)), [b"only"])

    def test_corrupt_file_names_the_file(self):
        base = tmpdir(self)
        write_config(base, {"t": "File"})
        root = os.path.join(base, "input", "data", "t")
        os.makedirs(root)
        with open(os.path.join(root, "bad.rec"), "wb") as f:
            f.write(pipemode.encode_recordio(b"ok") + b"garbage!")
        with self.assertRaises(RecordFormatError) as cm:
            list(ChannelReader("t", base_dir=base))
        self.assertEqual((cm.exception.record_index, cm.exception.offset), (1, 12))
        self.assertIn("bad.rec", str(cm.exception))

    def test_missing_directory(self):
        base = tmpdir(self)
        write_config(base, {"t": "File", "u": "File"})
        os.makedirs(os.path.join(base, "input", "data", "u"))
        with self.assertRaises(ChannelConfigError) as cm:
            list(ChannelReader("t", base_dir=base))
        self.assertIn("is not a directory", str(cm.exception))
        self.assertIn("t, u", str(cm.exception))


class PipeModeTest(unittest.TestCase):
    def setUp(self):
        self.base = tmpdir(self)
        write_config(self.base, {"train": "Pipe"})
        self.prefix = os.path.join(self.base, "input", "data", "train")

    def serve(self, epochs, **kw):
        server = FifoServer(self.prefix, epochs, **kw)
        self.addCleanup(server.close)
        return server

    def test_three_epochs_from_a_thread(self):
        epochs = [epoch_records(n, 300) for n in range(3)]
        server = self.serve([recordio(e) for e in epochs], chunk=1000)
        reader = ChannelReader("train", base_dir=self.base, buffer_size=4096)
        for n in range(3):
            got = list(reader)
            self.assertEqual([sha256(r) for r in got], [sha256(r) for r in epochs[n]], f"epoch {n}")
        server.join()
        self.assertEqual(server.early, {})
        self.assertEqual(sorted(os.listdir(os.path.dirname(self.prefix))), [], "the server removed its FIFOs")

    def test_epochs_from_a_child_process_and_every_format(self):
        """A separate writer process (not a thread) serving tfrecord, then lines, then protobuf, in one FIFO series."""
        records = [os.urandom(n) for n in (0, 1, 5000, 70_000, 3)]
        proto = [pipemode.encode_record({"values": pipemode.tensor([float(i), 2.5], "float32")},
                                        {"values": pipemode.tensor([i], "int32")}) for i in range(20)]
        payloads = []
        for n, data in enumerate([b"".join(pipemode.encode_tfrecord(r) for r in records), b"a,b\nc,d\nlast", recordio(proto)]):
            payloads.append(os.path.join(tmpdir(self), f"epoch{n}"))
            with open(payloads[-1], "wb") as f:
                f.write(data)
        script = textwrap.dedent("""
            import errno, os, sys, time
            prefix, epochs = sys.argv[1], sys.argv[2:]
            for n, source in enumerate(epochs):
                path = f"{prefix}_{n}"
                os.mkfifo(path, 0o600)
                while True:
                    try:
                        fd = os.open(path, os.O_WRONLY | os.O_NONBLOCK)
                        break
                    except OSError as e:
                        if e.errno != errno.ENXIO: raise
                        time.sleep(0.005)
                os.set_blocking(fd, True)
                with os.fdopen(fd, "wb") as f, open(source, "rb") as src:
                    f.write(src.read())
                os.unlink(path)
        """)
        child = subprocess.Popen([sys.executable, "-c", script, self.prefix, *payloads])
        self.addCleanup(child.kill)
        self.assertEqual(list(ChannelReader("train", "tfrecord", base_dir=self.base, timeout=30).epoch(0)), records)
        self.assertEqual(list(ChannelReader("train", "lines", base_dir=self.base, timeout=30).epoch(1)), [b"a,b", b"c,d", b"last"])
        got = list(ChannelReader("train", "protobuf", base_dir=self.base, timeout=30, use_numpy=False).epoch(2))
        self.assertEqual([r["features"]["values"]["values"] for r in got], [[float(i), 2.5] for i in range(20)])
        self.assertEqual([r["label"]["values"]["values"] for r in got], [[i] for i in range(20)])
        self.assertEqual(child.wait(30), 0)

    def test_waits_for_a_fifo_that_appears_later(self):
        data = epoch_records(0)
        server = self.serve([recordio(data)], start=False)
        threading.Timer(0.3, server.start).start()
        started = time.monotonic()
        self.assertEqual(list(ChannelReader("train", base_dir=self.base, timeout=20)), data)
        self.assertGreater(time.monotonic() - started, 0.25)
        server.join()

    def test_error_marker_raises_at_eof(self):
        good, partial = epoch_records(0), epoch_records(1)
        marker = {"code": "PM_ERR_RETRIES_EXHAUSTED", "message": "GET s3://b/k failed 10 times"}
        server = self.serve([recordio(good), {"data": recordio(partial[:10]), "error": marker}])
        reader = ChannelReader("train", base_dir=self.base)
        self.assertEqual(list(reader), good)
        got = []
        with self.assertRaises(EpochIncompleteError) as cm:
            for r in reader:
                got.append(r)
        self.assertEqual(got, partial[:10], "the records before the failure are delivered")
        e = cm.exception
        self.assertEqual((e.channel, e.epoch, e.path, e.code, e.message), ("train", 1, self.prefix + "_1", marker["code"], marker["message"]))
        self.assertIn("PM_ERR_RETRIES_EXHAUSTED", str(e))
        server.join()

    def test_error_marker_after_a_cut_record(self):
        data = recordio(epoch_records(0))
        server = self.serve([{"data": data[:len(data) // 2 + 3], "error": {"code": "PM_ERR_ABORTED", "message": "stopped"}}])
        with self.assertRaises(EpochIncompleteError) as cm:
            list(ChannelReader("train", base_dir=self.base).epoch(0))
        self.assertEqual(cm.exception.code, "PM_ERR_ABORTED")
        self.assertIsInstance(cm.exception.__cause__, RecordFormatError)
        server.join()

    def test_cut_record_without_marker_is_a_format_error(self):
        data = recordio(epoch_records(0))
        server = self.serve([data[:-3]])
        with self.assertRaises(RecordFormatError) as cm:
            list(ChannelReader("train", base_dir=self.base).epoch(0))
        self.assertIn("truncated", str(cm.exception))
        self.assertIn(self.prefix + "_0", str(cm.exception))
        server.join()

    def test_stale_marker_from_an_earlier_run_is_ignored(self):
        with open(self.prefix + "_0.error", "w") as f:
            json.dump({"code": "PM_ERR_ABORTED", "message": "an earlier run"}, f)
        data = epoch_records(0)
        server = self.serve([recordio(data)])
        self.assertEqual(list(ChannelReader("train", base_dir=self.base).epoch(0)), data)
        server.join()

    def test_early_close_ends_the_epoch_and_the_next_one_follows(self):
        big = [os.urandom(100_000) for _ in range(40)]  # 4 MB: far more than the pipe holds
        nxt = epoch_records(1)
        server = self.serve([recordio(big), recordio(nxt)])
        reader = ChannelReader("train", base_dir=self.base)
        for i, r in enumerate(reader):
            self.assertEqual(r, big[i])
            if i == 1:
                break  # dropping the iterator closes the FIFO
        self.assertEqual(list(reader), nxt)
        server.join()
        self.assertIn(0, server.early, "the writer saw EPIPE in epoch 0")
        self.assertLess(server.early[0], len(recordio(big)))

    def test_explicit_close_and_with_block(self):
        big = [os.urandom(50_000) for _ in range(100)]
        server = self.serve([recordio(big), recordio(big)])
        reader = ChannelReader("train", base_dir=self.base)
        with reader.epoch(0) as epoch:
            self.assertEqual(next(epoch), big[0])
            self.assertEqual(epoch.path, self.prefix + "_0")
        er = reader.epoch(1)
        self.assertEqual(next(iter(er)), big[0])
        er.close()
        server.join()
        self.assertEqual(sorted(server.early), [0, 1])

    def test_empty_epoch(self):
        server = self.serve([b"", recordio([b"x"])])
        reader = ChannelReader("train", base_dir=self.base)
        self.assertEqual(list(reader), [])
        self.assertEqual(list(reader), [b"x"])
        server.join()

    def test_zero_copy_from_a_fifo(self):
        data = [os.urandom(n) for n in (100_000, 1, 0, 300_000, 17) * 4]
        server = self.serve([recordio(data)], chunk=65536)
        got = [sha256(m) for m in ChannelReader("train", base_dir=self.base, copy=False, buffer_size=1 << 16)]
        self.assertEqual(got, [sha256(d) for d in data])
        server.join()

    def test_timeout_when_no_fifo_appears(self):
        reader = ChannelReader("train", base_dir=self.base, timeout=0.3)
        started = time.monotonic()
        with self.assertRaises(FifoTimeoutError) as cm:
            list(reader)
        self.assertLess(time.monotonic() - started, 3)
        self.assertIn("train_0 did not appear within 0.3 s", str(cm.exception))
        self.assertIsInstance(cm.exception, TimeoutError)

    def test_timeout_when_no_writer_attaches(self):
        os.mkfifo(self.prefix + "_0")
        with self.assertRaises(FifoTimeoutError) as cm:
            list(ChannelReader("train", base_dir=self.base, timeout=0.3).epoch(0))
        self.assertIn("no writer attached", str(cm.exception))

    def test_regular_file_in_place_of_a_fifo(self):
        with open(self.prefix + "_0", "wb") as f:
            f.write(recordio([b"captured"]))
        self.assertEqual(list(ChannelReader("train", base_dir=self.base).epoch(0)), [b"captured"])


class FifosPerChannelTest(unittest.TestCase):
    """pipemode pipe --fifos-per-channel K: <ch>_<N>_<k>."""

    def setUp(self):
        self.base = tmpdir(self)
        write_config(self.base, {"train": "Pipe"})
        self.prefix = os.path.join(self.base, "input", "data", "train")

    def test_each_shard_reads_its_own_fifo(self):
        K = 3
        shares = [[[f"e{n} k{k} r{i}".encode() for i in range(30)] for n in range(2)] for k in range(K)]
        servers = [FifoServer(self.prefix, [recordio(shares[k][n]) for n in range(2)], suffix=f"_{k}") for k in range(K)]
        # FifoServer names FIFOs <prefix>_<N><suffix>: here <prefix>_<N>_<k>
        for s in servers:
            self.addCleanup(s.close)
        results = {}

        def read(k):
            reader = ChannelReader("train", base_dir=self.base, shard=(k, K), timeout=20)
            results[k] = [list(reader) for _ in range(2)]

        threads = [threading.Thread(target=read, args=(k,)) for k in range(K)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
        for s in servers:
            s.join()
        for k in range(K):
            self.assertEqual(results[k], shares[k])

    def test_reader_without_shard_is_told_to_use_one(self):
        os.mkfifo(self.prefix + "_0_0")
        os.mkfifo(self.prefix + "_0_1")
        with self.assertRaises(ShardError) as cm:
            list(ChannelReader("train", base_dir=self.base, timeout=5))
        self.assertIn("served as 2 FIFOs per epoch", str(cm.exception))
        self.assertIn("shard=(k, 2)", str(cm.exception))
        self.assertEqual(ChannelReader("train", base_dir=self.base).detect_fifos_per_channel(0), 2)

    def test_shard_against_one_fifo_per_epoch(self):
        os.mkfifo(self.prefix + "_0")
        with self.assertRaises(ShardError) as cm:
            list(ChannelReader("train", base_dir=self.base, shard=(1, 2), timeout=5))
        self.assertIn("--fifos-per-channel 2", str(cm.exception))
        # shard (0, 1) is the whole channel: <ch>_<N>
        self.assertEqual(ChannelReader("train", base_dir=self.base, shard=(0, 1)).fifo_path(0), self.prefix + "_0")

    def test_more_fifos_than_shards(self):
        for k in range(3):
            os.mkfifo(f"{self.prefix}_0_{k}")
        with self.assertRaises(ShardError) as cm:
            list(ChannelReader("train", base_dir=self.base, shard=(0, 2), timeout=5))
        self.assertIn("more than 2 FIFOs per epoch", str(cm.exception))

    def test_fewer_fifos_than_shards(self):
        os.mkfifo(f"{self.prefix}_0_0")
        with self.assertRaises(ShardError) as cm:
            list(ChannelReader("train", base_dir=self.base, shard=(1, 2), timeout=5, shard_grace=0.2))
        self.assertIn("fewer than 2 FIFOs per epoch", str(cm.exception))

    def test_bad_shard(self):
        for shard in ((2, 2), (-1, 2), (0, 0)):
            with self.assertRaises(ValueError):
                ChannelReader("train", base_dir=self.base, shard=shard)


if __name__ == "__main__":
    unittest.main()
