"""``aialgs.data.Record`` (RecordIO-protobuf, SageMaker's built-in algorithms' format), decoded and
encoded with the standard library only (numpy is used when importable, never required).

The schema (proto2; field numbers are what matters on the wire)::

    message Float32Tensor { repeated float  values = 1 [packed=true]; repeated uint64 keys = 2 [packed=true];
                            repeated uint64 shape = 3 [packed=true]; }
    message Float64Tensor { repeated double values = 1 [packed=true]; ... keys = 2; shape = 3 }
    message Int32Tensor   { repeated int32  values = 1 [packed=true]; ... keys = 2; shape = 3 }
    message Bytes  { repeated bytes value = 1; optional string content_type = 2; }
    message Value  { oneof value { Float32Tensor float32_tensor = 2; Float64Tensor float64_tensor = 3;
                                   Int32Tensor int32_tensor = 7; Bytes bytes = 9; } }
    message Record { map<string, Value> features = 1; map<string, Value> label = 2; optional string uid = 3;
                     optional string metadata = 4; optional string configuration = 5; }

A decoded record is a dict::

    {"features": {name: value, ...}, "label": {name: value, ...},
     "uid": str or None, "metadata": str or None, "configuration": str or None}

and each value is a dict::

    {"dtype": "float32" | "float64" | "int32", "values": ..., "keys": ..., "shape": [int, ...]}
    {"dtype": "bytes", "values": [bytes, ...], "content_type": str or None}

``values`` and ``keys`` are numpy arrays (float32 / float64 / int32; keys uint64) when numpy is
importable (and ``use_numpy`` is not False), else Python lists; ``shape`` is always a list. A dense
tensor has empty ``keys``; a sparse one lists the indices of its ``values`` in ``keys`` and its full
size in ``shape`` (see :func:`to_dense`). A map entry without a value, or with an empty ``Value``,
decodes to None. As protobuf parsers do: packed and unpacked repeated fields are both accepted,
unknown fields are skipped, a later map entry with the same key replaces an earlier one, a later
oneof member replaces another, and a message field given twice is merged (repeated fields
concatenated).
"""
import struct

try:  # optional
    import numpy as _np
except ImportError:  # pragma: no cover - depends on the environment
    _np = None

__all__ = ["ProtobufError", "decode_record", "encode_record", "tensor", "to_dense", "HAVE_NUMPY"]

HAVE_NUMPY = _np is not None

_TENSOR_FIELDS = {2: "float32", 3: "float64", 7: "int32"}
_FIELD_OF = {"float32": 2, "float64": 3, "int32": 7, "bytes": 9}
_FIXED = {"float32": ("<f", 4, 5), "float64": ("<d", 8, 1)}  # struct code, size, unpacked wire type
_NP_DTYPE = {"float32": "<f4", "float64": "<f8"}


class ProtobufError(ValueError):
    """A payload that is not a valid ``aialgs.data.Record``."""


# ---------------------------------------------------------------------------------------------
# decoding

def _varint(mv, i, end):
    result = 0
    shift = 0
    while True:
        if i >= end:
            raise ProtobufError("truncated varint")
        b = mv[i]
        i += 1
        result |= (b & 0x7F) << shift
        if b < 0x80:
            return result, i
        shift += 7
        if shift > 63:
            raise ProtobufError("varint longer than 10 bytes")


def _fields(mv, i, end):
    """Yields (field number, wire type, value) where value is an int (varint/fixed) or a (start, stop) slice."""
    while i < end:
        key, i = _varint(mv, i, end)
        field, wt = key >> 3, key & 7
        if field == 0:
            raise ProtobufError("field number 0")
        if wt == 0:
            value, i = _varint(mv, i, end)
        elif wt == 2:
            n, i = _varint(mv, i, end)
            if i + n > end:
                raise ProtobufError(f"field {field}: length {n} runs past the end of its message")
            value = (i, i + n)
            i += n
        elif wt == 5:
            if i + 4 > end:
                raise ProtobufError(f"field {field}: truncated fixed32")
            value = (i, i + 4)
            i += 4
        elif wt == 1:
            if i + 8 > end:
                raise ProtobufError(f"field {field}: truncated fixed64")
            value = (i, i + 8)
            i += 8
        else:
            raise ProtobufError(f"field {field}: unsupported wire type {wt}")
        yield field, wt, value


def _varints(mv, start, end):
    out = []
    i = start
    while i < end:
        v, i = _varint(mv, i, end)
        out.append(v)
    return out


def _to_int32(v):
    v &= 0xFFFFFFFF
    return v - (1 << 32) if v & 0x80000000 else v


def _fields_of(mv, spans):
    """The fields of a message given as one or more serialized pieces (protobuf merges them in order)."""
    for start, end in spans:
        yield from _fields(mv, start, end)


def _decode_tensor(mv, spans, dtype, use_numpy):
    chunks = []  # packed or single fixed values (memoryview slices) for float tensors
    ints = []  # int32 values
    keys = []
    shape = []
    for field, wt, value in _fields_of(mv, spans):
        if field == 1:
            if dtype == "int32":
                if wt == 2:
                    ints.extend(_varints(mv, *value))
                elif wt == 0:
                    ints.append(value)
                else:
                    raise ProtobufError(f"Int32Tensor.values: wire type {wt}")
            else:
                code, size, fixed_wt = _FIXED[dtype]
                if wt not in (2, fixed_wt):
                    raise ProtobufError(f"{dtype} values: wire type {wt}")
                a, b = value
                if (b - a) % size:
                    raise ProtobufError(f"{dtype} values: {b - a} bytes is not a multiple of {size}")
                chunks.append(mv[a:b])
        elif field in (2, 3):
            target = keys if field == 2 else shape
            if wt == 2:
                target.extend(_varints(mv, *value))
            elif wt == 0:
                target.append(value)
            else:
                raise ProtobufError(f"tensor {'keys' if field == 2 else 'shape'}: wire type {wt}")
    if dtype == "int32":
        ints = [_to_int32(v) for v in ints]
        values = _np.array(ints, dtype="int32") if use_numpy else ints
    else:
        code, size, _ = _FIXED[dtype]
        raw = chunks[0] if len(chunks) == 1 else b"".join(chunks)
        if use_numpy:
            values = _np.frombuffer(raw, dtype=_NP_DTYPE[dtype]).astype(dtype)  # astype copies (and makes native order)
        else:
            values = list(struct.unpack(f"<{len(raw) // size}{code[1]}", raw))
    if use_numpy:
        keys = _np.array(keys, dtype="uint64")
    return {"dtype": dtype, "values": values, "keys": keys, "shape": shape}


def _decode_bytes(mv, spans):
    values = []
    content_type = None
    for field, wt, value in _fields_of(mv, spans):
        if field == 1 and wt == 2:
            values.append(mv[value[0]:value[1]].tobytes())
        elif field == 2 and wt == 2:
            content_type = _string(mv, value)
    return {"dtype": "bytes", "values": values, "content_type": content_type}


def _decode_value(mv, spans, use_numpy):
    # oneof: a member replaces another member; the same member again is merged into it
    member = None
    member_spans = []
    for field, wt, value in _fields_of(mv, spans):
        if field not in _TENSOR_FIELDS and field != 9:
            continue
        if wt != 2:
            raise ProtobufError(f"Value field {field}: wire type {wt}")
        if field != member:
            member, member_spans = field, []
        member_spans.append(value)
    if member is None:
        return None
    if member == 9:
        return _decode_bytes(mv, member_spans)
    return _decode_tensor(mv, member_spans, _TENSOR_FIELDS[member], use_numpy)


def _string(mv, span):
    try:
        return mv[span[0]:span[1]].tobytes().decode("utf-8")
    except UnicodeDecodeError as e:
        raise ProtobufError(f"string field is not UTF-8: {e}") from None


def _decode_map_entry(mv, start, end, use_numpy):
    key = ""
    value_spans = []  # a message field given more than once is merged
    for field, wt, value in _fields(mv, start, end):
        if field == 1 and wt == 2:
            key = _string(mv, value)
        elif field == 2 and wt == 2:
            value_spans.append(value)
    return key, (_decode_value(mv, value_spans, use_numpy) if value_spans else None)


def decode_record(payload, use_numpy=None):
    """Decodes one serialized ``aialgs.data.Record`` (bytes-like) into a dict (see the module doc)."""
    if use_numpy is None:
        use_numpy = HAVE_NUMPY
    elif use_numpy and not HAVE_NUMPY:
        raise ImportError("use_numpy=True, but numpy is not importable")
    mv = memoryview(payload).cast("B")
    record = {"features": {}, "label": {}, "uid": None, "metadata": None, "configuration": None}
    for field, wt, value in _fields(mv, 0, len(mv)):
        if field in (1, 2):
            if wt != 2:
                raise ProtobufError(f"Record field {field}: wire type {wt}")
            key, val = _decode_map_entry(mv, value[0], value[1], use_numpy)
            record["features" if field == 1 else "label"][key] = val
        elif field in (3, 4, 5):
            if wt != 2:
                raise ProtobufError(f"Record field {field}: wire type {wt}")
            record[("uid", "metadata", "configuration")[field - 3]] = _string(mv, value)
    return record


# ---------------------------------------------------------------------------------------------
# encoding

def _enc_varint(v):
    if v < 0:
        v += 1 << 64
    out = bytearray()
    while True:
        b = v & 0x7F
        v >>= 7
        if v:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def _enc_len(field, data):
    return _enc_varint(field << 3 | 2) + _enc_varint(len(data)) + data


def tensor(values, dtype=None, keys=None, shape=None):
    """A tensor value for :func:`encode_record`. ``dtype`` defaults from a numpy array's dtype
    (float32, float64, int32; other integer types map to int32, other float types to float32), or,
    for a list, float32 if any value is a float, else int32."""
    if dtype is None:
        kind = getattr(getattr(values, "dtype", None), "kind", None)
        if kind is not None:
            dtype = {"f": "float64" if str(values.dtype) == "float64" else "float32", "i": "int32", "u": "int32",
                     "b": "int32"}.get(kind)
            if dtype is None:
                raise ValueError(f"no aialgs tensor type for numpy dtype {values.dtype}")
        else:
            dtype = "float32" if any(isinstance(v, float) for v in values) else "int32"
    return {"dtype": dtype, "values": values, "keys": [] if keys is None else keys, "shape": [] if shape is None else shape}


def _as_value(v):
    if isinstance(v, dict):
        return v
    if isinstance(v, (bytes, bytearray, memoryview)):
        return {"dtype": "bytes", "values": [bytes(v)], "content_type": None}
    return tensor(v)


def _enc_packed_varints(field, seq):
    seq = [int(x) for x in seq]
    if not seq:
        return b""
    return _enc_len(field, b"".join(_enc_varint(x) for x in seq))


def _enc_value(v):
    v = _as_value(v)
    dtype = v["dtype"]
    if dtype == "bytes":
        body = b"".join(_enc_len(1, bytes(x)) for x in v.get("values", []))
        if v.get("content_type") is not None:
            body += _enc_len(2, v["content_type"].encode("utf-8"))
    elif dtype in _FIELD_OF:
        values = v.get("values", [])
        if dtype == "int32":
            ints = [int(x) for x in values]
            for x in ints:
                if not -(1 << 31) <= x < (1 << 31):
                    raise ValueError(f"int32 tensor value out of range: {x}")
            body = _enc_packed_varints(1, ints)
        else:
            code = _FIXED[dtype][0]
            if hasattr(values, "astype") and HAVE_NUMPY:
                raw = _np.ascontiguousarray(values, dtype=_NP_DTYPE[dtype]).tobytes()
            else:
                seq = [float(x) for x in values]
                raw = struct.pack(f"<{len(seq)}{code[1]}", *seq)
            body = _enc_len(1, raw) if raw else b""
        body += _enc_packed_varints(2, v.get("keys", []))
        body += _enc_packed_varints(3, v.get("shape", []))
    else:
        raise ValueError(f"unknown value dtype {dtype!r}")
    return _enc_len(_FIELD_OF[dtype], body)


def encode_record(features=None, label=None, uid=None, metadata=None, configuration=None):
    """Serializes an ``aialgs.data.Record``. ``features`` and ``label`` map names to values: a dict as
    :func:`decode_record` returns (or :func:`tensor` makes), a numpy array, a list of numbers, or
    bytes. Map entries are written in dict order, tensors with packed fields (as SageMaker does)."""
    out = []
    for field, mapping in ((1, features), (2, label)):
        for name, value in (mapping or {}).items():
            out.append(_enc_len(field, _enc_len(1, name.encode("utf-8")) + _enc_len(2, _enc_value(value))))
    for field, text in ((3, uid), (4, metadata), (5, configuration)):
        if text is not None:
            out.append(_enc_len(field, text.encode("utf-8")))
    return b"".join(out)


def to_dense(value, use_numpy=None):
    """The dense form of a tensor value: sparse values scattered into zeros of ``prod(shape)``
    (reshaped to ``shape`` with numpy); a dense value is returned as it is (reshaped when a shape is
    given and numpy is used)."""
    if use_numpy is None:
        use_numpy = HAVE_NUMPY
    values, keys, shape = value["values"], value["keys"], list(value["shape"])
    if len(keys) == 0:
        if use_numpy and shape:
            return _np.asarray(values).reshape([int(x) for x in shape])
        return values
    if not shape:
        raise ValueError("a sparse tensor (with keys) needs a shape")
    size = 1
    for d in shape:
        size *= int(d)
    if use_numpy:
        dense = _np.zeros(size, dtype=value["dtype"])
        dense[_np.asarray(keys, dtype="uint64").astype("int64")] = _np.asarray(values)
        return dense.reshape([int(x) for x in shape])
    zero = 0.0 if value["dtype"] != "int32" else 0
    dense = [zero] * size
    for k, v in zip(keys, values):
        dense[int(k)] = v
    return dense
