/**
 * RecordIO decoding beyond single-part records: multi-part records split at random points read
 * as their concatenated payloads (SageMaker's readers' rule), and every corruption is reported
 * with the record index and byte offset.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isPipemodeError } from '../core/errors.js';
import { Prng } from '../../test/helpers/random-records.js';
import { RECORDIO_CFLAG, recordioEncoder, recordioPadding, recordioPartHeader } from './recordio.js';
import { RecordioDecoder } from './recordio-decoder.js';
import { randomChunks, randomRecord } from '../../test/helpers/random-records.js';

function part(payload: Buffer, cflag: number): Buffer {
  return Buffer.concat([recordioPartHeader(payload.length, cflag), payload, recordioPadding(payload.length)]);
}

/** `payload` as `count` parts cut at random points (parts may be empty). */
function randomParts(prng: Prng, payload: Buffer, count: number): Buffer {
  const cuts = Array.from({ length: count - 1 }, () => prng.below(payload.length + 1)).sort((a, b) => a - b);
  const bounds = [0, ...cuts, payload.length];
  return Buffer.concat(bounds.slice(1).map((end, i) => {
    const cflag = i === 0 ? RECORDIO_CFLAG.FIRST : i === count - 1 ? RECORDIO_CFLAG.LAST : RECORDIO_CFLAG.MIDDLE;
    return part(payload.subarray(bounds[i], end), cflag);
  }));
}

function decode(bytes: Buffer, chunks: readonly Buffer[] = [bytes]): { records: Buffer[]; error: unknown } {
  const decoder = new RecordioDecoder({ source: 'test.rec' });
  const records: Buffer[] = [];
  try {
    for (const c of chunks) records.push(...decoder.push(c));
    records.push(...decoder.end());
    return { records, error: undefined };
  } catch (error) {
    return { records, error };
  }
}

test('multi-part records split at random points read as their concatenated payloads, mixed with single parts', () => {
  for (let seed = 1n; seed <= 5n; seed++) {
    const prng = new Prng(seed, 99);
    const records = Array.from({ length: 30 }, () => randomRecord(prng, 300 * 1024));
    const stream = Buffer.concat(records.map((r) => (prng.below(2) === 0 ? Buffer.concat(recordioEncoder.encode(r)) : randomParts(prng, r, 2 + prng.below(5)))));
    const { records: got, error } = decode(stream, randomChunks(prng, stream, 70_000));
    assert.equal(error, undefined);
    const multi = new RecordioDecoder();
    const one = randomParts(prng, Buffer.from('0123456789'), 3);
    multi.push(Buffer.concat([part(Buffer.from('ab'), 0), one]));
    assert.deepEqual(multi.starts, [0, 12], 'a multi-part record starts at its first part');
    assert.equal(got.length, records.length);
    for (const [i, r] of records.entries()) assert.ok(r.equals(got[i] as Buffer), `seed ${seed} record ${i}`);
  }
});

function assertFormatError(error: unknown, record: number, offset: number, pattern: RegExp): void {
  assert.ok(isPipemodeError(error), String(error));
  assert.equal(error.code, 'PM_ERR_RECORD_FORMAT');
  assert.deepEqual([error.details.record, error.details.offset, error.details.format, error.details.source], [record, offset, 'recordio', 'test.rec']);
  assert.match(error.message, new RegExp(`^recordio: record ${record} at byte ${offset} of test\\.rec: `));
  assert.match(error.message, pattern);
}

test('a bad magic names the record and its offset; the records before it are returned first', () => {
  const good = Buffer.concat([part(Buffer.from('one'), 0), part(Buffer.from('two'), 0)]);
  const bad = Buffer.concat([good, Buffer.from('garbage!')]);
  const { records, error } = decode(bad);
  assert.deepEqual(records.map(String), ['one', 'two']);
  assertFormatError(error, 2, 24, /bad magic 0x62726167 \(expected 0xced7230a/);
});

test('part flags out of sequence, and flags above 3, are errors at the offending part', () => {
  const a = part(Buffer.from('a'), 0);
  const cases: [Buffer, number, number, RegExp][] = [
    [Buffer.concat([a, part(Buffer.from('b'), RECORDIO_CFLAG.LAST)]), 1, 12, /part flag 3 continues a multi-part record that never began/],
    [Buffer.concat([a, part(Buffer.from('b'), RECORDIO_CFLAG.FIRST), part(Buffer.from('c'), RECORDIO_CFLAG.FIRST)]), 1, 24, /part flag 1 inside the multi-part record that began at byte 12/],
    [Buffer.concat([a, part(Buffer.from('b'), RECORDIO_CFLAG.FIRST), part(Buffer.from('c'), 0)]), 1, 24, /part flag 0 inside/],
    [Buffer.concat([a, part(Buffer.from('b'), 5)]), 1, 12, /invalid part flag 5/],
  ];
  for (const [bytes, record, offset, pattern] of cases) {
    for (const chunks of [[bytes], [...bytes].map((x) => Buffer.from([x]))]) {
      const { records, error } = decode(bytes, chunks);
      assert.deepEqual(records.map(String), ['a']);
      assertFormatError(error, record, offset, pattern);
    }
  }
});

test('a stream that ends inside a header, a payload, its padding or a multi-part record is truncated, never short', () => {
  const whole = Buffer.concat([part(Buffer.from('abc'), 0), part(Buffer.from('hello'), 0)]);
  for (const cut of [13, 15, 20, 23]) {
    const { records, error } = decode(whole.subarray(0, cut));
    assert.deepEqual(records.map(String), ['abc']);
    assertFormatError(error, 1, 12, cut < 20 ? /ends inside a part/ : /ends inside a part: \d+ of its 16 bytes/);
  }
  const { error } = decode(whole.subarray(0, 14));
  assertFormatError(error, 1, 12, /ends inside a part header \(2 of 8 bytes\)/);
  const open = Buffer.concat([part(Buffer.from('x'), 0), part(Buffer.from('start'), RECORDIO_CFLAG.FIRST), part(Buffer.from('mid'), RECORDIO_CFLAG.MIDDLE)]);
  const r = decode(open);
  assert.deepEqual(r.records.map(String), ['x']);
  assertFormatError(r.error, 1, 40, /ends inside a multi-part record that began at byte 12/);
});

test('after an error the decoder stays failed', () => {
  const decoder = new RecordioDecoder();
  assert.throws(() => decoder.push(Buffer.from('not recordio')), { code: 'PM_ERR_RECORD_FORMAT' });
  assert.throws(() => decoder.push(part(Buffer.from('a'), 0)), { code: 'PM_ERR_RECORD_FORMAT' });
});

test('records larger than 2^29 - 1 bytes cannot be encoded', () => {
  assert.throws(() => recordioEncoder.encode(Buffer.alloc(2 ** 29)), { code: 'PM_ERR_RECORD_TOO_LARGE' });
});
