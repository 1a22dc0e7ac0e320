"""The golden fixtures shared with the TypeScript reader (test/fixtures/formats/index.json): every
file decodes to exactly the records listed there (and, for protobuf, to the listed JSON form), and
every corrupt file fails at the listed record and byte offset, whatever the read sizes."""
import base64
import hashlib
import io
import json
import math
import os
import unittest

import _support
from _support import ShortReads

import pipemode
from pipemode import RecordFormatError

INDEX = os.path.join(_support.FIXTURES, "index.json")


def load_index():
    with open(INDEX, "rb") as f:
        return json.load(f)


def json_number(x):
    x = float(x)
    if math.isnan(x):
        return "NaN"
    if math.isinf(x):
        return "Infinity" if x > 0 else "-Infinity"
    return x


def to_fixture_json(record):
    """Our decoded record in the JSON form of index.json (docs/formats/protobuf.md)."""

    def value(v):
        if v is None:
            return {}
        if v["dtype"] == "bytes":
            out = {"value": [base64.b64encode(b).decode("ascii") for b in v["values"]]}
            if v["content_type"] is not None:
                out["contentType"] = v["content_type"]
            return {"bytes": out}
        values = [int(x) for x in v["values"]] if v["dtype"] == "int32" else [json_number(x) for x in v["values"]]
        t = {"values": values}
        if len(v["keys"]):
            t["keys"] = [int(k) for k in v["keys"]]
        if len(v["shape"]):
            t["shape"] = [int(d) for d in v["shape"]]
        return {v["dtype"] + "Tensor": t}

    out = {"features": {k: value(v) for k, v in record["features"].items()},
           "label": {k: value(v) for k, v in record["label"].items()}}
    for key in ("uid", "metadata", "configuration"):
        if record[key] is not None:
            out[key] = record[key]
    return out


def normalize(j):
    """Numbers compared as floats (1 == 1.0), the rest as is."""
    if isinstance(j, dict):
        return {k: normalize(v) for k, v in j.items()}
    if isinstance(j, list):
        return [normalize(v) for v in j]
    if isinstance(j, bool) or not isinstance(j, (int, float)):
        return j
    return float(j)


def expected_record(r):
    return ("hex", r["hex"]) if "hex" in r else ("sha256", r["sha256"], r["length"])


def actual_record(b, like):
    b = bytes(b)
    return ("hex", b.hex()) if "hex" in like else ("sha256", hashlib.sha256(b).hexdigest(), len(b))


def collect(iterator):
    got = []
    try:
        for r in iterator:
            got.append(r)
    except RecordFormatError as e:
        return got, e
    return got, None


@unittest.skipUnless(os.path.exists(INDEX), f"{INDEX} does not exist (yet)")
class FixturesTest(unittest.TestCase):
    def setUp(self):
        self.index = load_index()

    def data(self, fx):
        with open(os.path.join(_support.FIXTURES, fx["file"]), "rb") as f:
            data = f.read()
        self.assertEqual((len(data), hashlib.sha256(data).hexdigest()), (fx["size"], fx["sha256"]), fx["file"])
        return data

    def check_error(self, fx, err):
        want = fx.get("error")
        if want is None:
            self.assertIsNone(err, f"{fx['file']}: unexpected {err}")
            return
        self.assertIsNotNone(err, f"{fx['file']}: expected an error at record {want['record']}")
        self.assertEqual((err.record_index, err.offset), (want["record"], want["offset"]), f"{fx['file']}: {err}")

    def test_index_is_not_empty(self):
        self.assertGreater(len(self.index["fixtures"]), 0)
        self.assertEqual(self.index["version"], 1)

    def test_every_fixture_every_read_size(self):
        for fx in self.index["fixtures"]:
            data = self.data(fx)
            framing = "recordio" if fx["format"] == "protobuf" else fx["format"]
            want = [expected_record(r) for r in fx["records"]]
            for name, make in (("bytes", lambda: data), ("file", lambda: io.BytesIO(data)),
                               ("1-byte reads", lambda: ShortReads(data, 1)), ("short reads", lambda: ShortReads(data, 13)),
                               ("file, tiny buffer", lambda: io.BufferedReader(io.BytesIO(data), 7))):
                with self.subTest(fixture=fx["file"], source=name):
                    got, err = collect(pipemode.read_records(make(), framing, buffer_size=4096))
                    self.assertEqual([actual_record(b, r) for b, r in zip(got, fx["records"])], want[:len(got)])
                    self.assertEqual(len(got), len(want), fx["file"])
                    self.check_error(fx, err)

    def test_protobuf_fixtures_decode_to_the_listed_json(self):
        modes = [False, True] if pipemode.protobuf.HAVE_NUMPY else [False]
        for fx in self.index["fixtures"]:
            if fx["format"] != "protobuf":
                continue
            data = self.data(fx)
            for use_numpy in modes:
                with self.subTest(fixture=fx["file"], numpy=use_numpy):
                    got, err = collect(pipemode.read_protobuf(ShortReads(data, 50), use_numpy=use_numpy))
                    self.assertEqual([normalize(to_fixture_json(r)) for r in got], [normalize(j) for j in fx["protobuf"]])
                    self.check_error(fx, err)

    def test_fixtures_through_a_channel_in_file_mode(self):
        """Every error-free fixture of a format, as the files of a File-mode channel, read by ChannelReader."""
        base = _support.tmpdir(self)
        _support.write_config(base, {"c": "File"})
        for fmt in ("recordio", "tfrecord", "lines", "protobuf"):
            fixtures = sorted((fx for fx in self.index["fixtures"] if fx["format"] == fmt and "error" not in fx),
                              key=lambda fx: fx["file"].encode())
            root = os.path.join(base, "input", "data", "c")
            if os.path.isdir(root):
                for name in os.listdir(root):
                    os.unlink(os.path.join(root, name))
            os.makedirs(root, exist_ok=True)
            for fx in fixtures:
                with open(os.path.join(root, fx["file"]), "wb") as f:
                    f.write(self.data(fx))
            reader = pipemode.ChannelReader("c", "recordio" if fmt == "protobuf" else fmt, base_dir=base)
            want = [expected_record(r) for fx in fixtures for r in fx["records"]]
            likes = [r for fx in fixtures for r in fx["records"]]
            got = list(reader)
            self.assertEqual(len(got), len(likes), f"{fmt}: number of records")
            self.assertEqual([actual_record(b, r) for b, r in zip(got, likes)], want, fmt)


if __name__ == "__main__":
    unittest.main()
