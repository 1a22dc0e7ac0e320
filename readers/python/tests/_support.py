"""Shared test helpers: the import path, a small FIFO server that behaves like `pipemode pipe`, a
short-reading file object, channel layouts on disk.

Tests import the package from this source tree (readers/python) unless PIPEMODE_TEST_INSTALLED=1,
which tests whatever `import pipemode` finds (an installed copy).
"""
import errno
import hashlib
import json
import os
import random
import shutil
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
PACKAGE_ROOT = os.path.dirname(HERE)
REPO_ROOT = os.path.dirname(os.path.dirname(PACKAGE_ROOT))
FIXTURES = os.environ.get("PIPEMODE_FIXTURES") or os.path.join(REPO_ROOT, "test", "fixtures", "formats")

if os.environ.get("PIPEMODE_TEST_INSTALLED") != "1" and PACKAGE_ROOT not in sys.path:
    sys.path.insert(0, PACKAGE_ROOT)


def sha256(data):
    return hashlib.sha256(data).hexdigest()


class ShortReads:
    """A raw binary file over bytes whose readinto returns at most a few random bytes per call (like a FIFO)."""

    def __init__(self, data, max_chunk=7, seed=1):
        self.data = memoryview(bytes(data))
        self.pos = 0
        self.rng = random.Random(seed)
        self.max_chunk = max_chunk
        self.calls = 0

    def readinto(self, b):
        self.calls += 1
        n = min(len(b), len(self.data) - self.pos, self.rng.randint(1, self.max_chunk))
        b[:n] = self.data[self.pos:self.pos + n]
        self.pos += n
        return n


class ReadOnly:
    """A file object with read() only (no readinto)."""

    def __init__(self, data, chunk=5):
        self.data = bytes(data)
        self.pos = 0
        self.chunk = chunk

    def read(self, n=-1):
        n = min(n if n >= 0 else len(self.data), self.chunk)
        out = self.data[self.pos:self.pos + n]
        self.pos += len(out)
        return out


def tmpdir(test):
    d = tempfile.mkdtemp(prefix="pipemode-pytest-")
    test.addCleanup(shutil.rmtree, d, True)
    return d


def write_config(base_dir, channels):
    """channels: {name: mode or dict}. Writes <base>/input/config/inputdataconfig.json."""
    config = {}
    for name, value in channels.items():
        entry = {"TrainingInputMode": value} if isinstance(value, str) else dict(value)
        entry.setdefault("S3DistributionType", "FullyReplicated")
        entry.setdefault("RecordWrapperType", "None")
        config[name] = entry
    path = os.path.join(base_dir, "input", "config")
    os.makedirs(path, exist_ok=True)
    with open(os.path.join(path, "inputdataconfig.json"), "w") as f:
        json.dump(config, f)
    os.makedirs(os.path.join(base_dir, "input", "data"), exist_ok=True)


class FifoServer:
    """Serves FIFOs `<prefix>_<N>` (or `<prefix>_<N>_<k>`) the way `pipemode pipe` does, from a thread:
    create the FIFO, wait for a reader with non-blocking open() polls, write the epoch, close (EOF),
    remove the FIFO, go on with N+1.

    epochs: a list of bytes (one per epoch), or of dicts {"data": bytes, "error": {"code", "message"}}
    (write data, then the .error marker, then close). A reader that closes early ends the epoch
    (`early[N]` records how many bytes were written before EPIPE).
    """

    def __init__(self, prefix, epochs, suffix="", chunk=65536, start=True, pipe_size=None):
        self.prefix = prefix
        self.suffix = suffix
        self.epochs = epochs
        self.chunk = chunk
        self.pipe_size = pipe_size
        self.early = {}
        self.errors = []
        self.done = threading.Event()
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        if start:
            self.start()

    def start(self):
        self.thread.start()
        return self

    def path(self, n):
        return f"{self.prefix}_{n}{self.suffix}"

    def _run(self):
        try:
            for n, epoch in enumerate(self.epochs):
                if isinstance(epoch, dict):
                    data, error = epoch["data"], epoch.get("error")
                else:
                    data, error = epoch, None
                path = self.path(n)
                os.mkfifo(path, 0o600)
                try:
                    fd = self._open(path)
                    if fd is None:
                        return
                    try:
                        self._write(fd, n, data)
                        if error is not None:
                            with open(path + ".error", "w") as m:
                                json.dump(error, m)
                    finally:
                        os.close(fd)
                finally:
                    os.unlink(path)
        except BaseException as e:  # surfaced by join()
            self.errors.append(e)
        finally:
            self.done.set()

    def _open(self, path):
        while not self.stop.is_set():
            try:
                fd = os.open(path, os.O_WRONLY | os.O_NONBLOCK)
            except OSError as e:
                if e.errno != errno.ENXIO:
                    raise
                time.sleep(0.005)
                continue
            os.set_blocking(fd, True)
            if self.pipe_size:
                import fcntl
                fcntl.fcntl(fd, 1031, self.pipe_size)  # F_SETPIPE_SZ
            return fd
        return None

    def _write(self, fd, n, data):
        view = memoryview(data)
        pos = 0
        while pos < len(view):
            try:
                pos += os.write(fd, view[pos:pos + self.chunk])
            except BrokenPipeError:
                self.early[n] = pos
                return

    def join(self, timeout=30):
        if not self.done.wait(timeout):
            self.stop.set()
            raise AssertionError(f"FIFO server for {self.prefix} did not finish within {timeout} s")
        if self.errors:
            raise self.errors[0]

    def close(self):
        self.stop.set()
