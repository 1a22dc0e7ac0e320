import { test } from 'node:test';
import assert from 'node:assert/strict';
import zlib from 'node:zlib';
import { MemoryStore, ramp } from '../storage/memory/memory-store.js';
import type { FetchOptions } from '../fetch/fetch-options.js';
import { Prefetcher, type UnitData } from '../fetch/prefetcher.js';
import type { Unit } from '../manifest/unit.js';
import { frame } from '../../test/helpers/recordio.js';
import { frameUnits, type FramingOptions } from './frame-units.js';

const fetch: FetchOptions = { partSize: 64 * 1024, maxRequests: 4, memoryBudget: 1 << 20, retry: { maxAttempts: 2, baseDelayMs: 1, maxDelayMs: 1 } };

async function framed(bodies: Buffer[], options: Partial<FramingOptions>): Promise<Buffer> {
  const store = new MemoryStore({ chunkSize: 7000 });
  bodies.forEach((b, i) => store.put(`o${i}`, b));
  const units: Unit[] = bodies.map((_, i) => ({ kind: 'object', store, key: `o${i}`, info: undefined }));
  const out: Buffer[] = [];
  const opts = { compression: 'None', recordWrapper: 'None', maxInflatedBytes: 1 << 20, ...options } as const;
  for await (const batch of frameUnits(new Prefetcher(units, fetch), opts)) out.push(...batch);
  return Buffer.concat(out);
}

const bodies = [ramp(100_000, 1), Buffer.alloc(0), Buffer.from('abc'), ramp(5, 2), Buffer.from('abcd')];

test('no compression, no wrapper: objects are concatenated byte for byte', async () => {
  assert.ok((await framed(bodies, {})).equals(Buffer.concat(bodies)));
});

test('RecordIO wraps each object in one single-part record (empty objects too)', async () => {
  assert.ok((await framed(bodies, { recordWrapper: 'RecordIO' })).equals(Buffer.concat(bodies.map(frame))));
});

test('the published RecordIO test vectors (docs/formats/recordio.md)', async () => {
  assert.equal((await framed([Buffer.from('')], { recordWrapper: 'RecordIO' })).toString('hex'), '0a23d7ce00000000');
  assert.equal((await framed([Buffer.from('hello')], { recordWrapper: 'RecordIO' })).toString('hex'), '0a23d7ce0500000068656c6c6f000000');
  assert.equal((await framed([Buffer.from('abcd')], { recordWrapper: 'RecordIO' })).toString('hex'), '0a23d7ce0400000061626364');
});

test('Gzip inflates each object, including multi-member files and empty objects', async () => {
  const multi = Buffer.concat([zlib.gzipSync(ramp(70_000, 3)), zlib.gzipSync(Buffer.from('tail'))]);
  const out = await framed([zlib.gzipSync(ramp(300_000, 1)), Buffer.alloc(0), multi], { compression: 'Gzip' });
  assert.ok(out.equals(Buffer.concat([ramp(300_000, 1), ramp(70_000, 3), Buffer.from('tail')])));
});

test('Gzip + RecordIO: inflate, then wrap', async () => {
  const out = await framed([zlib.gzipSync(Buffer.from('hello')), zlib.gzipSync(ramp(90_001))], { compression: 'Gzip', recordWrapper: 'RecordIO' });
  assert.ok(out.equals(Buffer.concat([frame(Buffer.from('hello')), frame(ramp(90_001))])));
});

test('corrupt or truncated gzip fails with PM_ERR_GZIP naming the object', async () => {
  const good = zlib.gzipSync(ramp(50_000));
  await assert.rejects(framed([Buffer.from('not gzip at all')], { compression: 'Gzip' }), (err: Error & { code?: string }) => {
    assert.equal(err.code, 'PM_ERR_GZIP');
    assert.match(err.message, /mem:\/\/o0 is not valid gzip/);
    return true;
  });
  await assert.rejects(framed([good.subarray(0, good.length - 10)], { compression: 'Gzip' }), { code: 'PM_ERR_GZIP' });
  await assert.rejects(framed([Buffer.concat([good, Buffer.from('garbage')])], { compression: 'Gzip' }), { code: 'PM_ERR_GZIP' });
});

test('Gzip + RecordIO refuses an object that inflates beyond the memory cap', async () => {
  await assert.rejects(framed([zlib.gzipSync(Buffer.alloc(2 << 20))], { compression: 'Gzip', recordWrapper: 'RecordIO' }), { code: 'PM_ERR_MEMORY_BUDGET' });
});

test('RecordIO refuses a unit of 2^29 bytes or more before writing any of it', async () => {
  const huge: UnitData = { unit: { kind: 'inline', bytes: Buffer.alloc(0), origin: 'huge' }, index: 0, size: 2 ** 29, chunks: (async function* () {})() };
  const out: Buffer[][] = [];
  await assert.rejects(async () => {
    for await (const b of frameUnits((async function* () { yield huge; })(), { compression: 'None', recordWrapper: 'RecordIO', maxInflatedBytes: 1 })) out.push(b);
  }, { code: 'PM_ERR_RECORD_TOO_LARGE' });
  assert.equal(out.length, 0);
});
