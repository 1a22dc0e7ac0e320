"""Record codecs: MXNet RecordIO, TFRecord, RecordIO-protobuf and text lines (no I/O of their own).

Every reader takes a binary file object (anything with ``readinto``, or else ``read``) or a
bytes-like object, and returns an iterator of records. File objects are read with large
``readinto`` calls into one reusable buffer; each record is sliced out of it with a memoryview and
returned as ``bytes`` (one copy), or, with ``copy=False``, as a memoryview into the buffer that is
valid only until the next record is requested (no copy at all).

Corrupt or truncated input raises :class:`RecordFormatError`, which names the record (0-based
index) and the byte offset in the stream where decoding failed.

Byte layouts: the repository's docs/formats/.
"""
import struct

from ._crc32c import masked_crc32c
from . import protobuf as _protobuf

__all__ = [
    "RecordFormatError", "RECORDIO_MAGIC", "DEFAULT_BUFFER_SIZE", "FORMATS",
    "read_recordio", "read_tfrecord", "read_protobuf", "read_lines", "read_records", "normalize_format",
    "encode_recordio", "encode_recordio_parts", "encode_tfrecord", "encode_lines",
]

RECORDIO_MAGIC = 0xCED7230A
_MAGIC_BYTES = struct.pack("<I", RECORDIO_MAGIC)
_LEN_MASK = (1 << 29) - 1
DEFAULT_BUFFER_SIZE = 1 << 20
_MIN_READ = 1 << 16

_U32X2 = struct.Struct("<II")
_U64U32 = struct.Struct("<QI")
_U32 = struct.Struct("<I")


class RecordFormatError(ValueError):
    """Corrupt or truncated record data.

    Attributes: ``format`` ('recordio', 'tfrecord', 'protobuf'), ``record_index`` (0-based index
    of the record that cannot be read), ``offset`` (byte offset in the stream of the header of the
    bad record or part; for a stream that ends between the parts of a multi-part record, the end of
    the stream), ``source`` (a file or FIFO name, when known), ``reason``.
    """

    def __init__(self, fmt, reason, record_index, offset, source=None):
        self.format = fmt
        self.reason = reason
        self.record_index = record_index
        self.offset = offset
        self.source = source
        where = f" in {source}" if source else ""
        super().__init__(f"{fmt}: record {record_index} at byte offset {offset}{where}: {reason}")

    def __reduce__(self):
        return (type(self), (self.format, self.reason, self.record_index, self.offset, self.source))


class _Buffer:
    """A reusable read buffer over a file object (or a whole bytes object).

    ``buf[pos:end]`` holds unconsumed bytes; ``base`` is the stream offset of ``buf[0]``.
    """

    __slots__ = ("readinto", "read", "buf", "mv", "pos", "end", "base", "size", "last")

    def __init__(self, src, buffer_size):
        self.pos = 0
        self.base = 0
        self.last = 0  # stream offset of the last record returned (its header)
        if isinstance(src, (bytes, bytearray, memoryview)):
            data = src if isinstance(src, (bytes, bytearray)) else bytes(src)
            self.buf = data
            self.mv = memoryview(data)
            self.end = len(data)
            self.readinto = self.read = None
            self.size = len(data)
            return
        self.readinto = getattr(src, "readinto", None)
        self.read = None if self.readinto is not None else src.read
        self.size = max(int(buffer_size), 4096)
        self.buf = bytearray(self.size)
        self.mv = memoryview(self.buf)
        self.end = 0

    def offset(self, pos=None):
        return self.base + (self.pos if pos is None else pos)

    def fill(self, need):
        """Makes at least ``need`` bytes available at ``pos``; False at end of stream."""
        if self.readinto is None and self.read is None:
            return self.end - self.pos >= need
        while self.end - self.pos < need:
            if len(self.buf) - self.end < _MIN_READ or self.pos + need > len(self.buf):
                self._make_room(need)
            if self.readinto is not None:
                n = self.readinto(self.mv[self.end:])
            else:
                chunk = self.read(len(self.buf) - self.end)
                if isinstance(chunk, str):
                    raise TypeError("pipemode readers need a binary file object (open it with 'rb')")
                n = len(chunk) if chunk else 0
                if n:
                    self.mv[self.end:self.end + n] = chunk
            if n is None:
                raise BlockingIOError("pipemode readers need a blocking file object")
            if n == 0:
                return False
            self.end += n
        return True

    def _make_room(self, need):
        avail = self.end - self.pos
        size = len(self.buf)
        want = max(need, avail + _MIN_READ)
        if want > size or (size > 4 * self.size and want <= self.size):
            # grow for a large record, or give back a buffer that grew for one once it fits again
            size = self.size
            while size < want:
                size *= 2
            buf = bytearray(size)
            buf[:avail] = self.mv[self.pos:self.end]
            self.buf = buf
            self.mv = memoryview(buf)
        elif avail:
            self.mv[:avail] = self.mv[self.pos:self.end]  # memmove: the ranges may overlap
        self.base += self.pos
        self.pos = 0
        self.end = avail


# ---------------------------------------------------------------------------------------------
# MXNet RecordIO

def read_recordio(src, *, copy=True, buffer_size=DEFAULT_BUFFER_SIZE, dmlc_multipart=False, source=None):
    """Iterates the records of an MXNet RecordIO stream.

    Each part is ``magic u32 LE (0xCED7230A) | lrec u32 LE (cflag << 29 | length) | data | zero
    padding to 4 bytes``. Multi-part records (cflag 1 = first, 2 = middle, 3 = last) are joined by
    plain concatenation of their payloads, as SageMaker's readers (PipeModeDataset, ml-io) do; with
    ``dmlc_multipart=True`` the magic number is re-inserted between parts, as dmlc-core's reader does.
    """
    return _recordio(_Buffer(src, buffer_size), copy, dmlc_multipart, source)


def _recordio(s, copy, dmlc, source, track=False):
    # hot loop: the buffer state lives in locals, written back to `s` around fill() and errors
    unpack = _U32X2.unpack_from
    magic_ok = RECORDIO_MAGIC
    len_mask = _LEN_MASK
    index = 0
    parts = None
    first_offset = 0
    buf, mv, pos, end = s.buf, s.mv, s.pos, s.end
    while True:
        if end - pos < 8:
            s.pos = pos
            ok = s.fill(8)
            buf, mv, pos, end = s.buf, s.mv, s.pos, s.end
            if not ok:
                if end == pos and parts is None:
                    return
                if end == pos:  # the offset is the end of the stream, where the next part should be
                    raise RecordFormatError("recordio", f"truncated: the stream ended inside the multi-part record that began at "
                                            f"byte offset {first_offset} ({len(parts)} parts read, none with cflag 3)",
                                            index, s.offset(), source)
                raise RecordFormatError("recordio", f"truncated header: {end - pos} of 8 bytes before the stream ended",
                                        index, s.offset(), source)
        magic, lrec = unpack(buf, pos)
        if magic != magic_ok:
            s.pos = pos
            raise RecordFormatError("recordio", f"bad magic 0x{magic:08x} (expected 0x{RECORDIO_MAGIC:08x})",
                                    index, s.offset(), source)
        length = lrec & len_mask
        total = (length + 11) & ~3  # 8-byte header + data + padding to 4 bytes
        if end - pos < total:
            s.pos = pos
            ok = s.fill(total)
            buf, mv, pos, end = s.buf, s.mv, s.pos, s.end
            if not ok:
                raise RecordFormatError("recordio", f"truncated: the record needs {total} bytes (8 header + {length} data + padding), "
                                        f"the stream ended after {end - pos}", index, s.offset(), source)
        start = pos + 8
        if lrec <= len_mask and parts is None:  # cflag 0: a whole record
            if track:
                s.last = s.base + pos
            pos += total
            index += 1
            if copy:
                yield mv[start:start + length].tobytes()
            else:
                yield mv[start:start + length]
            continue
        # multi-part record
        cflag = lrec >> 29
        if cflag == 1 and parts is None:
            parts = [mv[start:start + length].tobytes()]
            first_offset = s.base + pos
        elif cflag in (2, 3) and parts is not None:
            if dmlc:
                parts.append(_MAGIC_BYTES)
            parts.append(mv[start:start + length].tobytes())
            if cflag == 3:
                record = b"".join(parts)
                parts = None
                index += 1
                if track:
                    s.last = first_offset
                pos += total
                yield record if copy else memoryview(record)
                continue
        elif cflag in (2, 3):
            s.pos = pos
            raise RecordFormatError("recordio", f"part with cflag {cflag} (continuation) without a first part (cflag 1)",
                                    index, s.offset(), source)
        elif cflag in (0, 1):
            s.pos = pos
            raise RecordFormatError("recordio", f"part with cflag {cflag} inside a multi-part record that started at byte offset "
                                    f"{first_offset} and has no last part (cflag 3)", index, s.offset(), source)
        else:
            s.pos = pos
            raise RecordFormatError("recordio", f"invalid cflag {cflag}", index, s.offset(), source)
        pos += total


def encode_recordio(data):
    """One single-part RecordIO record (cflag 0) holding ``data`` (< 2^29 bytes)."""
    n = len(data)
    if n > _LEN_MASK:
        raise ValueError(f"a RecordIO record holds at most {_LEN_MASK} bytes, got {n}")
    return b"".join((_U32X2.pack(RECORDIO_MAGIC, n), bytes(data), b"\0" * ((4 - n % 4) % 4)))


def encode_recordio_parts(parts, cflags=None):
    """A multi-part RecordIO record made of ``parts`` (each padded to 4 bytes), for tests and tools.

    cflags default to 1, 2, …, 2, 3 (a single part gets cflag 0).
    """
    parts = [bytes(p) for p in parts]
    if cflags is None:
        cflags = [0] if len(parts) == 1 else [1] + [2] * (len(parts) - 2) + [3]
    out = []
    for p, c in zip(parts, cflags):
        out.append(_U32X2.pack(RECORDIO_MAGIC, (c << 29) | len(p)))
        out.append(p)
        out.append(b"\0" * ((4 - len(p) % 4) % 4))
    return b"".join(out)


# ---------------------------------------------------------------------------------------------
# TFRecord

def read_tfrecord(src, *, copy=True, buffer_size=DEFAULT_BUFFER_SIZE, verify_data_crc=True, source=None):
    """Iterates the records of a TFRecord stream.

    Each record is ``length u64 LE | masked_crc32c(length bytes) u32 | data | masked_crc32c(data)
    u32``. The length CRC is always checked; the data CRC unless ``verify_data_crc=False`` (without
    a C CRC32C library installed, checking it costs about 60 ns per byte).
    """
    return _tfrecord(_Buffer(src, buffer_size), copy, verify_data_crc, source)


def _tfrecord(s, copy, verify, source):
    unpack = _U64U32.unpack_from
    unpack_crc = _U32.unpack_from
    crc = masked_crc32c
    length_crcs = {}  # masked CRC of each length field seen: records often share a length
    index = 0
    buf, mv, pos, end = s.buf, s.mv, s.pos, s.end
    while True:
        if end - pos < 12:
            s.pos = pos
            ok = s.fill(12)
            buf, mv, pos, end = s.buf, s.mv, s.pos, s.end
            if not ok:
                if end == pos:
                    return
                raise RecordFormatError("tfrecord", f"truncated header: {end - pos} of 12 bytes before the stream ended",
                                        index, s.offset(), source)
        length, length_crc = unpack(buf, pos)
        expected = length_crcs.get(length)
        if expected is None:
            expected = crc(mv[pos:pos + 8])
            if len(length_crcs) > 4096:
                length_crcs.clear()
            length_crcs[length] = expected
        if expected != length_crc:
            s.pos = pos
            raise RecordFormatError("tfrecord", f"length CRC mismatch (length field {length}, stored masked CRC 0x{length_crc:08x}, "
                                    f"computed 0x{expected:08x})", index, s.offset(), source)
        total = 16 + length
        if end - pos < total:
            s.pos = pos
            ok = s.fill(total)
            buf, mv, pos, end = s.buf, s.mv, s.pos, s.end
            if not ok:
                raise RecordFormatError("tfrecord", f"truncated: the record needs {total} bytes (12 header + {length} data + 4 CRC), "
                                        f"the stream ended after {end - pos}", index, s.offset(), source)
        start = pos + 12
        data = mv[start:start + length]
        if verify:
            (stored,) = unpack_crc(buf, start + length)
            if crc(data) != stored:
                s.pos = pos
                raise RecordFormatError("tfrecord", f"data CRC mismatch (stored masked CRC 0x{stored:08x}, computed 0x{crc(data):08x})",
                                        index, s.offset(), source)
        pos += total
        index += 1
        yield data.tobytes() if copy else data


def encode_tfrecord(data):
    """One TFRecord record holding ``data``."""
    header = struct.pack("<Q", len(data))
    return b"".join((header, _U32.pack(masked_crc32c(header)), bytes(data), _U32.pack(masked_crc32c(data))))


# ---------------------------------------------------------------------------------------------
# RecordIO-protobuf

def read_protobuf(src, *, buffer_size=DEFAULT_BUFFER_SIZE, use_numpy=None, dmlc_multipart=False, source=None):
    """Iterates the ``aialgs.data.Record`` messages of a RecordIO-protobuf stream, decoded to dicts
    (see :func:`pipemode.protobuf.decode_record`)."""
    s = _Buffer(src, buffer_size)
    return _protobuf_records(s, _recordio(s, False, dmlc_multipart, source, track=True), use_numpy, source)


def _protobuf_records(s, payloads, use_numpy, source):
    decode = _protobuf.decode_record
    index = 0
    for payload in payloads:
        try:
            record = decode(payload, use_numpy=use_numpy)
        except _protobuf.ProtobufError as e:
            raise RecordFormatError("protobuf", f"{e} (in a {len(payload)}-byte payload)", index, s.last, source) from None
        index += 1
        yield record


# ---------------------------------------------------------------------------------------------
# Text lines

def read_lines(src, *, copy=True, buffer_size=DEFAULT_BUFFER_SIZE, source=None):
    """Iterates the lines of a text stream, split on ``\\n`` (the ``\\n`` is not part of the record;
    ``\\r`` is kept). A final line without ``\\n`` is a record too; no empty record follows a final
    ``\\n``. No quoting awareness (PipeModeDataset's TextLine format)."""
    return _lines(_Buffer(src, buffer_size), copy)


def _lines(s, copy):
    buf, mv, pos, end = s.buf, s.mv, s.pos, s.end
    scanned = 0  # bytes after pos known to hold no newline
    while True:
        i = buf.find(b"\n", pos + scanned, end)
        if i >= 0:
            start = pos
            pos = i + 1
            scanned = 0
            yield mv[start:i].tobytes() if copy else mv[start:i]
            continue
        scanned = end - pos
        s.pos = pos
        ok = s.fill(scanned + 1)
        buf, mv, pos, end = s.buf, s.mv, s.pos, s.end
        if not ok:
            if end > pos:
                s.pos = end
                yield mv[pos:end].tobytes() if copy else mv[pos:end]
            return


def encode_lines(lines):
    """Text lines joined with ``\\n``, each terminated."""
    return b"".join(bytes(x) + b"\n" for x in lines)


# ---------------------------------------------------------------------------------------------

FORMATS = ("recordio", "tfrecord", "protobuf", "lines")
_ALIASES = {
    "recordio": "recordio", "mxnet": "recordio", "application/x-recordio": "recordio",
    "tfrecord": "tfrecord", "tfrecords": "tfrecord",
    "protobuf": "protobuf", "recordio-protobuf": "protobuf", "recordio_protobuf": "protobuf",
    "application/x-recordio-protobuf": "protobuf",
    "lines": "lines", "textline": "lines", "text": "lines", "line": "lines",
}


def normalize_format(name, extra=()):
    key = str(name).strip().lower()
    if key in extra:
        return key
    try:
        return _ALIASES[key]
    except KeyError:
        raise ValueError(f"unknown record format {name!r}: use one of {', '.join(FORMATS + tuple(extra))}") from None


def read_records(src, record_format, *, copy=True, buffer_size=DEFAULT_BUFFER_SIZE, verify_data_crc=True,
                 use_numpy=None, dmlc_multipart=False, source=None):
    """Dispatches to the reader of ``record_format`` ('recordio', 'tfrecord', 'protobuf', 'lines')."""
    fmt = normalize_format(record_format)
    if fmt == "recordio":
        return read_recordio(src, copy=copy, buffer_size=buffer_size, dmlc_multipart=dmlc_multipart, source=source)
    if fmt == "tfrecord":
        return read_tfrecord(src, copy=copy, buffer_size=buffer_size, verify_data_crc=verify_data_crc, source=source)
    if fmt == "protobuf":
        return read_protobuf(src, buffer_size=buffer_size, use_numpy=use_numpy, dmlc_multipart=dmlc_multipart, source=source)
    return read_lines(src, copy=copy, buffer_size=buffer_size, source=source)
