/**
 * aialgs.data.Record: random records round-trip through bytes and through JSON; the §5.5
 * vector; malformed payloads fail with the record and payload position; wrong values refuse to
 * encode.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Prng } from '../../test/helpers/random-records.js';
import { decodeProtobufRecord } from './protobuf-record-decoder.js';
import { encodeProtobufRecord, type ProtobufRecord, type ProtobufTensor, type ProtobufValue } from './protobuf-record.js';
import { protobufRecordFromJson, protobufRecordToJson } from './protobuf-json.js';

function randomFloat(prng: Prng): number {
  const kind = prng.below(20);
  if (kind === 0) return [NaN, Infinity, -Infinity][prng.below(3)] as number; // -0: see the JSON test below
  const bits = Buffer.alloc(8);
  bits.writeUInt32LE(prng.nextUint32(), 0);
  bits.writeUInt32LE(prng.nextUint32(), 4);
  const v = kind < 5 ? bits.readDoubleLE(0) : (prng.nextUint32() - 2 ** 31) / 1000;
  return Number.isNaN(v) || Object.is(v, -0) ? NaN : v; // JSON keeps neither NaN payloads nor -0
}

function randomTensor(prng: Prng, kind: 'float32Tensor' | 'float64Tensor' | 'int32Tensor'): ProtobufTensor {
  const n = prng.below(5) === 0 ? prng.below(3000) : prng.below(12);
  const values = Array.from({ length: n }, () => {
    if (kind === 'int32Tensor') return prng.nextUint32() | 0;
    const v = randomFloat(prng);
    const f = kind === 'float32Tensor' ? Math.fround(v) : v;
    return Object.is(f, -0) ? 0 : f; // tiny negatives round to -0 in float32
  }).filter((v) => !Number.isNaN(v) || kind !== 'int32Tensor');
  const t: ProtobufTensor = { values };
  if (values.length > 0 && prng.below(2) === 0) t.keys = Array.from({ length: values.length }, () => prng.nextUint32() * 2 ** (prng.below(22)) % 2 ** 53);
  if (prng.below(2) === 0) t.shape = [1 + prng.below(2 ** 31)];
  return t;
}

function randomValue(prng: Prng): ProtobufValue {
  switch (prng.below(5)) {
    case 0: return { float32Tensor: randomTensor(prng, 'float32Tensor') };
    case 1: return { float64Tensor: randomTensor(prng, 'float64Tensor') };
    case 2: return { int32Tensor: randomTensor(prng, 'int32Tensor') };
    case 3: {
      const value = Array.from({ length: prng.below(4) }, () => Buffer.from(Array.from({ length: prng.below(300) }, () => prng.below(256))).toString('base64'));
      return prng.below(2) === 0 ? { bytes: { value } } : { bytes: { value, contentType: 'image/jpeg' } };
    }
    default: return {};
  }
}

function randomRecord(prng: Prng): ProtobufRecord {
  const map = (): Record<string, ProtobufValue> => Object.fromEntries(Array.from({ length: prng.below(4) }, (_, i) => [['values', 'x', '', 'größe ✓', `k${i}`][prng.below(5)] as string, randomValue(prng)]));
  const r: ProtobufRecord = { features: map(), label: map() };
  if (prng.below(3) === 0) r.uid = `uid-${prng.nextUint32()}`;
  if (prng.below(3) === 0) r.metadata = '{"a": "ünï"}';
  if (prng.below(5) === 0) r.configuration = '';
  return r;
}

test('random records survive encode → decode, and → JSON text → parse → encode with the same bytes', () => {
  const prng = new Prng(42n, 0);
  for (let i = 0; i < 300; i++) {
    const record = randomRecord(prng);
    const bytes = encodeProtobufRecord(record);
    const decoded = decodeProtobufRecord(bytes);
    assert.deepEqual(decoded, record, `record ${i}`);
    const fromJson = protobufRecordFromJson(JSON.parse(protobufRecordToJson(decoded)));
    assert.ok(encodeProtobufRecord(fromJson).equals(bytes), `record ${i} via JSON`);
  }
});

test('the §5.5 RecordIO-protobuf vector is what the encoder writes for features{values:[1,2]} label{values:[1]}', () => {
  const bytes = encodeProtobufRecord({ features: { values: { float32Tensor: { values: [1, 2] } } }, label: { values: { float32Tensor: { values: [1] } } } });
  assert.equal(bytes.toString('hex'), '0a160a0676616c756573120c120a0a080000803f0000004012120a0676616c756573120812060a040000803f');
});

test('a map key "__proto__" is an ordinary key, not a prototype', () => {
  const bytes = encodeProtobufRecord(protobufRecordFromJson(JSON.parse('{"features": {"__proto__": {"int32Tensor": {"values": [1]}}}}')));
  const decoded = decodeProtobufRecord(bytes);
  assert.equal(Object.getPrototypeOf(decoded.features), Object.prototype);
  assert.deepEqual(Object.keys(decoded.features), ['__proto__']);
});

test('malformed payloads fail with the record, its offset and the payload byte', () => {
  const good = encodeProtobufRecord({ features: { values: { float32Tensor: { values: [1, 2] } } }, label: {} });
  const cases: [Buffer, RegExp][] = [
    [good.subarray(0, good.length - 1), /length-delimited field of 22 bytes runs past the end of its message at payload byte 1/],
    [Buffer.from([0x0a, 0x03, 0x0a, 0x09, 0x61]), /length-delimited field of 9 bytes runs past the end of its message at payload byte 3/],
    [Buffer.from([0x08, 0x01]), /Record field 1 has wire type 0 at payload byte 0/],
    [Buffer.from([0x0a, 0x06, 0x12, 0x04, 0x12, 0x02, 0x0a, 0x03]), /length-delimited field of 3 bytes runs past/],
    [Buffer.from([0x0a, 0x07, 0x12, 0x05, 0x12, 0x03, 0x0a, 0x01, 0x00]), /packed float values of 1 bytes \(not a multiple of 4\) at payload byte 6/],
    [Buffer.from([0x80]), /truncated varint at payload byte 0/],
    [Buffer.from([0x00]), /field number 0/],
    [Buffer.from([0x33]), /unsupported wire type 3/],
    [Buffer.from([0x0a, 0x0e, 0x12, 0x0c, 0x12, 0x0a, 0x12, 0x08, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x10]), /uint64 value above 2\^53 - 1/],
  ];
  for (const [bytes, pattern] of cases) {
    assert.throws(() => decodeProtobufRecord(bytes, { record: 7, offset: 1024, source: 'train_0' }), (err: Error & { code?: string; details?: Record<string, unknown> }) => {
      assert.equal(err.code, 'PM_ERR_RECORD_FORMAT');
      assert.match(err.message, /^protobuf: record 7 at byte 1024 of train_0: not an aialgs\.data\.Record: /);
      assert.match(err.message, pattern);
      assert.equal(err.details?.record, 7);
      return true;
    }, bytes.toString('hex'));
  }
});

test('values that cannot be encoded are refused with their path', () => {
  const cases: [unknown, RegExp][] = [
    [{ features: { v: { int32Tensor: { values: [1.5] } } }, label: {} }, /features\.v\.int32Tensor\.values\[0\]: 1\.5 is not an int32/],
    [{ features: { v: { int32Tensor: { values: [2 ** 31] } } }, label: {} }, /is not an int32/],
    [{ features: { v: { float32Tensor: { values: [1], keys: [-1] } } }, label: {} }, /features\.v\.float32Tensor\.keys\[0\]: -1 is not an unsigned integer/],
    [{ features: { v: { float32Tensor: { values: [1] }, int32Tensor: { values: [1] } } }, label: {} }, /got float32Tensor and int32Tensor/],
  ];
  for (const [record, pattern] of cases) assert.throws(() => encodeProtobufRecord(record as ProtobufRecord), { code: 'PM_ERR_INPUT_FORMAT', message: pattern });
});

test('JSON input is validated field by field, with did-you-mean hints', () => {
  const cases: [string, RegExp][] = [
    ['{"feature": {}}', /record\.feature: unknown field \(did you mean "features"\?\)/],
    ['{"features": {"v": {"float32Tensor": {"values": [1, "x"]}}}}', /features\.v\.float32Tensor\.values\[1\]: expected a number, got "x"/],
    ['{"features": {"v": {"bytes": {"value": ["not base64!"]}}}}', /features\.v\.bytes\.value\[0\]: expected base64/],
    ['{"features": []}', /features: expected an object of Values, got an array/],
    ['{"uid": 5}', /uid: expected a string, got 5/],
  ];
  for (const [text, pattern] of cases) assert.throws(() => protobufRecordFromJson(JSON.parse(text)), { code: 'PM_ERR_INPUT_FORMAT', message: pattern });
  assert.deepEqual(protobufRecordFromJson(JSON.parse('{"features": {"v": {"float32Tensor": {"values": ["NaN", 1], "keys": []}}}}')),
    { features: { v: { float32Tensor: { values: [NaN, 1] } } }, label: {} });
  // JSON has no negative zero: -0 is written as 0 (the only value the JSON form does not keep)
  assert.equal(protobufRecordToJson({ features: { v: { float64Tensor: { values: [-0, NaN, -Infinity] } } }, label: {} }),
    '{"features":{"v":{"float64Tensor":{"values":[0,"NaN","-Infinity"]}}},"label":{}}');
});
