/** TFRecord: CRC-32C and its mask, both checksums verified, truncation reported. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { crc32c, maskCrc, maskedCrc32c } from './crc32c.js';
import { TfrecordDecoder, tfrecordEncoder } from './tfrecord.js';

test('crc32c gives the standard check value and continues across pieces; the mask is TensorFlow\'s', () => {
  assert.equal(crc32c(Buffer.from('123456789')), 0xe3069283);
  assert.equal(crc32c(Buffer.from('56789'), crc32c(Buffer.from('1234'))), 0xe3069283);
  assert.equal(maskCrc(0), 0xa282ead8);
  assert.equal(maskedCrc32c(Buffer.alloc(8)), 0x07980329); // §5.5: crc(8 zero bytes) = 0x8c28b28a, masked
});

function frame(...records: string[]): Buffer {
  return Buffer.concat(records.flatMap((r) => tfrecordEncoder.encode(Buffer.from(r))));
}

test('a wrong data CRC fails at its record, after the good records', () => {
  const bytes = frame('alpha', 'beta', 'gamma');
  bytes[21 + 12 + 4 + 1] = (bytes[21 + 12 + 4 + 1] as number) ^ 0xff;
  const decoder = new TfrecordDecoder({ source: 's3://b/x.tfrecord' });
  assert.deepEqual(decoder.push(bytes).map(String), ['alpha']);
  assert.throws(() => decoder.end(), (err: Error & { code?: string; details?: Record<string, unknown> }) => {
    assert.equal(err.code, 'PM_ERR_RECORD_FORMAT');
    assert.deepEqual(err.details, { format: 'tfrecord', record: 1, offset: 21, source: 's3://b/x.tfrecord' });
    assert.match(err.message, /^tfrecord: record 1 at byte 21 of s3:\/\/b\/x\.tfrecord: data CRC mismatch: stored 0x[0-9a-f]{8}, computed 0x[0-9a-f]{8} over 4 bytes$/);
    return true;
  });
});

test('a wrong length CRC fails before the (possibly absurd) length is trusted', () => {
  const bytes = Buffer.concat([frame('ok'), Buffer.from('ffffffffffffffff00000000', 'hex')]);
  const decoder = new TfrecordDecoder();
  assert.deepEqual(decoder.push(bytes).map(String), ['ok']);
  assert.throws(() => decoder.end(), /tfrecord: record 1 at byte 18: length CRC mismatch/);
});

test('a stream that stops inside a header or a record is an error, not a short success', () => {
  const bytes = frame('hello');
  for (const cut of [1, 11, 12, 16, 20]) {
    const decoder = new TfrecordDecoder();
    assert.deepEqual(decoder.push(bytes.subarray(0, cut)), []);
    assert.throws(() => decoder.end(), cut < 12 ? /record 0 at byte 0: the stream ends inside a record header/ : /record 0 at byte 0: the stream ends inside a record: \d+ of its 21 bytes/);
  }
});
