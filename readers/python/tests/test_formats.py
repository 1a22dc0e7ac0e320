"""Codecs: round trips against our encoders (through short reads and the reusable buffer), the test
published RecordIO vectors (docs/formats/recordio.md), and corrupt input (errors name the record and byte offset)."""
import io
import os
import random
import struct
import unittest

import _support  # noqa: F401  (import path)
from _support import ReadOnly, ShortReads

import pipemode
from pipemode import RecordFormatError, formats
from pipemode import _crc32c

H = bytes.fromhex


def payloads(seed, count=200, max_size=300):
    rng = random.Random(seed)
    out = [b"", b"a", b"ab", b"abc", b"abcd", b"\n", pipemode.encode_recordio(b"x")]  # includes the magic itself
    out += [rng.randbytes(rng.randint(0, max_size)) for _ in range(count)]
    return out


def sources(data):
    """The same bytes as: bytes, bytearray, memoryview, BytesIO, 1..7-byte reads, read()-only, a raw file."""
    yield "bytes", lambda: data
    yield "bytearray", lambda: bytearray(data)
    yield "memoryview", lambda: memoryview(data)
    yield "BytesIO", lambda: io.BytesIO(data)
    yield "short reads", lambda: ShortReads(data)
    yield "read only", lambda: ReadOnly(data)


class VectorsTest(unittest.TestCase):
    """The published RecordIO vectors (a)."""

    def test_recordio_vectors(self):
        self.assertEqual(pipemode.encode_recordio(b""), H("0a23d7ce00000000"))
        self.assertEqual(pipemode.encode_recordio(b"hello"), H("0a23d7ce0500000068656c6c6f000000"))
        self.assertEqual(pipemode.encode_recordio(b"abcd"), H("0a23d7ce0400000061626364"))
        self.assertEqual(list(pipemode.read_recordio(H("0a23d7ce00000000"))), [b""])
        self.assertEqual(list(pipemode.read_recordio(H("0a23d7ce0500000068656c6c6f000000"))), [b"hello"])
        self.assertEqual(list(pipemode.read_recordio(H("0a23d7ce0400000061626364"))), [b"abcd"])

    def test_dmlc_multipart_vector(self):
        data = H("0a23d7ce040000204142434" "40a23d7ce020000604546" "0000")
        # SageMaker's readers concatenate the parts; dmlc-core re-inserts the magic it split at
        self.assertEqual(list(pipemode.read_recordio(data)), [b"ABCDEF"])
        self.assertEqual(list(pipemode.read_recordio(data, dmlc_multipart=True)), [b"ABCD" + H("0a23d7ce") + b"EF"])

    def test_tfrecord_vectors(self):
        self.assertEqual(pipemode.encode_tfrecord(b""), H("0000000000000000" "29039807" "d8ea82a2"))
        self.assertEqual(pipemode.encode_tfrecord(b"hello"), H("0500000000000000" "eab2043e" "68656c6c6f" "bb1f1c19"))
        self.assertEqual(_crc32c.crc32c(bytes(8)), 0x8C28B28A)
        self.assertEqual(list(pipemode.read_tfrecord(H("000000000000000029039807d8ea82a2"))), [b""])
        self.assertEqual(list(pipemode.read_tfrecord(H("0500000000000000eab2043e68656c6c6fbb1f1c19"))), [b"hello"])

    def test_protobuf_vector(self):
        framed = H("0a23d7ce2c000000"
                   "0a160a0676616c756573120c120a0a080000803f00000040"
                   "12120a0676616c75657312081206" "0a040000803f")
        self.assertEqual(len(framed), 8 + 44)
        for use_numpy in ([False, True] if pipemode.protobuf.HAVE_NUMPY else [False]):
            (rec,) = list(pipemode.read_protobuf(framed, use_numpy=use_numpy))
            self.assertEqual(list(rec["features"]), ["values"])
            f = rec["features"]["values"]
            self.assertEqual((f["dtype"], list(f["values"]), list(f["keys"]), f["shape"]), ("float32", [1.0, 2.0], [], []))
            lab = rec["label"]["values"]
            self.assertEqual((lab["dtype"], list(lab["values"])), ("float32", [1.0]))
            self.assertEqual((rec["uid"], rec["metadata"], rec["configuration"]), (None, None, None))
        encoded = pipemode.encode_record({"values": pipemode.tensor([1.0, 2.0], "float32")}, {"values": pipemode.tensor([1.0], "float32")})
        self.assertEqual(pipemode.encode_recordio(encoded), framed)

    def test_ml_io_complete_records_first_payload(self):
        # §5.5 (b): the first payload of ml-io's complete_records.pr (features f32 [1,0,0], label 1)
        payload = H("0a1a0a0676616c7565731210120e0a0c0000803f000000000000000012120a0676616c756573120812060a040000803f")
        rec = pipemode.decode_record(payload, use_numpy=False)
        self.assertEqual(rec["features"]["values"]["values"], [1.0, 0.0, 0.0])
        self.assertEqual(rec["label"]["values"]["values"], [1.0])
        self.assertEqual(pipemode.encode_record({"values": pipemode.tensor([1.0, 0.0, 0.0], "float32")},
                                                {"values": pipemode.tensor([1.0], "float32")}), payload)

    def test_crc32c_check_value_every_implementation(self):
        self.assertEqual(_crc32c.crc32c_python(b"123456789"), 0xE3069283)
        self.assertEqual(_crc32c.crc32c(b"123456789"), 0xE3069283)
        rng = random.Random(5)
        for n in list(range(0, 40)) + [1000, 4099]:
            data = rng.randbytes(n)
            self.assertEqual(_crc32c.crc32c(data), _crc32c.crc32c_python(data), n)
            self.assertEqual(_crc32c.crc32c(memoryview(data)), _crc32c.crc32c_python(data), n)
        self.assertEqual(_crc32c.crc32c_python(b"6789", _crc32c.crc32c_python(b"12345")), 0xE3069283)


class RecordIOTest(unittest.TestCase):
    def test_round_trip_every_source(self):
        records = payloads(1)
        data = b"".join(pipemode.encode_recordio(p) for p in records)
        for name, make in sources(data):
            with self.subTest(source=name):
                self.assertEqual(list(pipemode.read_recordio(make(), buffer_size=4096)), records)

    def test_zero_copy_memoryviews(self):
        records = payloads(2)
        data = b"".join(pipemode.encode_recordio(p) for p in records)
        got = [bytes(m) for m in pipemode.read_recordio(ShortReads(data, 300), copy=False, buffer_size=4096)]
        self.assertEqual(got, records)
        for m in pipemode.read_recordio(data, copy=False):
            self.assertIsInstance(m, memoryview)

    def test_records_larger_than_the_buffer(self):
        rng = random.Random(3)
        records = [rng.randbytes(n) for n in (5000, 3, 100_000, 1, 70_001, 0, 65_536)]
        data = b"".join(pipemode.encode_recordio(p) for p in records)
        self.assertEqual(list(pipemode.read_recordio(ShortReads(data, 9000), buffer_size=4096)), records)
        self.assertEqual(list(pipemode.read_recordio(io.BytesIO(data), buffer_size=4096)), records)

    def test_multipart_sagemaker_and_dmlc(self):
        rng = random.Random(4)
        stream, want, want_dmlc = [], [], []
        for i in range(50):
            if i % 3:
                p = rng.randbytes(rng.randint(0, 50))
                stream.append(pipemode.encode_recordio(p))
                want.append(p)
                want_dmlc.append(p)
            else:
                parts = [rng.randbytes(rng.randint(0, 20)) for _ in range(rng.randint(2, 5))]
                stream.append(pipemode.encode_recordio_parts(parts))
                want.append(b"".join(parts))
                want_dmlc.append(pipemode.formats._MAGIC_BYTES.join(parts))
        data = b"".join(stream)
        self.assertEqual(list(pipemode.read_recordio(ShortReads(data))), want)
        self.assertEqual(list(pipemode.read_recordio(data, dmlc_multipart=True)), want_dmlc)
        self.assertEqual([bytes(m) for m in pipemode.read_recordio(data, copy=False)], want)

    def test_ml_io_split_layout(self):
        # ml-io's split_records.pr splits each 48-byte payload into parts of 8, 10, 1 and 29 bytes
        payload = bytes(range(48))
        parts = [payload[:8], payload[8:18], payload[18:19], payload[19:]]
        data = pipemode.encode_recordio_parts(parts) * 5
        self.assertEqual(len(pipemode.encode_recordio_parts(parts)), 88)  # 440 bytes for 5 records, as in ml-io
        self.assertEqual(list(pipemode.read_recordio(data)), [payload] * 5)

    def _error(self, data, **kw):
        with self.assertRaises(RecordFormatError) as cm:
            list(pipemode.read_recordio(ShortReads(data, 50), **kw))
        return cm.exception

    def test_bad_magic_names_record_and_offset(self):
        good = [pipemode.encode_recordio(b"x" * n) for n in (5, 8, 0)]  # 16, 16, 8 bytes
        bad = b"\x0b" + pipemode.encode_recordio(b"yy")[1:]
        e = self._error(b"".join(good) + bad + pipemode.encode_recordio(b"z"), source="f.rec")
        self.assertEqual((e.format, e.record_index, e.offset, e.source), ("recordio", 3, 40, "f.rec"))
        self.assertIn("record 3 at byte offset 40 in f.rec", str(e))
        self.assertIn("bad magic 0xced7230b", str(e))

    def test_truncation(self):
        data = pipemode.encode_recordio(b"hello") + pipemode.encode_recordio(b"world!")
        for cut in range(17, len(data)):
            e = self._error(data[:cut])
            self.assertEqual((e.record_index, e.offset), (1, 16), cut)
            self.assertIn("truncated", str(e))
        # padding is part of the record
        e = self._error(pipemode.encode_recordio(b"hello")[:-1])
        self.assertEqual((e.record_index, e.offset), (0, 0))

    def test_multipart_errors(self):
        first = pipemode.encode_recordio(b"ok")  # 12 bytes
        e = self._error(first + pipemode.encode_recordio_parts([b"a"], cflags=[2]))
        self.assertEqual((e.record_index, e.offset), (1, 12))
        self.assertIn("without a first part", str(e))
        e = self._error(first + pipemode.encode_recordio_parts([b"a", b"b"], cflags=[1, 0]))
        self.assertEqual((e.record_index, e.offset), (1, 24))
        self.assertIn("inside a multi-part record that started at byte offset 12", str(e))
        e = self._error(first + pipemode.encode_recordio_parts([b"a", b"b"], cflags=[1, 2]))
        self.assertEqual((e.record_index, e.offset), (1, 36))  # the end of the stream: the last part is missing
        self.assertIn("ended inside the multi-part record that began at byte offset 12", str(e))
        e = self._error(first + pipemode.encode_recordio_parts([b"a"], cflags=[5]))
        self.assertIn("invalid cflag 5", str(e))

    def test_encode_limits(self):
        with self.assertRaises(ValueError):
            pipemode.encode_recordio(_Huge())


class _Huge:
    def __len__(self):
        return 1 << 29


class TFRecordTest(unittest.TestCase):
    def test_round_trip_every_source(self):
        records = payloads(6)
        data = b"".join(pipemode.encode_tfrecord(p) for p in records)
        for name, make in sources(data):
            with self.subTest(source=name):
                self.assertEqual(list(pipemode.read_tfrecord(make(), buffer_size=4096)), records)
        self.assertEqual([bytes(m) for m in pipemode.read_tfrecord(data, copy=False)], records)
        big = [os.urandom(200_000), b"", os.urandom(10)]
        data = b"".join(pipemode.encode_tfrecord(p) for p in big)
        self.assertEqual(list(pipemode.read_tfrecord(ShortReads(data, 5000), buffer_size=4096)), big)

    def test_pure_python_crc_path(self):
        records = payloads(7, count=20)
        data = b"".join(pipemode.encode_tfrecord(p) for p in records)
        saved = formats.masked_crc32c
        formats.masked_crc32c = _crc32c.masked_crc32c_python
        try:
            self.assertEqual(list(pipemode.read_tfrecord(data)), records)
        finally:
            formats.masked_crc32c = saved

    def test_corrupt_length_crc(self):
        data = bytearray(pipemode.encode_tfrecord(b"one") + pipemode.encode_tfrecord(b"two"))
        data[19 + 8] ^= 1  # the second record's length CRC (the first record is 19 bytes)
        with self.assertRaises(RecordFormatError) as cm:
            list(pipemode.read_tfrecord(bytes(data)))
        self.assertEqual((cm.exception.record_index, cm.exception.offset), (1, 19))
        self.assertIn("length CRC mismatch", str(cm.exception))

    def test_corrupt_data_crc_and_skipping_the_check(self):
        data = bytearray(pipemode.encode_tfrecord(b"one") + pipemode.encode_tfrecord(b"two"))
        data[19 + 12] ^= 0xFF  # a data byte of the second record
        with self.assertRaises(RecordFormatError) as cm:
            list(pipemode.read_tfrecord(ShortReads(bytes(data))))
        self.assertEqual((cm.exception.record_index, cm.exception.offset), (1, 19))
        self.assertIn("data CRC mismatch", str(cm.exception))
        self.assertEqual(list(pipemode.read_tfrecord(bytes(data), verify_data_crc=False)), [b"one", bytes([ord("t") ^ 0xFF]) + b"wo"])

    def test_truncation(self):
        data = pipemode.encode_tfrecord(b"one") + pipemode.encode_tfrecord(b"twotwo")
        for cut in range(20, len(data)):
            with self.assertRaises(RecordFormatError) as cm:
                list(pipemode.read_tfrecord(data[:cut]))
            self.assertEqual((cm.exception.record_index, cm.exception.offset), (1, 19), cut)
            self.assertIn("truncated", str(cm.exception))


class LinesTest(unittest.TestCase):
    CASES = [
        (b"", []),
        (b"\n", [b""]),
        (b"a", [b"a"]),
        (b"a\n", [b"a"]),
        (b"a\nb", [b"a", b"b"]),
        (b"a\n\nb\n", [b"a", b"", b"b"]),
        (b"x,y\r\n1,2\r\n", [b"x,y\r", b"1,2\r"]),
        (b'"quoted\nnewline"\n', [b'"quoted', b'newline"']),
    ]

    def test_cases_every_source(self):
        for data, want in self.CASES:
            for name, make in sources(data):
                with self.subTest(data=data, source=name):
                    self.assertEqual(list(pipemode.read_lines(make())), want)

    def test_round_trip_long_lines(self):
        rng = random.Random(8)
        lines = [bytes(rng.choice(b"abc,. ") for _ in range(rng.choice([0, 1, 10, 5000, 70_000]))) for _ in range(60)] + [b"last"]
        data = pipemode.encode_lines(lines)
        self.assertEqual(list(pipemode.read_lines(ShortReads(data, 3000), buffer_size=4096)), lines)
        self.assertEqual(list(pipemode.read_lines(data[:-1])), lines)  # no final newline: still a record
        self.assertEqual([bytes(m) for m in pipemode.read_lines(io.BytesIO(data), copy=False, buffer_size=4096)], lines)


class ProtobufTest(unittest.TestCase):
    def modes(self):
        return [False, True] if pipemode.protobuf.HAVE_NUMPY else [False]

    def assertTensor(self, got, dtype, values, keys=(), shape=()):
        self.assertEqual(got["dtype"], dtype)
        self.assertEqual([float(v) if dtype != "int32" else int(v) for v in got["values"]], list(values))
        self.assertEqual([int(k) for k in got["keys"]], list(keys))
        self.assertEqual(list(got["shape"]), list(shape))

    def test_round_trip_dense_sparse_every_type(self):
        features = {
            "values": pipemode.tensor([0.5, -2.25, 3.0e10], "float32"),
            "f64": pipemode.tensor([1.0 / 3, -1e300], "float64"),
            "ints": pipemode.tensor([0, 1, -1, 2**31 - 1, -(2**31)], "int32"),
            "sparse": pipemode.tensor([1.5, 2.5], "float32", keys=[3, 2**64 - 1], shape=[2**40]),
            "sparse_i": pipemode.tensor([7], "int32", keys=[0], shape=[10]),
            "blob": {"dtype": "bytes", "values": [b"\x00\xff", b""], "content_type": "image/jpeg"},
            "empty": pipemode.tensor([], "float64"),
        }
        label = {"values": pipemode.tensor([4.0], "float32")}
        payload = pipemode.encode_record(features, label, uid="id-é", metadata="{}", configuration="c")
        stream = pipemode.encode_recordio(payload) * 3
        for use_numpy in self.modes():
            recs = list(pipemode.read_protobuf(ShortReads(stream, 11), use_numpy=use_numpy))
            self.assertEqual(len(recs), 3)
            rec = recs[2]
            self.assertEqual(list(rec["features"]), list(features))
            f = rec["features"]
            self.assertTensor(f["values"], "float32", [0.5, -2.25, struct.unpack("<f", struct.pack("<f", 3.0e10))[0]])
            self.assertTensor(f["f64"], "float64", [1.0 / 3, -1e300])
            self.assertTensor(f["ints"], "int32", [0, 1, -1, 2**31 - 1, -(2**31)])
            self.assertTensor(f["sparse"], "float32", [1.5, 2.5], [3, 2**64 - 1], [2**40])
            self.assertTensor(f["sparse_i"], "int32", [7], [0], [10])
            self.assertEqual(f["blob"], {"dtype": "bytes", "values": [b"\x00\xff", b""], "content_type": "image/jpeg"})
            self.assertTensor(f["empty"], "float64", [])
            self.assertTensor(rec["label"]["values"], "float32", [4.0])
            self.assertEqual((rec["uid"], rec["metadata"], rec["configuration"]), ("id-é", "{}", "c"))
            # and back: re-encoding the decoded record gives the same bytes
            self.assertEqual(pipemode.encode_record(rec["features"], rec["label"], rec["uid"], rec["metadata"], rec["configuration"]), payload)

    @unittest.skipUnless(pipemode.protobuf.HAVE_NUMPY, "numpy is not importable")
    def test_numpy_types_and_to_dense(self):
        import numpy as np
        payload = pipemode.encode_record({"values": np.array([1, 2, 3], dtype=np.float64),
                                          "sp": pipemode.tensor(np.array([5, 6], dtype=np.int32), keys=[1, 3], shape=[2, 2])})
        rec = pipemode.decode_record(payload)
        self.assertEqual(rec["features"]["values"]["values"].dtype, np.float64)
        self.assertEqual(rec["features"]["sp"]["values"].dtype, np.int32)
        self.assertEqual(rec["features"]["sp"]["keys"].dtype, np.uint64)
        self.assertTrue(rec["features"]["values"]["values"].flags.writeable)
        self.assertEqual(pipemode.to_dense(rec["features"]["sp"]).tolist(), [[0, 5], [0, 6]])
        self.assertEqual(pipemode.to_dense(rec["features"]["sp"], use_numpy=False), [0, 5, 0, 6])

    def test_unpacked_repeated_fields_and_unknown_fields(self):
        from pipemode.protobuf import _enc_len, _enc_varint
        f32 = _enc_varint(1 << 3 | 5) + struct.pack("<f", 1.5) + _enc_varint(1 << 3 | 5) + struct.pack("<f", -1.0)
        f32 += _enc_varint(2 << 3 | 0) + _enc_varint(9) + _enc_varint(3 << 3 | 0) + _enc_varint(10)
        f32 += _enc_varint(15 << 3 | 0) + _enc_varint(99)  # unknown varint field
        i32 = _enc_varint(1 << 3 | 0) + _enc_varint(-5) + _enc_len(1, _enc_varint(6) + _enc_varint(7))
        value = _enc_len(2, f32)
        payload = (_enc_len(1, _enc_len(1, b"a") + _enc_len(2, value))
                   + _enc_len(1, _enc_len(1, b"b") + _enc_len(2, _enc_len(7, i32)))
                   + _enc_len(9, b"unknown length-delimited") + _enc_varint(6 << 3 | 1) + bytes(8))
        for use_numpy in self.modes():
            rec = pipemode.decode_record(payload, use_numpy=use_numpy)
            self.assertTensor(rec["features"]["a"], "float32", [1.5, -1.0], [9], [10])
            self.assertTensor(rec["features"]["b"], "int32", [-5, 6, 7])

    def test_corrupt_payload_names_record_and_offset(self):
        good = pipemode.encode_recordio(pipemode.encode_record({"values": pipemode.tensor([1.0], "float32")}))
        bad = pipemode.encode_recordio(b"\x0a\x10\x0a")  # a map entry longer than the payload
        with self.assertRaises(RecordFormatError) as cm:
            list(pipemode.read_protobuf(ShortReads(good * 2 + bad + good), source="x.pbr"))
        e = cm.exception
        self.assertEqual((e.format, e.record_index, e.offset, e.source), ("protobuf", 2, 2 * len(good), "x.pbr"))
        self.assertIn("runs past the end", str(e))
        with self.assertRaises(RecordFormatError):
            list(pipemode.read_protobuf(pipemode.encode_recordio(b"\x0d\x00\x00")))  # field 1 with wire type 5


class ErrorsTest(unittest.TestCase):
    def test_errors_pickle(self):
        import pickle
        e = RecordFormatError("recordio", "bad magic", 3, 40, "f.rec")
        e2 = pickle.loads(pickle.dumps(e))
        self.assertEqual((str(e2), e2.record_index, e2.offset, e2.source), (str(e), 3, 40, "f.rec"))
        i = pipemode.EpochIncompleteError("train", 2, "/x/train_2", "PM_ERR_ABORTED", "stopped")
        i2 = pickle.loads(pickle.dumps(i))
        self.assertEqual((str(i2), i2.code, i2.epoch), (str(i), "PM_ERR_ABORTED", 2))

    def test_text_file_is_refused(self):
        with self.assertRaises(TypeError):
            list(pipemode.read_recordio(io.StringIO("text")))


class DispatchTest(unittest.TestCase):
    def test_read_records_and_aliases(self):
        self.assertEqual(list(pipemode.read_records(pipemode.encode_tfrecord(b"a"), "TFRecord")), [b"a"])
        self.assertEqual(list(pipemode.read_records(b"a\nb", "TextLine")), [b"a", b"b"])
        self.assertEqual(list(pipemode.read_records(pipemode.encode_recordio(b"z"), "RecordIO")), [b"z"])
        self.assertEqual(len(list(pipemode.read_records(pipemode.encode_recordio(b""), "application/x-recordio-protobuf"))), 1)
        with self.assertRaises(ValueError):
            pipemode.read_records(b"", "csv")


if __name__ == "__main__":
    unittest.main()
