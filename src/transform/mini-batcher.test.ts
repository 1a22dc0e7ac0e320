import { test } from 'node:test';
import assert from 'node:assert/strict';
import { recordioEncoder } from '../records/recordio.js';
import { tfrecordEncoder } from '../records/tfrecord.js';
import { concatBody, miniBatches, requestPieces, type BatcherOptions, type MiniBatch } from './mini-batcher.js';
import { BYTES_PER_MB, splitRecords } from './record-splitter.js';

async function* from<T>(items: readonly T[]): AsyncGenerator<T> {
  yield* items;
}

async function batches(records: readonly Buffer[], options: BatcherOptions): Promise<MiniBatch[]> {
  const out: MiniBatch[] = [];
  for await (const b of miniBatches(from(records), options)) out.push(b);
  return out;
}

/** Invariants every batching must keep: contiguous ranges covering all records once, bodies = framed records. */
function checkCover(got: readonly MiniBatch[], records: readonly Buffer[], options: BatcherOptions): void {
  let next = 0;
  for (const b of got) {
    assert.equal(b.first, next);
    assert.ok(b.count >= 1);
    assert.equal(b.records.length, b.count);
    assert.deepEqual(b.records, records.slice(b.first, b.first + b.count));
    const expected = Buffer.concat(b.records.flatMap((r) => requestPieces(r, options.splitType, options.batchStrategy)));
    assert.deepEqual(concatBody(b), expected);
    assert.equal(b.bytes, expected.length);
    if (options.maxPayloadInMB > 0) assert.ok(b.bytes <= options.maxPayloadInMB * BYTES_PER_MB);
    if (options.batchStrategy === 'SingleRecord') assert.equal(b.count, 1);
    next += b.count;
  }
  assert.equal(next, records.length);
}

const lines = Array.from({ length: 50 }, (_, i) => Buffer.from(`row-${i},${'x'.repeat(i * 997 % 300)}`));

test('MaxPayloadInMB counts MiB: 1 MB = 1,048,576 bytes', () => {
  assert.equal(BYTES_PER_MB, 1_048_576);
});

test('SingleRecord: one record per batch; Line records end with "\\n"', async () => {
  const options = { splitType: 'Line', batchStrategy: 'SingleRecord', maxPayloadInMB: 6 } as const;
  const got = await batches(lines, options);
  assert.equal(got.length, lines.length);
  assert.equal(concatBody(got[3] as MiniBatch).toString(), `${String(lines[3])}\n`);
  checkCover(got, lines, options);
});

test('MultiRecord Line: greedy packing within the limit, order kept, the body is the lines as in the file', async () => {
  const big = Array.from({ length: 40 }, (_, i) => Buffer.alloc(200_000 + i * 1000, 0x61 + (i % 26)));
  const options = { splitType: 'Line', batchStrategy: 'MultiRecord', maxPayloadInMB: 1 } as const;
  const got = await batches(big, options);
  checkCover(got, big, options);
  // greedy: the next batch's first record would not have fitted
  for (let i = 0; i + 1 < got.length; i++) {
    const b = got[i] as MiniBatch;
    assert.ok(b.bytes + (big[b.first + b.count] as Buffer).length + 1 > BYTES_PER_MB);
  }
  const all = Buffer.concat(got.map(concatBody));
  assert.deepEqual(all, Buffer.concat(big.flatMap((r) => [r, Buffer.from('\n')])));
});

test('a record exactly at the limit fits; one byte more is a PayloadTooLargeError naming file, record and sizes', async () => {
  const exact = Buffer.alloc(BYTES_PER_MB - 1, 0x62); // + "\n" = 1 MiB
  const options = { splitType: 'Line', batchStrategy: 'MultiRecord', maxPayloadInMB: 1, source: 's3://b/in.csv' } as const;
  checkCover(await batches([Buffer.from('a'), exact, Buffer.from('c')], options), [Buffer.from('a'), exact, Buffer.from('c')], options);
  const over = Buffer.alloc(BYTES_PER_MB, 0x62);
  await assert.rejects(batches([Buffer.from('a'), over], options), (err: Error & { code?: string; details?: Record<string, unknown> }) => {
    assert.equal(err.code, 'PM_ERR_PAYLOAD_TOO_LARGE');
    assert.match(err.message, /record 1 of s3:\/\/b\/in\.csv is 1048577 bytes as sent, more than MaxPayloadInMB=1 allows \(1048576 bytes\)/);
    assert.deepEqual(err.details, { source: 's3://b/in.csv', record: 1, size: BYTES_PER_MB + 1, limit: BYTES_PER_MB });
    return true;
  });
});

test('RecordIO/TFRecord: SingleRecord sends the bare payload, MultiRecord the framed records (padding kept)', async () => {
  const payloads = [Buffer.from('abc'), Buffer.from('de'), Buffer.from('fghij')];
  for (const [splitType, encoder] of [['RecordIO', recordioEncoder], ['TFRecord', tfrecordEncoder]] as const) {
    const file = Buffer.concat(payloads.flatMap((p) => encoder.encode(p)));
    const records: Buffer[] = [];
    for await (const r of splitRecords(from([file]), splitType)) records.push(r);

    const single = await batches(records, { splitType, batchStrategy: 'SingleRecord', maxPayloadInMB: 6 });
    assert.deepEqual(single.map(concatBody), payloads, splitType);

    const multi = await batches(records, { splitType, batchStrategy: 'MultiRecord', maxPayloadInMB: 6 });
    assert.equal(multi.length, 1);
    assert.deepEqual(concatBody(multi[0] as MiniBatch), file, `${splitType}: the body is the file's bytes`);
  }
});

test('MaxPayloadInMB 0: no limit (MultiRecord: one batch for the file)', async () => {
  const options = { splitType: 'Line', batchStrategy: 'MultiRecord', maxPayloadInMB: 0 } as const;
  const got = await batches(lines, options);
  assert.equal(got.length, 1);
  checkCover(got, lines, options);
});

test('invariants hold over many limits and strategies (deterministic sweep)', async () => {
  const records = Array.from({ length: 300 }, (_, i) => Buffer.alloc((i * 7919) % 40_000, i % 251));
  for (const batchStrategy of ['SingleRecord', 'MultiRecord'] as const) {
    for (const splitType of ['Line', 'RecordIO', 'TFRecord'] as const) {
      const options = { splitType, batchStrategy, maxPayloadInMB: 1 };
      checkCover(await batches(records, options), records, options);
    }
  }
});

test('an empty file gives no batch', async () => {
  assert.deepEqual(await batches([], { splitType: 'Line', batchStrategy: 'MultiRecord', maxPayloadInMB: 6 }), []);
});
