/**
 * Round-trip properties of every record format: random records of 0 to 300 KiB, encoded, cut
 * into random chunks (single bytes included), decoded: the same records in the same order, and
 * records that lie inside one chunk are views of it (no copy).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Prng } from '../../test/helpers/random-records.js';
import { RECORD_FORMATS, type RecordFormat } from './record-interfaces.js';
import { createRecordDecoder, parseRecordFormat, recordEncoderFor } from './record-registry.js';
import { decodeRecords } from './decode-records.js';
import { randomChunks, randomRecord } from '../../test/helpers/random-records.js';

function roundTrip(format: RecordFormat, seed: bigint): void {
  const prng = new Prng(seed, RECORD_FORMATS.indexOf(format));
  const records = Array.from({ length: 40 + prng.below(40) }, () => randomRecord(prng, 300 * 1024, format === 'lines' ? 0x0a : undefined));
  const encoder = recordEncoderFor(format);
  const pieces = records.flatMap((r) => encoder.encode(r));
  const stream = Buffer.concat(pieces);
  assert.equal(stream.length, records.reduce((n, r) => n + encoder.framedLength(r.length), 0));
  for (const max of [1 + prng.below(64), 64 * 1024, 1 << 20]) {
    const decoder = createRecordDecoder(format);
    const decoded: Buffer[] = [];
    for (const chunk of randomChunks(prng, stream, max)) {
      for (const r of decoder.push(chunk)) {
        decoded.push(r);
        // a record inside one chunk is a view of it
        if (r.length > 0 && r.buffer === chunk.buffer) assert.ok(r.byteOffset >= chunk.byteOffset && r.byteOffset + r.length <= chunk.byteOffset + chunk.length);
      }
    }
    decoded.push(...decoder.end());
    assert.equal(decoded.length, records.length, `${format} seed ${seed} max chunk ${max}`);
    for (const [i, r] of records.entries()) assert.ok(r.equals(decoded[i] as Buffer), `${format} seed ${seed}: record ${i} (${r.length} bytes)`);
    assert.equal(decoder.records, records.length);
    assert.equal(decoder.offset, stream.length);
  }
}

for (const format of RECORD_FORMATS) {
  test(`${format}: random records of 0-300 KiB survive encode → random chunking → decode`, () => {
    for (const seed of [1n, 2n, 3n]) roundTrip(format, seed);
  });

  test(`${format}: a record inside one chunk is returned without a copy`, () => {
    const record = Buffer.alloc(100 * 1024, 7);
    const chunk = Buffer.concat(recordEncoderFor(format).encode(record));
    const decoder = createRecordDecoder(format);
    const [got] = [...decoder.push(chunk), ...decoder.end()];
    assert.ok(got?.equals(record));
    assert.equal(got?.buffer, chunk.buffer, 'shares the chunk\'s memory');
  });

  test(`${format}: an empty stream has no records`, () => {
    const decoder = createRecordDecoder(format);
    assert.deepEqual([...decoder.push(Buffer.alloc(0)), ...decoder.end()], []);
  });
}

test('decodeRecords drives a decoder over async chunks and stops pulling when the consumer stops', async () => {
  const encoder = recordEncoderFor('tfrecord');
  let pulled = 0;
  async function* chunks(): AsyncGenerator<Buffer> {
    for (let i = 0; i < 100; i++) {
      pulled++;
      yield Buffer.concat(encoder.encode(Buffer.from(`record ${i}`)));
    }
  }
  const got: string[] = [];
  for await (const r of decodeRecords(chunks(), createRecordDecoder('tfrecord'))) {
    got.push(r.toString());
    if (got.length === 3) break;
  }
  assert.deepEqual(got, ['record 0', 'record 1', 'record 2']);
  assert.equal(pulled, 3);
});

test('format names parse case-insensitively and a typo gets a suggestion', () => {
  assert.equal(parseRecordFormat('TFRecord', '--format'), 'tfrecord');
  assert.throws(() => parseRecordFormat('recrodio', '--format'), /--format must be one of recordio, tfrecord, protobuf, lines, got "recrodio" \(did you mean "recordio"\?\)/);
  assert.throws(() => parseRecordFormat('lines', '--to', ['recordio', 'tfrecord', 'protobuf']), { code: 'PM_ERR_CONFIG' });
});

test('starts gives the stream offset of each record returned, multi-part records at their first part', () => {
  const recordio = createRecordDecoder('recordio');
  const two = Buffer.concat([...recordEncoderFor('recordio').encode(Buffer.from('abcde')), ...recordEncoderFor('recordio').encode(Buffer.from('x'))]);
  assert.equal(recordio.push(two).length, 2);
  assert.deepEqual(recordio.starts, [0, 16]);
  const lines = createRecordDecoder('lines');
  lines.push(Buffer.from('ab\ncd'));
  assert.deepEqual(lines.starts, [0]);
  lines.push(Buffer.from('e\nf'));
  assert.deepEqual(lines.starts, [3]);
  lines.end();
  assert.deepEqual(lines.starts, [7]);
  const tf = createRecordDecoder('tfrecord');
  tf.push(Buffer.concat(['', 'abc'].flatMap((r) => recordEncoderFor('tfrecord').encode(Buffer.from(r)))));
  assert.deepEqual(tf.starts, [0, 16]);
});
