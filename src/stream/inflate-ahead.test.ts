import { test } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import zlib from 'node:zlib';
import { AccessDeniedError } from '../core/errors.js';
import { MemoryStore, ramp } from '../storage/memory/memory-store.js';
import type { FetchOptions } from '../fetch/fetch-options.js';
import { Prefetcher } from '../fetch/prefetcher.js';
import type { Unit } from '../manifest/unit.js';
import { frame } from '../../test/helpers/recordio.js';
import { frameUnits, type FramingOptions } from './frame-units.js';
import { GUNZIP_CHUNK, InflateStats } from './inflate-ahead.js';

const PART = 64 * 1024;
const fetch: FetchOptions = { partSize: PART, maxRequests: 4, memoryBudget: 1 << 20, retry: { maxAttempts: 2, baseDelayMs: 1, maxDelayMs: 1 } };

const sha256 = (b: Buffer): string => crypto.createHash('sha256').update(b).digest('hex');

/** Text-like bytes that compress to about half, so inflating takes real work. */
function text(size: number, seed: number): Buffer {
  const out = Buffer.alloc(size);
  let x = seed + 1;
  for (let i = 0; i < size; i++) {
    x = (x * 1103515245 + 12345) >>> 0;
    out[i] = (x >>> 16) % 11 === 0 ? 10 : 97 + ((x >>> 16) % 16);
  }
  return out;
}

interface Case {
  readonly plain: Buffer;
  readonly stored: Buffer;
}

/** Objects of mixed sizes: empty, tiny, text, highly compressible, multi-member. */
function mixedObjects(): Case[] {
  const cases: Case[] = [];
  for (let i = 0; i < 36; i++) {
    const kind = i % 6;
    if (kind === 0) {
      cases.push({ plain: Buffer.alloc(0), stored: Buffer.alloc(0) });
    } else if (kind === 1) {
      const plain = Buffer.from(`object ${i}\n`);
      cases.push({ plain, stored: zlib.gzipSync(plain) });
    } else if (kind === 2) {
      const plain = text(200_000 + i * 1000, i);
      cases.push({ plain, stored: zlib.gzipSync(plain) });
    } else if (kind === 3) {
      const plain = Buffer.alloc(3 << 20, i); // inflates 1000-fold: the output side must pause
      cases.push({ plain, stored: zlib.gzipSync(plain) });
    } else if (kind === 4) {
      const parts = [text(70_000, i), ramp(50_000, i), Buffer.from('tail')];
      cases.push({ plain: Buffer.concat(parts), stored: Buffer.concat(parts.map((p) => zlib.gzipSync(p))) });
    } else {
      const plain = ramp(1_000_000, i);
      cases.push({ plain, stored: zlib.gzipSync(plain, { level: 1 }) });
    }
  }
  return cases;
}

async function run(stored: Buffer[], options: Partial<FramingOptions>, consume?: (b: Buffer) => void): Promise<Buffer> {
  const store = new MemoryStore({ chunkSize: 7000 });
  stored.forEach((b, i) => store.put(`o${i}`, b));
  const units: Unit[] = stored.map((_, i) => ({ kind: 'object', store, key: `o${i}`, info: undefined }));
  const out: Buffer[] = [];
  const opts: FramingOptions = { compression: 'Gzip', recordWrapper: 'None', maxInflatedBytes: 8 << 20, ...options };
  for await (const batch of frameUnits(new Prefetcher(units, fetch), opts)) {
    for (const b of batch) {
      consume?.(b);
      out.push(b);
    }
  }
  return Buffer.concat(out);
}

for (const parallel of [1, 2, 4]) {
  test(`Gzip, ${parallel} object(s) at once: the inflated stream is exactly the objects' contents, in order, within the bound`, async () => {
    const cases = mixedObjects();
    const stats = new InflateStats();
    const aheadBytes = 512 * 1024;
    const out = await run(cases.map((c) => c.stored), { inflate: { aheadBytes, parallel, stats } });
    assert.equal(out.length, cases.reduce((n, c) => n + c.plain.length, 0));
    assert.equal(sha256(out), sha256(Buffer.concat(cases.map((c) => c.plain))));
    // the bound: the budget, plus one batch the driver took past it, plus one zlib chunk per inflater
    assert.ok(stats.peakHeld <= aheadBytes + PART + parallel * GUNZIP_CHUNK, `held at most ${stats.peakHeld} bytes`);
    assert.ok(stats.peakHeld > 0);
    assert.equal(stats.held, 0);
  });
}

test('Gzip + RecordIO with several objects at once: one record per inflated object, in order', async () => {
  const cases = mixedObjects().slice(0, 12);
  const out = await run(cases.map((c) => c.stored), { recordWrapper: 'RecordIO', inflate: { aheadBytes: 256 * 1024, parallel: 4 } });
  assert.equal(sha256(out), sha256(Buffer.concat(cases.map((c) => frame(c.plain)))));
});

test('a corrupt object among good ones fails with PM_ERR_GZIP naming it, after no more than the objects before it', async () => {
  const cases = mixedObjects().slice(0, 8);
  const stored = cases.map((c) => c.stored);
  const bad = 5; // a 1 MB ramp object: corrupt its deflate data in the middle
  const broken = Buffer.from(stored[bad] as Buffer);
  broken.fill(0xff, 100, 400);
  stored[bad] = broken;
  let delivered = 0;
  await assert.rejects(run(stored, { inflate: { aheadBytes: 256 * 1024, parallel: 4 } }, (b) => (delivered += b.length)), (err: Error & { code?: string }) => {
    assert.equal(err.code, 'PM_ERR_GZIP');
    assert.match(err.message, /mem:\/\/o5 is not valid gzip/);
    return true;
  });
  // never a short success: what came out is at most a prefix, and the bad object is not complete
  assert.ok(delivered < cases.slice(0, bad + 1).reduce((n, c) => n + c.plain.length, 0));
  // a truncated last object, and trailing garbage, fail the same way
  const good = zlib.gzipSync(text(100_000, 1));
  await assert.rejects(run([good, good, good.subarray(0, good.length - 10)], { inflate: { aheadBytes: 1 << 20, parallel: 3 } }), { code: 'PM_ERR_GZIP' });
  await assert.rejects(run([good, Buffer.concat([good, Buffer.from('garbage')]), good], { inflate: { aheadBytes: 1 << 20, parallel: 3 } }), { code: 'PM_ERR_GZIP' });
});

test('a fetch failure ends the inflated stream with the fetch error, not a gzip one', async () => {
  const good = zlib.gzipSync(text(300_000, 2));
  const store = new MemoryStore({ chunkSize: 7000, faults: (r) => (r.key === 'o2' ? { kind: 'fail', error: new AccessDeniedError('denied: o2') } : undefined) });
  for (let i = 0; i < 4; i++) store.put(`o${i}`, good);
  const units: Unit[] = [0, 1, 2, 3].map((i) => ({ kind: 'object', store, key: `o${i}`, info: undefined }));
  await assert.rejects(async () => {
    for await (const batch of frameUnits(new Prefetcher(units, fetch), { compression: 'Gzip', recordWrapper: 'None', maxInflatedBytes: 1 << 20, inflate: { aheadBytes: 1 << 20, parallel: 4 } })) void batch;
  }, { code: 'PM_ERR_ACCESS_DENIED' });
});

test('a consumer that stops early ends the stream: no inflater is left running', async () => {
  const cases = mixedObjects().slice(0, 12);
  const store = new MemoryStore({ chunkSize: 7000 });
  cases.forEach((c, i) => store.put(`o${i}`, c.stored));
  const units: Unit[] = cases.map((_, i) => ({ kind: 'object', store, key: `o${i}`, info: undefined }));
  const prefetcher = new Prefetcher(units, fetch);
  const stats = new InflateStats();
  let seen = 0;
  for await (const batch of frameUnits(prefetcher, { compression: 'Gzip', recordWrapper: 'None', maxInflatedBytes: 1 << 20, inflate: { aheadBytes: 256 * 1024, parallel: 4, stats } })) {
    seen += batch.length;
    if (seen > 3) break;
  }
  prefetcher.close();
  assert.ok(seen > 3);
});
