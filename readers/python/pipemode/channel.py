"""Reading a SageMaker training channel, epoch by epoch, the same way in Pipe, File and FastFile mode.

Pipe mode (the protocol of SageMaker's own readers): epoch N of channel C
is the FIFO ``<base_dir>/input/data/C_N``. The reader waits for it to exist (polling), opens it,
reads to EOF (or closes it early) and moves on to ``C_N+1``. pipemode writes ``C_N.error`` (JSON
``{"code", "message"}``) *before* closing an epoch that ended incomplete, so a reader that finds that
file at EOF raises :class:`EpochIncompleteError` instead of taking a short epoch for a whole one.

pipemode extension ``--fifos-per-channel K``: each epoch is served as K FIFOs ``C_N_0 … C_N_K-1``,
each with a disjoint share of the epoch's objects (dealt round-robin), one per reader process. A
reader given ``shard=(k, K)`` reads ``C_N_k``; one without a shard reading such a channel gets a
:class:`ShardError` that says so.

File and FastFile mode: every epoch reads every file under ``<base_dir>/input/data/C/`` (recursively,
following symlinks) in ascending UTF-8 byte order of the relative path, each file decoded on its own;
with ``shard=(k, K)`` only the files at positions k, k+K, k+2K, … of that order.
"""
import json
import os
import re
import select
import stat
import time

from .formats import DEFAULT_BUFFER_SIZE, RecordFormatError, normalize_format, read_records

__all__ = [
    "ChannelReader", "EpochReader", "PipeModeError", "ChannelConfigError", "ShardError", "FifoTimeoutError",
    "EpochIncompleteError", "default_base_dir", "read_input_data_config", "available_channels", "MODES",
]

MODES = {"pipe": "Pipe", "file": "File", "fastfile": "FastFile"}
RECORD_FORMATS = ("recordio", "tfrecord", "protobuf", "lines", "object")


class PipeModeError(Exception):
    """Base class of the errors raised by pipemode's readers (codec errors are RecordFormatError)."""


class ChannelConfigError(PipeModeError, ValueError):
    """The channel cannot be resolved: no config, unknown channel, bad mode, missing directory."""


class ShardError(ChannelConfigError):
    """The FIFOs served for a channel do not match the reader's shard (``--fifos-per-channel``)."""


class FifoTimeoutError(PipeModeError, TimeoutError):
    """An epoch did not start (its FIFO did not appear, or no writer attached) within the timeout."""


class EpochIncompleteError(PipeModeError):
    """The writer reported, through ``<fifo>.error``, that the epoch ended before all of its data.

    Attributes: ``channel``, ``epoch``, ``path`` (the FIFO), ``code`` (a pipemode error code such as
    ``PM_ERR_ABORTED``), ``message``.
    """

    def __init__(self, channel, epoch, path, code, message):
        self.channel, self.epoch, self.path, self.code, self.message = channel, epoch, path, code, message
        super().__init__(f"epoch {epoch} of channel {channel!r} is incomplete ({path} closed early): {code}: {message}")

    def __reduce__(self):
        return (type(self), (self.channel, self.epoch, self.path, self.code, self.message))


def default_base_dir():
    """``$SAGEMAKER_BASE_DIR`` or ``/opt/ml``."""
    return os.environ.get("SAGEMAKER_BASE_DIR") or "/opt/ml"


def _config_path(base_dir):
    return os.path.join(base_dir, "input", "config", "inputdataconfig.json")


def read_input_data_config(base_dir=None):
    """The parsed ``<base_dir>/input/config/inputdataconfig.json`` (raises FileNotFoundError)."""
    path = _config_path(base_dir or default_base_dir())
    with open(path, "rb") as f:
        try:
            config = json.loads(f.read().decode("utf-8"))
        except ValueError as e:
            raise ChannelConfigError(f"{path} is not valid JSON: {e}") from None
    if not isinstance(config, dict):
        raise ChannelConfigError(f"{path} does not hold a JSON object of channels")
    return config


_FIFO_NAME = re.compile(r"^(.*?)_(\d+)(?:_(\d+))?$")


def available_channels(base_dir=None):
    """Names of the channels that exist: those in inputdataconfig.json, the directories under
    ``<base_dir>/input/data`` (File/FastFile) and the channels of the FIFOs there (Pipe)."""
    base_dir = base_dir or default_base_dir()
    names = set()
    try:
        names.update(read_input_data_config(base_dir))
    except (OSError, ChannelConfigError):
        pass
    data = os.path.join(base_dir, "input", "data")
    try:
        with os.scandir(data) as it:
            for e in it:
                try:
                    if e.is_dir():
                        names.add(e.name)
                    elif stat.S_ISFIFO(e.stat().st_mode):
                        m = _FIFO_NAME.match(e.name)
                        if m:
                            names.add(m.group(1))
                except OSError:
                    continue
    except OSError:
        pass
    return sorted(names)


def _describe_channels(base_dir):
    names = available_channels(base_dir)
    return f"channels found under {base_dir}: {', '.join(names)}" if names else f"no channels found under {base_dir}"


def _signature(path):
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_ino, st.st_mtime_ns, st.st_size)


class _Where:
    __slots__ = ("path",)

    def __init__(self):
        self.path = None


class EpochReader:
    """The records of one epoch. Iterate it once; ``close()`` (or leaving a ``with`` block, or dropping
    the last reference) stops early and, in Pipe mode, closes the FIFO, which tells the writer that
    the rest of the epoch is not wanted. ``path`` is the FIFO (Pipe) or the file being read."""

    def __init__(self, reader, epoch):
        self.channel = reader.channel
        self.epoch = epoch
        self._where = _Where()  # shared with the generator, which must not reference self (a cycle would keep a FIFO open)
        self._gen = reader._records(epoch, self._where)

    @property
    def path(self):
        return self._where.path

    def __iter__(self):
        return self._gen

    def __next__(self):
        return next(self._gen)

    def close(self):
        self._gen.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False


class ChannelReader:
    """Records of a SageMaker training channel, epoch after epoch, in Pipe, File or FastFile mode.

    ``record_format``: 'recordio' (MXNet RecordIO payloads, bytes), 'tfrecord' (bytes), 'protobuf'
    (RecordIO-protobuf ``aialgs.data.Record`` decoded to dicts), 'lines' (bytes without the newline)
    or 'object' (one record per object: in Pipe mode the channel must use ``RecordWrapperType:
    RecordIO``; in File mode each file's bytes).

    The input mode comes from ``<base_dir>/input/config/inputdataconfig.json`` (the channel's
    ``TrainingInputMode``, any case) unless ``mode`` is given; ``path`` overrides where the data is
    (Pipe: the FIFO prefix, default ``<base_dir>/input/data/<channel>``, FIFOs ``<path>_<N>``; File:
    the directory, same default).

    Options: ``shard=(k, K)`` (see the module doc); ``timeout`` seconds to wait for an epoch to start
    (None: forever); ``poll_interval`` the longest sleep between looks for a FIFO; ``start_epoch`` the
    epoch the first ``iter()`` reads; ``copy=False`` yields memoryviews valid only until the next
    record (recordio, tfrecord, lines); ``verify_data_crc`` (tfrecord); ``use_numpy`` (protobuf);
    ``dmlc_multipart`` (recordio); ``buffer_size`` of the read buffer.

    ``epoch(n)`` returns the records of epoch n; each ``iter(reader)`` reads the next epoch, so
    ``for _ in range(epochs): for record in reader: ...`` reads epochs 0, 1, 2, …
    """

    def __init__(self, channel, record_format="recordio", base_dir=None, *, mode=None, path=None, shard=None,
                 timeout=None, poll_interval=0.1, start_epoch=0, copy=True, verify_data_crc=True, use_numpy=None,
                 dmlc_multipart=False, buffer_size=DEFAULT_BUFFER_SIZE, shard_grace=5.0):
        self.channel = str(channel)
        if self.channel in ("", ".", "..") or "/" in self.channel or "\0" in self.channel:
            # a channel name becomes a folder name: "." or ".." would point at input/data/ or input/
            raise ChannelConfigError(f"invalid channel name {self.channel!r}: not one folder name (\".\", \"..\" and \"/\" are refused)")
        self.record_format = normalize_format(record_format, extra=("object",))
        self.base_dir = base_dir if base_dir is not None else default_base_dir()
        self.config = None
        if mode is None:
            mode = self._mode_from_config()
        key = str(mode).strip().lower()
        if key not in MODES:
            raise ChannelConfigError(f"channel {self.channel!r}: unknown input mode {mode!r} (use Pipe, File or FastFile)")
        self.mode = MODES[key]
        self.path = os.fspath(path) if path is not None else os.path.join(self.base_dir, "input", "data", self.channel)
        if shard is not None:
            k, count = (int(x) for x in shard)
            if count < 1 or not 0 <= k < count:
                raise ValueError(f"shard must be (k, K) with 0 <= k < K, got {shard!r}")
            shard = (k, count)
        self.shard = shard
        self.timeout = timeout
        self.poll_interval = poll_interval
        self.shard_grace = shard_grace
        self.next_epoch = int(start_epoch)
        self._decode_options = {"copy": copy, "verify_data_crc": verify_data_crc, "use_numpy": use_numpy,
                                "dmlc_multipart": dmlc_multipart, "buffer_size": buffer_size}
        if self.record_format == "object" and self.mode == "Pipe" and self.config is not None:
            wrapper = str(self.config.get("RecordWrapperType", "None"))
            if wrapper.lower() != "recordio":
                raise ChannelConfigError(
                    f"channel {self.channel!r}: record_format='object' in Pipe mode needs RecordWrapperType RecordIO "
                    f"(objects are concatenated without it, so their boundaries are lost); the channel has {wrapper!r}")

    def _mode_from_config(self):
        path = _config_path(self.base_dir)
        try:
            config = read_input_data_config(self.base_dir)
        except FileNotFoundError:
            raise ChannelConfigError(
                f"{path} does not exist, so the input mode of channel {self.channel!r} is unknown: pass mode='Pipe', "
                f"'File' or 'FastFile' (and path=... if the data is not under {os.path.join(self.base_dir, 'input', 'data')}); "
                f"{_describe_channels(self.base_dir)}") from None
        if self.channel not in config:
            close = [c for c in config if c.lower() == self.channel.lower()]
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            listed = ", ".join(sorted(config)) or "none"
            raise ChannelConfigError(f"channel {self.channel!r} is not in {path}{hint}; its channels: {listed}")
        entry = config[self.channel]
        if not isinstance(entry, dict) or "TrainingInputMode" not in entry:
            raise ChannelConfigError(f"channel {self.channel!r} in {path} has no TrainingInputMode")
        self.config = entry
        return entry["TrainingInputMode"]

    # ------------------------------------------------------------------------------------------
    # epochs

    def epoch(self, n):
        """The records of epoch ``n`` (an :class:`EpochReader`; nothing is opened before the first record is asked for)."""
        return EpochReader(self, int(n))

    def __iter__(self):
        n = self.next_epoch
        self.next_epoch += 1
        return iter(self.epoch(n))

    def epochs(self, count=None):
        """Yields an :class:`EpochReader` for each epoch from ``next_epoch`` on (``count`` of them, or forever)."""
        done = 0
        while count is None or done < count:
            n = self.next_epoch
            self.next_epoch += 1
            done += 1
            yield self.epoch(n)

    def follow(self):
        """A followed channel (pipemode's ``Follow``): its records as they arrive.

        In Pipe mode that is epoch 0 read until pipemode ends the stream (the channel's idle
        timeout); records come out as soon as their object has landed and been streamed. Not
        applicable in File or FastFile mode, where a channel is complete before training starts.
        """
        if self.mode != "Pipe":
            raise ChannelConfigError(f"channel {self.channel!r} is in {self.mode} mode; follow() reads a followed channel, which is served in Pipe mode")
        return self.epoch(0)

    def _decode(self, f, source):
        if self.record_format == "object":
            return read_records(f, "recordio", source=source, **self._decode_options)
        return read_records(f, self.record_format, source=source, **self._decode_options)

    def _records(self, n, er):
        if self.mode == "Pipe":
            return self._pipe_records(n, er)
        return self._file_records(er)

    def _pipe_records(self, n, er):
        deadline = None if self.timeout is None else time.monotonic() + self.timeout
        fifo = self._wait_for_fifo(n, deadline)
        er.path = fifo
        marker = fifo + ".error"
        stale = _signature(marker)  # a marker present before we attach is from an earlier run
        f = _open_for_read(fifo, deadline, self.timeout)
        try:
            try:
                yield from self._decode(f, fifo)
            except RecordFormatError as e:
                incomplete = self._incomplete(n, fifo, marker, stale)
                if incomplete is not None:
                    raise incomplete from e
                raise
            incomplete = self._incomplete(n, fifo, marker, stale)
            if incomplete is not None:
                raise incomplete
        finally:
            f.close()

    def _incomplete(self, n, fifo, marker, stale):
        sig = _signature(marker)
        if sig is None or sig == stale:
            return None
        code, message = "PM_ERR_UNKNOWN", ""
        try:
            with open(marker, "rb") as m:
                text = m.read().decode("utf-8", "replace")
            try:
                data = json.loads(text)
                code = str(data.get("code", code))
                message = str(data.get("message", ""))
            except (ValueError, AttributeError):
                message = text.strip()
        except OSError as e:
            message = f"(could not read {marker}: {e})"
        return EpochIncompleteError(self.channel, n, fifo, code, message)

    def _file_records(self, er):
        for path in self.files():
            er.path = path
            with open(path, "rb", buffering=0) as f:
                if self.record_format == "object":
                    yield f.readall()
                else:
                    yield from self._decode(f, path)

    # ------------------------------------------------------------------------------------------
    # File / FastFile

    def files(self):
        """File/FastFile mode: this reader's files, in reading order (all of them without a shard)."""
        root = self.path
        if not os.path.isdir(root):
            raise ChannelConfigError(f"channel {self.channel!r} ({self.mode} mode): {root} is not a directory; "
                                     f"{_describe_channels(self.base_dir)}")
        found = []
        seen = set()

        def walk(directory, rel):
            real = os.path.realpath(directory)
            if real in seen:
                return
            seen.add(real)
            with os.scandir(directory) as it:
                entries = list(it)
            for e in entries:
                try:
                    if e.is_dir():
                        walk(e.path, rel + e.name + "/")
                    elif e.is_file():
                        found.append((os.fsencode(rel + e.name), e.path))
                except OSError:
                    continue

        walk(root, "")
        found.sort(key=lambda x: x[0])
        paths = [p for _, p in found]
        if self.shard is not None:
            k, count = self.shard
            paths = paths[k::count]
        return paths

    # ------------------------------------------------------------------------------------------
    # Pipe

    def fifo_path(self, n):
        """The FIFO of epoch ``n`` for this reader (``<path>_<n>``, or ``<path>_<n>_<k>`` with a shard of K > 1)."""
        if self.shard is None or self.shard[1] == 1:
            return f"{self.path}_{n}"
        return f"{self.path}_{n}_{self.shard[0]}"

    def detect_fifos_per_channel(self, n):
        """How epoch ``n`` is served now: 1 if ``<path>_<n>`` exists, K if ``<path>_<n>_0 … _<K-1>`` do, 0 if neither."""
        if os.path.exists(f"{self.path}_{n}"):
            return 1
        k = 0
        while os.path.exists(f"{self.path}_{n}_{k}"):
            k += 1
        return k

    def _wait_for_fifo(self, n, deadline):
        plain = f"{self.path}_{n}"
        k, count = self.shard or (0, 1)
        mine = self.fifo_path(n)
        exists = os.path.exists
        delay = 0.002
        siblings_since = None
        while True:
            if count == 1:
                if exists(plain):
                    return plain
                if exists(f"{plain}_0"):
                    found = self.detect_fifos_per_channel(n)
                    raise ShardError(
                        f"channel {self.channel!r} is served as {max(found, 1)} FIFOs per epoch ({plain}_0 ... exist, "
                        f"{plain} does not: pipemode --fifos-per-channel): each reader process must read its own, "
                        f"with ChannelReader(..., shard=(k, {max(found, 2)})), or with pipemode.torch and that many DataLoader workers")
            else:
                if exists(f"{plain}_{count}"):
                    raise ShardError(f"shard={self.shard!r}, but {plain}_{count} exists: the channel is served as more than "
                                     f"{count} FIFOs per epoch, so some of its data would never be read")
                if exists(mine):
                    return mine
                if exists(plain):
                    raise ShardError(
                        f"shard={self.shard!r}, but channel {self.channel!r} is served as one FIFO per epoch ({plain}), "
                        f"which only one process may read: start pipemode with --fifos-per-channel {count}")
                if any(exists(f"{plain}_{j}") for j in range(count) if j != k):
                    now = time.monotonic()
                    siblings_since = siblings_since or now
                    if now - siblings_since > self.shard_grace:
                        have = self.detect_fifos_per_channel(n)
                        raise ShardError(
                            f"shard={self.shard!r}, but {mine} has not appeared in {self.shard_grace:g} s while other FIFOs of "
                            f"epoch {n} exist (found {have}): pipemode serves fewer than {count} FIFOs per epoch "
                            f"(--fifos-per-channel {have}?)")
                else:
                    siblings_since = None
            if deadline is not None and time.monotonic() >= deadline:
                raise FifoTimeoutError(f"{mine} did not appear within {self.timeout:g} s (channel {self.channel!r}, epoch {n})")
            time.sleep(delay if deadline is None else max(0.0, min(delay, deadline - time.monotonic())))
            delay = min(delay * 2, self.poll_interval)


def _open_for_read(path, deadline, timeout):
    """Opens a FIFO for reading without blocking in open(): wait (up to the deadline) until the writer
    has attached and written a byte or closed, then switch to blocking reads (as ml-io does)."""
    st = os.stat(path)
    if not stat.S_ISFIFO(st.st_mode):
        return open(path, "rb", buffering=0)
    import fcntl  # Unix only, like FIFOs

    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    try:
        while True:
            remaining = None if deadline is None else max(0.0, deadline - time.monotonic())
            if hasattr(select, "poll"):
                p = select.poll()
                p.register(fd, select.POLLIN | select.POLLHUP | select.POLLERR)
                ready = p.poll(None if remaining is None else int(remaining * 1000) + 1)
            else:  # pragma: no cover - no poll() on this platform
                ready = select.select([fd], [], [], remaining)[0]
            if ready:
                break
            if deadline is not None and time.monotonic() >= deadline:
                raise FifoTimeoutError(f"no writer attached to {path} within {timeout:g} s")
        flags = fcntl.fcntl(fd, fcntl.F_GETFL)
        fcntl.fcntl(fd, fcntl.F_SETFL, flags & ~os.O_NONBLOCK)
        return open(fd, "rb", buffering=0, closefd=True)
    except BaseException:
        os.close(fd)
        raise
