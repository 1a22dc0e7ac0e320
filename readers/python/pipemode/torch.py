"""PyTorch adapter: a channel as an ``IterableDataset`` that works with ``DataLoader(num_workers=W)``.

Import this module only where torch is installed (``import pipemode`` never imports torch).

No two processes ever read one FIFO (a FIFO's bytes would be split between them at random):

- Pipe mode, one FIFO per epoch (``<ch>_N``): only one process may read it, so ``num_workers`` must
  be 0 or 1; with more workers the first ``iter()`` raises an error that says to start pipemode with
  ``--fifos-per-channel W``.
- Pipe mode with ``pipemode pipe --fifos-per-channel K``: worker w of W reads ``<ch>_N_w`` (its own
  disjoint share of the epoch's objects); W must equal K, and a mismatch is an error that says so.
- File and FastFile mode: worker w of W reads the files at positions w, w+W, w+2W, … (in the
  channel's ascending UTF-8 path order).

RecordIO-protobuf records come with their sparse ``keys`` as int64 arrays (uint64 in
:func:`pipemode.decode_record`; torch has no uint64 tensors), so ``batch_size=None`` loaders can
convert them.

Epochs: each ``iter()`` of the dataset in a worker (one per ``iter(DataLoader)``) reads that worker's
next epoch, starting at ``start_epoch``. The counters live in shared memory, so they carry over
whether or not the DataLoader uses ``persistent_workers``; ``set_epoch(n)`` sets the next epoch of
every worker.
"""
import torch
from torch.utils.data import IterableDataset, get_worker_info

from .channel import ChannelReader, ShardError

__all__ = ["ChannelDataset", "MAX_WORKERS"]

MAX_WORKERS = 1024


class ChannelDataset(IterableDataset):
    """The records of a channel as a PyTorch ``IterableDataset`` (see the module doc).

    Arguments are those of :class:`pipemode.ChannelReader` (``channel``, ``record_format``,
    ``base_dir``, ``mode``, ``path``, ``timeout``, …) except ``shard`` (set per worker), plus
    ``transform``, a function applied to each record in the worker, and ``start_epoch``.
    """

    def __init__(self, channel, record_format="recordio", base_dir=None, *, transform=None, start_epoch=0, **reader_options):
        super().__init__()
        if "shard" in reader_options:
            raise TypeError("ChannelDataset sets each worker's shard itself; do not pass shard=")
        # resolves the mode now, so a wrong channel or config fails here, not in a worker
        reader = ChannelReader(channel, record_format, base_dir, **reader_options)
        self.channel = reader.channel
        self.mode = reader.mode
        self.record_format = reader.record_format
        self._args = (channel, record_format, reader.base_dir)
        self._options = dict(reader_options, mode=reader.mode)
        self.transform = transform
        self._epochs = torch.full((MAX_WORKERS,), int(start_epoch), dtype=torch.int64).share_memory_()

    def set_epoch(self, n):
        """Makes the next ``iter()`` of every worker read epoch ``n``."""
        self._epochs.fill_(int(n))

    def next_epoch(self, worker=0):
        """The epoch that worker ``worker``'s next ``iter()`` reads."""
        return int(self._epochs[worker])

    def reader_for(self, worker, workers):
        """The :class:`ChannelReader` that worker ``worker`` of ``workers`` uses."""
        shard = None
        if workers > 1:
            if workers > MAX_WORKERS:
                raise ValueError(f"at most {MAX_WORKERS} DataLoader workers")
            shard = (worker, workers)
        return ChannelReader(*self._args, shard=shard, **self._options)

    def __iter__(self):
        info = get_worker_info()
        worker, workers = (info.id, info.num_workers) if info is not None else (0, 1)
        reader = self.reader_for(worker, workers)
        epoch = int(self._epochs[worker])
        self._epochs[worker] += 1
        return self._iterate(reader, epoch, workers)

    def _iterate(self, reader, epoch, workers):
        transform = self.transform
        try:
            records = reader.epoch(epoch)
            if self.record_format == "protobuf":
                records = map(_int64_keys, records)
            if transform is None:
                yield from records
            else:
                for record in records:
                    yield transform(record)
        except ShardError as e:
            if reader.mode != "Pipe":
                raise
            served = reader.detect_fifos_per_channel(epoch)
            if workers == 1:
                hint = (f"the channel is served as {served} FIFOs per epoch: use DataLoader(num_workers={served}) "
                        f"so that each worker reads one" if served > 1 else str(e))
            elif served == 1:
                hint = (f"the channel is served as one FIFO per epoch, which only one process may read, but the DataLoader "
                        f"has {workers} workers: start pipemode with --fifos-per-channel {workers}, or use num_workers=0")
            else:
                hint = (f"the DataLoader has {workers} workers but the channel is served as {served or 'a different number of'} "
                        f"FIFOs per epoch: num_workers must equal pipemode's --fifos-per-channel")
            raise ShardError(f"channel {self.channel!r}, epoch {epoch}: {hint} ({e})") from e


_INT64_LIMIT = 1 << 63


def _int64_keys(record):
    """RecordIO-protobuf keys are uint64, which torch cannot hold (``DataLoader``'s default_convert
    fails on uint64 arrays): give them as int64 (an index of 2^63 or more is an error)."""
    for group in (record["features"], record["label"]):
        for value in group.values():
            keys = value.get("keys") if value is not None else None
            if keys is None or str(getattr(keys, "dtype", "")) != "uint64":
                continue
            if len(keys) and int(keys.max()) >= _INT64_LIMIT:
                raise ValueError(f"a sparse tensor key ({int(keys.max())}) does not fit in int64")
            value["keys"] = keys.astype("int64")
    return record
