import { test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { ioBuffers } from '../core/buffer-pool.js';
import { FileStore } from '../storage/file/file-store.js';
import { MemoryStore, ramp } from '../storage/memory/memory-store.js';
import { NoSuchKeyError, TransientStoreError } from '../core/errors.js';
import type { Unit } from '../manifest/unit.js';
import type { FetchOptions } from './fetch-options.js';
import { FetchStats, Prefetcher } from './prefetcher.js';
import { withFiles } from '../../test/helpers/temp-files.js';

const KiB = 1024;
const fast: FetchOptions = { partSize: 64 * KiB, maxRequests: 8, memoryBudget: 512 * KiB, retry: { maxAttempts: 4, baseDelayMs: 1, maxDelayMs: 5 } };

async function unitsOf(store: MemoryStore, keys: string[], known: boolean): Promise<Unit[]> {
  return Promise.all(keys.map(async (key) => ({ kind: 'object' as const, store, key, info: known ? await store.head(key) : undefined })));
}

async function drain(p: Prefetcher): Promise<{ bodies: Buffer[]; sizes: number[] }> {
  const bodies: Buffer[] = [];
  const sizes: number[] = [];
  for await (const u of p) {
    const parts: Buffer[] = [];
    for await (const batch of u.chunks) parts.push(...batch);
    bodies.push(Buffer.concat(parts));
    sizes.push(u.size);
  }
  return { bodies, sizes };
}

const SIZES = [0, 1, 64 * KiB - 1, 64 * KiB, 64 * KiB + 1, 3 * 64 * KiB + 5, 1000, 0, 200 * KiB];

for (const known of [true, false]) {
  test(`delivers every object's bytes in order (${known ? 'listed sizes' : 'sizes from HEAD'})`, async () => {
    const store = new MemoryStore({ chunkSize: 10_000 });
    const keys = SIZES.map((size, i) => {
      store.put(`k${i}`, ramp(size, i));
      return `k${i}`;
    });
    const stats = new FetchStats();
    const { bodies, sizes } = await drain(new Prefetcher(await unitsOf(store, keys, known), fast, stats));
    assert.deepEqual(sizes, SIZES);
    bodies.forEach((b, i) => assert.ok(b.equals(ramp(SIZES[i] ?? 0, i)), `object ${i}`));
    assert.equal(stats.buffered, 0);
    assert.equal(stats.reserved, 0);
    assert.equal(stats.headRequests, known ? 0 : SIZES.length);
  });
}

test("a store's read-ahead cap bounds the window below the budget, never below one part, and every byte arrives", async () => {
  for (const cap of [128 * KiB, 1]) {
    // a store that answers at once (like local files) and says a deep window gains nothing
    const store = Object.assign(new MemoryStore(), { readAheadBytes: cap });
    const keys = Array.from({ length: 12 }, (_, i) => `f${i}`);
    for (const [i, k] of keys.entries()) store.put(k, ramp(100 * KiB + i, i));
    const stats = new FetchStats();
    const p = new Prefetcher(await unitsOf(store, keys, true), fast, stats);
    const it = p[Symbol.asyncIterator]();
    assert.equal((await it.next()).done, false);
    await sleep(100); // the consumer stalls: fetching stops at the cap, not at the 512 KiB budget
    const window = Math.max(cap, fast.partSize);
    assert.ok(stats.peakReserved <= window, `cap ${cap}: reserved ${stats.peakReserved} > ${window}`);
    assert.ok(stats.bytesFetched >= Math.min(window, 64 * KiB), `cap ${cap}: fetched ahead ${stats.bytesFetched}`);
    p.close();
    const { bodies } = await drain(new Prefetcher(await unitsOf(store, keys, true), fast, new FetchStats()));
    bodies.forEach((b, i) => assert.ok(b.equals(ramp(100 * KiB + i, i)), `cap ${cap}: object ${i}`));
  }
});

test('inline units pass through in place', async () => {
  const store = new MemoryStore().put('a', ramp(100));
  const units: Unit[] = [
    { kind: 'inline', bytes: Buffer.from('x'), origin: 'test' },
    ...(await unitsOf(store, ['a'], false)),
    { kind: 'inline', bytes: Buffer.alloc(0), origin: 'test' },
  ];
  const { bodies } = await drain(new Prefetcher(units, fast));
  assert.deepEqual(bodies, [Buffer.from('x'), ramp(100), Buffer.alloc(0)]);
});

test('many small objects are fetched concurrently, never more than maxRequests at once', async () => {
  const store = new MemoryStore();
  const keys = Array.from({ length: 100 }, (_, i) => `small/${String(i).padStart(3, '0')}`);
  for (const [i, k] of keys.entries()) store.put(k, ramp(100, i));
  const { bodies } = await drain(new Prefetcher(await unitsOf(store, keys, true), fast));
  assert.equal(bodies.length, keys.length);
  bodies.forEach((b, i) => assert.ok(b.equals(ramp(100, i)), `object ${i}`));
  assert.equal(store.peakActive, fast.maxRequests);
});

test('the first GET is alone and at most 1 MiB; then the full window of parts opens', async () => {
  const MiB = 1024 * KiB;
  const seen: { start: number; end: number; activeBefore: number }[] = [];
  const store: MemoryStore = new MemoryStore({ chunkSize: 256 * KiB, onRead: (r) => seen.push({ start: r.start, end: r.end, activeBefore: store.active }) });
  store.put('big', ramp(20 * MiB, 5));
  const options: FetchOptions = { ...fast, partSize: 4 * MiB, memoryBudget: 32 * MiB };
  const { bodies } = await drain(new Prefetcher(await unitsOf(store, ['big'], true), options));
  assert.ok(bodies[0]?.equals(ramp(20 * MiB, 5)));
  assert.deepEqual(seen[0], { start: 0, end: MiB, activeBefore: 0 });
  assert.equal(seen[1]?.activeBefore, 0, 'the second GET starts after the first ended');
  assert.deepEqual(seen.slice(1).map((r) => r.end - r.start), [4 * MiB, 4 * MiB, 4 * MiB, 4 * MiB, 3 * MiB]);
  assert.ok(store.peakActive > 1, 'then parts overlap');
});

test('a paused consumer holds the fetched-ahead bytes under the memory budget', async () => {
  const store = new MemoryStore();
  const keys = Array.from({ length: 20 }, (_, i) => `big${i}`);
  for (const [i, k] of keys.entries()) store.put(k, ramp(256 * KiB, i));
  const stats = new FetchStats();
  const p = new Prefetcher(await unitsOf(store, keys, true), fast, stats);
  const it = p[Symbol.asyncIterator]();
  const first = await it.next();
  assert.equal(first.done, false);
  await sleep(200); // the consumer stalls; fetching must stop at the budget
  assert.ok(stats.bytesFetched >= fast.memoryBudget - fast.partSize, `fetched ahead: ${stats.bytesFetched}`);
  assert.ok(stats.bytesFetched <= fast.memoryBudget, `fetched ${stats.bytesFetched} > budget`);
  assert.ok(stats.peakReserved <= fast.memoryBudget);
  assert.equal(store.active, 0);
  p.close();
  assert.equal(stats.reserved, 0);
  assert.equal(stats.buffered, 0);
});

test('transient failures are retried from the delivered offset', async () => {
  const starts: number[] = [];
  const store = new MemoryStore({
    chunkSize: 1000,
    faults: (r) => (r.nth === 1 ? { kind: 'cut', afterBytes: 12_345 } : r.nth === 2 ? { kind: 'fail', error: new TransientStoreError('503 SlowDown') } : undefined),
    onRead: (r) => starts.push(r.start),
  });
  store.put('obj', ramp(50_000, 3));
  const stats = new FetchStats();
  const { bodies } = await drain(new Prefetcher(await unitsOf(store, ['obj'], true), fast, stats));
  assert.ok(bodies[0]?.equals(ramp(50_000, 3)));
  assert.deepEqual(starts, [0, 12_345, 12_345]);
  assert.equal(stats.retries, 2);
});

test('when retries run out the consumer gets RetriesExhaustedError, not a short stream', async () => {
  const store = new MemoryStore({ faults: () => ({ kind: 'fail', error: new TransientStoreError('503') }) });
  store.put('obj', ramp(1000));
  await assert.rejects(drain(new Prefetcher(await unitsOf(store, ['obj'], true), fast)), { code: 'PM_ERR_RETRIES_EXHAUSTED' });
});

test('an object replaced after listing fails with ObjectChangedError', async () => {
  const store = new MemoryStore().put('obj', ramp(1000));
  const units = await unitsOf(store, ['obj'], true);
  store.put('obj', ramp(1000, 9));
  await assert.rejects(drain(new Prefetcher(units, fast)), { code: 'PM_ERR_OBJECT_CHANGED' });
});

test('a missing manifest entry fails the stream with NoSuchKeyError and stops all requests', async () => {
  const store = new MemoryStore();
  for (let i = 0; i < 30; i++) store.put(`k${i}`, ramp(200 * KiB, i));
  const units = await unitsOf(store, Array.from({ length: 30 }, (_, i) => (i === 5 ? 'missing' : `k${i}`)), false);
  const p = new Prefetcher(units, fast);
  await assert.rejects(drain(p), (err) => err instanceof NoSuchKeyError);
  await sleep(20);
  assert.equal(store.active, 0);
});

test('close() stops fetching and frees everything', async () => {
  const store = new MemoryStore();
  for (let i = 0; i < 10; i++) store.put(`k${i}`, ramp(300 * KiB, i));
  const stats = new FetchStats();
  const p = new Prefetcher(await unitsOf(store, Array.from({ length: 10 }, (_, i) => `k${i}`), true), fast, stats);
  await sleep(5);
  p.close();
  await sleep(20);
  assert.equal(store.active, 0);
  assert.equal(stats.reserved, 0);
  assert.equal(stats.buffered, 0);
});

test('an aborted signal ends the stream with AbortedError', async () => {
  const store = new MemoryStore().put('a', ramp(100 * KiB));
  const ac = new AbortController();
  const p = new Prefetcher(await unitsOf(store, ['a'], true), fast, new FetchStats(), ac.signal);
  ac.abort();
  await assert.rejects(drain(p), { code: 'PM_ERR_ABORTED' });
});

test('options are checked: the budget must hold at least one part', () => {
  assert.throws(() => new Prefetcher([], { ...fast, memoryBudget: fast.partSize - 1 }), { code: 'PM_ERR_CONFIG' });
});

test('retry backoff doubles from the base and is capped, with jitter in [d/2, d]', async () => {
  const { backoffDelay } = await import('../storage/retry.js');
  const policy = { maxAttempts: 20, baseDelayMs: 100, maxDelayMs: 2000 };
  for (let attempt = 1; attempt <= 20; attempt++) {
    const ceiling = Math.min(2000, 100 * 2 ** (attempt - 1));
    for (let i = 0; i < 50; i++) {
      const d = backoffDelay(policy, attempt);
      assert.ok(d >= Math.floor(ceiling / 2) && d <= ceiling, `attempt ${attempt}: ${d}`);
    }
  }
});

test('the prefetcher holds a small file in its exact-size buffer (no pooled buffer, no copy)', async () => {
  const small = ramp(8 * 1024, 3);
  await withFiles({ small }, async (dir) => {
    const store = new FileStore();
    const key = path.join(dir, 'small').slice(1);
    const prefetcher = new Prefetcher([{ kind: 'object', store, key, info: await store.head(key) }], {
      partSize: 1 << 20, maxRequests: 2, memoryBudget: 16 << 20, retry: { maxAttempts: 1, baseDelayMs: 1, maxDelayMs: 1 },
    });
    const chunks: Buffer[] = [];
    for await (const unit of prefetcher) for await (const batch of unit.chunks) chunks.push(...batch);
    assert.equal(chunks.length, 1);
    const chunk = chunks[0] as Buffer;
    assert.equal(ioBuffers.owns(chunk), false);
    assert.equal(chunk.buffer.byteLength, small.length);
    assert.ok(chunk.equals(small));
  });
});

test('units from an async source: fetched as they arrive, the stream ends with the source, a source failure poisons it', async () => {
  const store = new MemoryStore({ chunkSize: 10_000 });
  const keys = SIZES.map((size, i) => {
    store.put(`k${i}`, ramp(size, i));
    return `k${i}`;
  });
  const units = await unitsOf(store, keys, true);
  let release: () => void = () => {};
  const held = new Promise<void>((r) => (release = r));
  async function* source(fail: boolean): AsyncGenerator<Unit[]> {
    yield units.slice(0, 3);
    await held; // the consumer must get the first units' bytes while the source waits
    yield units.slice(3, 6);
    if (fail) throw new TransientStoreError('listing failed', {});
    yield units.slice(6);
  }
  const bodies: Buffer[] = [];
  for await (const u of new Prefetcher(source(false), fast)) {
    const parts: Buffer[] = [];
    for await (const batch of u.chunks) parts.push(...batch);
    bodies.push(Buffer.concat(parts));
    if (u.index === 2) release();
  }
  assert.deepEqual(bodies, SIZES.map((size, i) => ramp(size, i)));
  await assert.rejects(drain(new Prefetcher(source(true), fast)), { code: 'PM_ERR_TRANSIENT', message: 'listing failed' });
});
