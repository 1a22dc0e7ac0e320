import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setImmediate as tick } from 'node:timers/promises';
import { ObjectChangedError, RetriesExhaustedError, TransientStoreError } from '../core/errors.js';
import { MemoryStore, ramp, type MemoryStoreOptions, type ReadRequest } from '../storage/memory/memory-store.js';
import { ByteBudget } from './byte-budget.js';
import { MountStats } from './mount-stats.js';
import { MountTree, type FileNode } from './mount-tree.js';
import type { FetchContext } from './range-part.js';
import { ReadAhead, type ReadAheadOptions } from './read-ahead.js';
import { RequestSlots } from './request-slots.js';

const KiB = 1024;
const MiB = 1024 * KiB;
const OPTIONS: ReadAheadOptions = { partSize: 1 * MiB, initialWindow: 256 * KiB, maxWindow: 4 * MiB };

interface Fixture {
  readonly store: MemoryStore;
  readonly file: FileNode;
  readonly ctx: FetchContext;
  readonly body: Buffer;
  readonly requests: ReadRequest[];
}

async function fixture(size: number, budget = 16 * MiB, storeOptions: MemoryStoreOptions = {}): Promise<Fixture> {
  const requests: ReadRequest[] = [];
  const store = new MemoryStore({ chunkSize: 64 * KiB, ...storeOptions, onRead: (r) => requests.push(r) });
  const body = ramp(size, 3);
  store.put('data/f.bin', body);
  const info = await store.head('data/f.bin');
  const tree = MountTree.build([{ store, info, rel: 'f.bin' }], 0);
  const ctx: FetchContext = {
    budget: new ByteBudget(budget), slots: new RequestSlots(8), stats: new MountStats(),
    retry: { maxAttempts: 3, baseDelayMs: 1, maxDelayMs: 2 },
  };
  return { store, file: tree.files[0] as FileNode, ctx, body, requests };
}

async function readAt(r: ReadAhead, offset: number, length: number): Promise<Buffer> {
  const got = await r.readSlices(offset, length);
  const bytes = Buffer.concat(got.slices);
  got.release();
  assert.equal(bytes.length, got.bytes);
  return bytes;
}

/** Waits until no GET is in flight (prefetches finish in the background). */
async function settle(ctx: FetchContext): Promise<void> {
  while (ctx.slots.inFlight > 0) await tick();
}

test('sequential 128 KiB reads return the exact bytes with few, growing GETs', async () => {
  const size = 10 * MiB + 12345;
  const f = await fixture(size);
  const r = new ReadAhead(f.file, f.ctx, OPTIONS);
  const out: Buffer[] = [];
  for (let offset = 0; offset < size; offset += 128 * KiB) out.push(await readAt(r, offset, 128 * KiB));
  assert.ok(Buffer.concat(out).equals(f.body));
  assert.equal((await readAt(r, size, 128 * KiB)).length, 0, 'EOF');
  assert.ok(f.requests.length < 20, `${f.requests.length} GETs for ${out.length} reads`);
  const lengths = f.requests.map((q) => q.end - q.start);
  assert.ok(lengths.some((l) => l === OPTIONS.partSize), 'requests grow to the part size');
  assert.ok(Math.max(...lengths) <= OPTIONS.partSize);
  assert.equal(f.ctx.stats.bytesFetched, size, 'nothing fetched twice');
  r.close();
  await settle(f.ctx);
  assert.equal(f.ctx.budget.used, 0, 'everything released after close');
  assert.ok(f.ctx.budget.peak <= OPTIONS.maxWindow + OPTIONS.partSize + 2 * MiB + 128 * KiB, `peak ${f.ctx.budget.peak}`);
});

test('random reads fetch only the bytes asked for', async () => {
  const size = 8 * MiB;
  const f = await fixture(size);
  const r = new ReadAhead(f.file, f.ctx, OPTIONS);
  const offsets = [5 * MiB, 1 * MiB + 7, 7 * MiB + 100, 3 * MiB, 6 * MiB - 1];
  let asked = 0;
  for (const offset of offsets) {
    const got = await readAt(r, offset, 4096);
    assert.ok(got.equals(f.body.subarray(offset, offset + 4096)), `at ${offset}`);
    asked += got.length;
  }
  await settle(f.ctx);
  assert.equal(f.ctx.stats.bytesFetched, asked);
  r.close();
  assert.equal(f.ctx.budget.used, 0);
});

test('concurrent reads that arrive out of order get the right bytes and fetch nothing twice', async () => {
  const size = 4 * MiB;
  const f = await fixture(size);
  const r = new ReadAhead(f.file, f.ctx, OPTIONS);
  const order = [1, 0, 3, 2, 5, 4, 6, 7, 9, 8, ...Array.from({ length: 22 }, (_, i) => i + 10)];
  const reads = order.map(async (i) => ({ i, bytes: await readAt(r, i * 128 * KiB, 128 * KiB) }));
  for (const { i, bytes } of await Promise.all(reads)) assert.ok(bytes.equals(f.body.subarray(i * 128 * KiB, (i + 1) * 128 * KiB)), `block ${i}`);
  await settle(f.ctx);
  assert.equal(f.ctx.stats.bytesFetched, size);
  r.close();
  assert.equal(f.ctx.budget.used, 0);
});

test('read-ahead stays within the budget; reads still complete when it is full', async () => {
  const size = 6 * MiB;
  const f = await fixture(size, 1 * MiB);
  const other = f.ctx.budget;
  other.force(1 * MiB); // someone else holds the whole budget
  const r = new ReadAhead(f.file, f.ctx, OPTIONS);
  const out: Buffer[] = [];
  for (let offset = 0; offset < size; offset += 128 * KiB) {
    out.push(await readAt(r, offset, 128 * KiB));
    assert.ok(other.used <= 1 * MiB + 256 * KiB + 2 * MiB, `used ${other.used}`);
  }
  assert.ok(Buffer.concat(out).equals(f.body));
  r.close();
  await settle(f.ctx);
  assert.equal(other.used, 1 * MiB);
});

test('an object that changed after listing fails the read with its typed error, not wrong bytes', async () => {
  const f = await fixture(1 * MiB);
  const r = new ReadAhead(f.file, f.ctx, OPTIONS);
  f.store.put('data/f.bin', ramp(1 * MiB, 9));
  await assert.rejects(readAt(r, 0, 128 * KiB), ObjectChangedError);
  await assert.rejects(readAt(r, 128 * KiB, 128 * KiB), ObjectChangedError, 'and again on the next read');
  r.close();
  await settle(f.ctx);
  assert.equal(f.ctx.budget.used, 0);
});

test('a connection cut mid-part is resumed where it stopped', async () => {
  const size = 3 * MiB;
  const f = await fixture(size, 16 * MiB, { faults: (q) => (q.nth === 1 ? { kind: 'cut', afterBytes: 100_000 } : undefined) });
  const r = new ReadAhead(f.file, f.ctx, OPTIONS);
  const out: Buffer[] = [];
  for (let offset = 0; offset < size; offset += 128 * KiB) out.push(await readAt(r, offset, 128 * KiB));
  assert.ok(Buffer.concat(out).equals(f.body));
  assert.equal(f.ctx.stats.retries, 1);
  assert.ok(f.requests.some((q) => q.nth > 1 && q.start === 100_000), 'the retry asks for the missing bytes only');
  r.close();
});

test('transient failures past the retry limit end in RetriesExhaustedError', async () => {
  const f = await fixture(256 * KiB, 16 * MiB, { faults: () => ({ kind: 'fail', error: new TransientStoreError('503 SlowDown') }) });
  const r = new ReadAhead(f.file, f.ctx, OPTIONS);
  await assert.rejects(readAt(r, 0, 4096), RetriesExhaustedError);
  r.close();
  await settle(f.ctx);
  assert.equal(f.ctx.budget.used, 0);
});

test('closing a file while a read waits lets that read finish with the right bytes', async () => {
  const f = await fixture(2 * MiB);
  const r = new ReadAhead(f.file, f.ctx, OPTIONS);
  const pending = readAt(r, 0, 128 * KiB);
  r.close();
  assert.ok((await pending).equals(f.body.subarray(0, 128 * KiB)));
  await settle(f.ctx);
  assert.equal(f.ctx.budget.used, 0);
});
