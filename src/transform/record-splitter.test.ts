import { test } from 'node:test';
import assert from 'node:assert/strict';
import { recordioEncoder } from '../records/recordio.js';
import { tfrecordEncoder } from '../records/tfrecord.js';
import { payloadMode, splitRecords, wholeObject } from './record-splitter.js';

async function* chunksOf(data: Buffer, size: number): AsyncGenerator<Buffer> {
  for (let i = 0; i < data.length; i += size) yield data.subarray(i, i + size);
}

async function collect<T>(it: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const x of it) out.push(x);
  return out;
}

const payloads = [Buffer.from('a'), Buffer.from(''), Buffer.from('hello world'), Buffer.alloc(1000, 7), Buffer.from('xyz')];

test('payloadMode: records for any SplitType but None; None streams only when MaxPayloadInMB is 0', () => {
  assert.equal(payloadMode('Line', 0), 'records');
  assert.equal(payloadMode('TFRecord', 6), 'records');
  assert.equal(payloadMode('None', 6), 'whole');
  assert.equal(payloadMode('None', 0), 'stream');
});

test('Line: lines without their "\\n", "\\r" kept, a last line without "\\n" still a record, at any chunking', async () => {
  const file = Buffer.from('a,b\r\nc\n\nlast');
  for (const size of [1, 2, 3, 5, 100]) {
    const got = (await collect(splitRecords(chunksOf(file, size), 'Line'))).map(String);
    assert.deepEqual(got, ['a,b\r', 'c', '', 'last'], `chunk size ${size}`);
  }
});

test('RecordIO and TFRecord: the payloads, framing and padding stripped, at any chunking', async () => {
  for (const [type, encoder] of [['RecordIO', recordioEncoder], ['TFRecord', tfrecordEncoder]] as const) {
    const file = Buffer.concat(payloads.flatMap((p) => encoder.encode(p)));
    for (const size of [1, 7, 64, file.length]) {
      const got = await collect(splitRecords(chunksOf(file, size), type));
      assert.deepEqual(got, payloads, `${type} chunk size ${size}`);
    }
  }
});

test('a file cut inside a record yields every whole record, then a RecordFormatError naming the file', async () => {
  const file = Buffer.concat(payloads.flatMap((p) => recordioEncoder.encode(p)));
  const got: Buffer[] = [];
  await assert.rejects(async () => {
    for await (const r of splitRecords(chunksOf(file.subarray(0, file.length - 2), 16), 'RecordIO', 's3://b/in.rec')) got.push(r);
  }, (err: Error & { code?: string }) => err.code === 'PM_ERR_RECORD_FORMAT' && err.message.includes('s3://b/in.rec'));
  assert.deepEqual(got, payloads.slice(0, -1));
});

test('splitting streams: records come out before the file has been read to its end', async () => {
  let pulled = 0;
  async function* slow(): AsyncGenerator<Buffer> {
    for (let i = 0; i < 1000; i++) {
      pulled++;
      yield Buffer.from(`line ${i}\n`);
    }
  }
  const it = splitRecords(slow(), 'Line');
  const first = await it.next();
  assert.equal(String(first.value), 'line 0');
  assert.ok(pulled <= 2, `pulled ${pulled} chunks for the first record`);
  await it.return();
});

test('SplitType None: the whole object, or PayloadTooLargeError once past the limit without reading further', async () => {
  const data = Buffer.alloc(100, 1);
  assert.deepEqual(await wholeObject(chunksOf(data, 10), 100), data);
  let pulled = 0;
  async function* counted(): AsyncGenerator<Buffer> {
    for (let i = 0; i < 100; i++) {
      pulled++;
      yield Buffer.alloc(10);
    }
  }
  await assert.rejects(wholeObject(counted(), 55, 's3://b/big.csv'), (err: Error & { code?: string; details?: Record<string, unknown> }) => {
    assert.equal(err.code, 'PM_ERR_PAYLOAD_TOO_LARGE');
    assert.match(err.message, /s3:\/\/b\/big\.csv/);
    assert.equal(err.details?.limit, 55);
    return true;
  });
  assert.equal(pulled, 6);
});
