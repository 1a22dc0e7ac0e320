import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setImmediate as tick } from 'node:timers/promises';
import { createLogger } from '../core/log.js';
import { MemoryStore, ramp, type ReadRequest } from '../storage/memory/memory-store.js';
import { ByteBudget } from './byte-budget.js';
import { ChannelFs, ERRNO } from './channel-fs.js';
import { ROOT_ID, type NodeAttributes } from './fuse-protocol.js';
import { MountStats } from './mount-stats.js';
import { MountTree } from './mount-tree.js';
import type { FetchContext } from './range-part.js';
import { RequestSlots } from './request-slots.js';

const KiB = 1024;
const O_WRONLY = 1;
const O_RDWR = 2;
const O_TRUNC = 0o1000;

async function mounted(sizes: number[], budget = 8 * 1024 * KiB, requests: ReadRequest[] = []): Promise<{ fs: ChannelFs; store: MemoryStore; ctx: FetchContext; logs: string[] }> {
  const store = new MemoryStore({ chunkSize: 16 * KiB, onRead: (r) => requests.push(r) });
  const names = sizes.map((_, i) => `d/f${String(i).padStart(4, '0')}`);
  sizes.forEach((size, i) => store.put(names[i] as string, ramp(size, i)));
  const entries = await Promise.all(names.map(async (key) => ({ store, info: await store.head(key), rel: key.slice(2) })));
  const ctx: FetchContext = { budget: new ByteBudget(budget), slots: new RequestSlots(8), stats: new MountStats(), retry: { maxAttempts: 2, baseDelayMs: 1, maxDelayMs: 1 } };
  const logs: string[] = [];
  const fs = new ChannelFs(MountTree.build(entries, 1_700_000_000_000), ctx, {
    readAhead: { partSize: 256 * KiB, initialWindow: 64 * KiB, maxWindow: 1024 * KiB },
    nextFiles: { maxFiles: 64, headBytes: 64 * KiB, maxBytes: 2048 * KiB, horizonBytes: 4096 * KiB, partSize: 256 * KiB },
    uid: 1234, gid: 5678,
    log: createLogger('error', (l) => logs.push(l)),
  });
  return { fs, store, ctx, logs };
}

/** A read into `target` (the kernel's view: a byte count or a negative errno), through readSlices. */
async function readInto(fs: ChannelFs, handle: number, target: Buffer, length: number, position: number): Promise<number> {
  const got = await fs.readSlices(handle, length, position);
  if (typeof got === 'number') return got;
  try {
    return Buffer.concat([...got.slices]).copy(target);
  } finally {
    got.release();
  }
}

/** The node number of `path`, as the kernel would find it by LOOKUPs from the root. */
function id(fs: ChannelFs, path: string): number {
  let at = ROOT_ID;
  for (const name of path.split('/').filter((n) => n !== '')) {
    const a = fs.lookup(at, name);
    assert.ok(typeof a !== 'number', `lookup ${name} in ${at}: errno ${typeof a === 'number' ? a : 0}`);
    at = a.ino;
  }
  assert.equal(fs.idOf(path), at);
  return at;
}

async function readWhole(fs: ChannelFs, path: string, expected: Buffer): Promise<Buffer> {
  const h = fs.open(id(fs, path), 0);
  assert.ok(h > 0, `open ${path}: ${h}`);
  const out: Buffer[] = [];
  for (let pos = 0; ; pos += 32 * KiB) {
    const b = Buffer.alloc(32 * KiB);
    const n = await readInto(fs, h, b, b.length, pos);
    assert.ok(n >= 0, `read ${path}: ${n}`);
    if (n === 0) break;
    out.push(b.subarray(0, n));
  }
  assert.equal(fs.release(h), 0);
  const whole = Buffer.concat(out);
  assert.equal(whole.length, expected.length, `${path}: length`);
  assert.ok(whole.equals(expected), `${path}: bytes differ from the expected content`);
  return whole;
}

test('attributes: files 0444 and folders 0555 of the mounting user, sizes from the listing', async () => {
  const { fs } = await mounted([10, 0]);
  const file = fs.attributes(id(fs, '/f0000')) as NodeAttributes;
  assert.equal(file.mode, 0o100444);
  assert.equal(file.size, 10);
  assert.equal(file.uid, 1234);
  assert.equal(file.gid, 5678);
  assert.equal(file.mtime, 1_700_000_000_000);
  const root = fs.attributes(ROOT_ID) as NodeAttributes;
  assert.equal(root.mode, 0o040555);
  assert.equal(root.ino, ROOT_ID);
  assert.equal(fs.lookup(ROOT_ID, 'missing'), ERRNO.ENOENT);
  assert.equal(fs.lookup(id(fs, '/f0000'), 'x'), ERRNO.ENOTDIR);
  assert.equal(fs.attributes(999), ERRNO.ENOENT);
  const listing = fs.entries(ROOT_ID);
  assert.ok(typeof listing !== 'number');
  assert.deepEqual(listing.map((e) => e.name), ['.', '..', 'f0000', 'f0001']);
  assert.deepEqual(listing.map((e) => e.attributes.ino), [ROOT_ID, ROOT_ID, id(fs, '/f0000'), id(fs, '/f0001')]);
  assert.equal(fs.entries(id(fs, '/f0000')), ERRNO.ENOTDIR);
  assert.equal(fs.entries(999), ERRNO.ENOENT);
});

test('opening for writing is EROFS, a folder EISDIR, a missing file ENOENT, a bad handle EBADF', async () => {
  const { fs } = await mounted([10]);
  const file = id(fs, '/f0000');
  assert.equal(fs.open(file, O_WRONLY), ERRNO.EROFS);
  assert.equal(fs.open(file, O_RDWR), ERRNO.EROFS);
  assert.equal(fs.open(file, O_TRUNC), ERRNO.EROFS);
  assert.equal(fs.open(ROOT_ID, 0), ERRNO.EISDIR);
  assert.equal(fs.open(999, 0), ERRNO.ENOENT);
  assert.equal(await readInto(fs, 999, Buffer.alloc(1), 1, 0), ERRNO.EBADF);
  assert.equal(fs.release(999), ERRNO.EBADF);
});

test('files read one after another in listing order are prefetched ahead of the reader', async () => {
  const sizes = Array.from({ length: 100 }, (_, i) => (i % 7) * 1000 + 1);
  const { fs, ctx } = await mounted(sizes);
  for (let i = 0; i < sizes.length; i++) await readWhole(fs, `/f${String(i).padStart(4, '0')}`, ramp(sizes[i] as number, i));
  assert.ok(ctx.stats.prefetchHits >= 95, `${ctx.stats.prefetchHits} prefetched files used`);
  assert.equal(ctx.stats.bytesWasted, 0);
  assert.equal(ctx.stats.getRequests, sizes.length, 'one GET per file');
  fs.close();
  while (ctx.slots.inFlight > 0) await tick();
  assert.equal(ctx.budget.used, 0);
});

test('files opened in no particular order are not prefetched', async () => {
  const sizes = Array.from({ length: 60 }, () => 5000);
  const { fs, ctx } = await mounted(sizes);
  for (const i of [37, 2, 51, 14, 44, 8, 29, 58, 21, 3]) await readWhole(fs, `/f${String(i).padStart(4, '0')}`, ramp(5000, i));
  assert.equal(ctx.stats.filesPrefetched, 0);
  fs.close();
});

test('a reader streaming through large files has its read-ahead run on into the next file', async () => {
  const size = 1024 * KiB; // 16 heads' worth: the window (≤ 1 MiB) must spill past each file's end
  const sizes = Array.from({ length: 6 }, () => size);
  const requests: ReadRequest[] = [];
  const { fs, ctx } = await mounted(sizes, 8 * 1024 * KiB, requests);
  for (let i = 0; i < sizes.length; i++) {
    const name = `f${String(i).padStart(4, '0')}`;
    if (i > 0) {
      while (ctx.slots.inFlight > 0) await tick();
      // before file i is opened, more than its 64 KiB head has been fetched
      const fetched = requests.filter((r) => r.key === `d/${name}`).reduce((n, r) => Math.max(n, r.end), 0);
      assert.ok(fetched > 64 * KiB, `file ${i}: ${fetched} bytes prefetched before it was opened`);
    }
    await readWhole(fs, `/${name}`, ramp(size, i));
  }
  assert.equal(ctx.stats.bytesWasted, 0);
  fs.close();
  while (ctx.slots.inFlight > 0) await tick();
  assert.equal(ctx.budget.used, 0);
});

test('heads start only for files within the horizon: a reader of large files gets few, small files many', async () => {
  // 12 files of 1 MiB and a 4 MiB horizon: heads for the files that start within 4 MiB of the one open
  const large = Array.from({ length: 12 }, () => 1024 * KiB);
  const requests: ReadRequest[] = [];
  const big = await mounted(large, 8 * 1024 * KiB, requests);
  const heads = (at: number): number[] => [...new Set(requests.filter((r) => r.start === 0).map((r) => Number(r.key.slice(3))))].filter((i) => i > at);
  for (let i = 0; i < 3; i++) {
    await readWhole(big.fs, `/f${String(i).padStart(4, '0')}`, ramp(1024 * KiB, i));
    while (big.ctx.slots.inFlight > 0) await tick();
    assert.ok(heads(i).every((f) => f <= i + 5), `file ${i} open: heads of files ${heads(i).join(', ')}`);
  }
  big.fs.close();
  // 200 files of 4 KiB: the horizon holds them all, so the look-ahead (up to 64 files) decides
  const small = await mounted(Array.from({ length: 200 }, () => 4 * KiB));
  for (let i = 0; i < 8; i++) await readWhole(small.fs, `/f${String(i).padStart(4, '0')}`, ramp(4 * KiB, i));
  assert.ok(small.ctx.stats.filesPrefetched >= 64, `${small.ctx.stats.filesPrefetched} files prefetched`);
  small.fs.close();
});

test('prefetched files stay within the budget share', async () => {
  const sizes = Array.from({ length: 200 }, () => 60 * KiB);
  const { fs, ctx } = await mounted(sizes);
  for (let i = 0; i < 20; i++) {
    await readWhole(fs, `/f${String(i).padStart(4, '0')}`, ramp(60 * KiB, i));
    assert.ok(ctx.budget.used <= 2048 * KiB + 1024 * KiB, `used ${ctx.budget.used}`);
  }
  fs.close();
  while (ctx.slots.inFlight > 0) await tick();
  assert.equal(ctx.budget.used, 0);
});

test('a file that changed after listing reads as EIO, logged once with its code', async () => {
  const { fs, store, logs, ctx } = await mounted([300 * KiB]);
  store.put('d/f0000', ramp(300 * KiB, 42));
  const h = fs.open(id(fs, '/f0000'), 0);
  assert.equal(await readInto(fs, h, Buffer.alloc(4096), 4096, 0), ERRNO.EIO);
  assert.equal(await readInto(fs, h, Buffer.alloc(4096), 4096, 4096), ERRNO.EIO);
  fs.release(h);
  assert.equal(logs.length, 1, logs.join(''));
  assert.match(logs[0] ?? '', /f0000: read failed.*\[PM_ERR_OBJECT_CHANGED\]/);
  assert.equal(ctx.stats.readErrors, 2);
});

/** A read by node (no open), as fuse-ops.ts sends it on a small-file mount: the bytes, or a negative errno. */
async function readNodeBytes(fs: ChannelFs, node: number, length: number, position: number): Promise<Buffer | number> {
  const got = await fs.readNode(node, length, position);
  if (typeof got === 'number') return got;
  try {
    return Buffer.concat([...got.slices]);
  } finally {
    got.release();
  }
}

test('reads without opens: exact bytes, prefetch in order, every handle released once its file is read through', async () => {
  const sizes = Array.from({ length: 200 }, (_, i) => (i % 5) * 3000 + 7);
  const { fs, ctx } = await mounted(sizes);
  for (let i = 0; i < sizes.length; i++) {
    const node = id(fs, `/f${String(i).padStart(4, '0')}`);
    // the kernel asks for whole pages: more than the file holds
    const got = await readNodeBytes(fs, node, 64 * KiB, 0);
    assert.ok(Buffer.isBuffer(got) && got.equals(ramp(sizes[i] as number, i)), `file ${i}: bytes differ`);
  }
  assert.equal(ctx.stats.openless, sizes.length, 'one implicit open per file');
  assert.equal(ctx.stats.opens, 0);
  assert.ok(ctx.stats.prefetchHits >= 190, `${ctx.stats.prefetchHits} prefetched files used`);
  assert.equal(ctx.stats.getRequests, sizes.length, 'one GET per file');
  // nothing is held for files read through: what the budget still holds is the next files' heads, none here
  while (ctx.slots.inFlight > 0) await tick();
  assert.equal(ctx.budget.used, 0, 'no handle kept its read-ahead');
  fs.close();
});

test('reads without opens: pieces read concurrently and out of order, a partial read, a re-read, errors as errnos', async () => {
  const { fs, ctx } = await mounted([100 * KiB, 30 * KiB, 10]);
  const big = id(fs, '/f0000');
  const expected = ramp(100 * KiB, 0);
  // three reads of one file in flight at once, the last first
  const pieces = await Promise.all([2, 1, 0].map((k) => readNodeBytes(fs, big, 40 * KiB, k * 40 * KiB)));
  assert.deepEqual(pieces.map((p) => (Buffer.isBuffer(p) ? p.length : p)), [20 * KiB, 40 * KiB, 40 * KiB]);
  assert.ok(Buffer.concat([pieces[2], pieces[1], pieces[0]] as Buffer[]).equals(expected));
  // a file read only in part keeps its handle; reading it again later still gives the right bytes
  const part = await readNodeBytes(fs, id(fs, '/f0001'), 4 * KiB, 8 * KiB);
  assert.ok(Buffer.isBuffer(part) && part.equals(ramp(30 * KiB, 1).subarray(8 * KiB, 12 * KiB)));
  const again = await readNodeBytes(fs, big, 8 * KiB, 50 * KiB);
  assert.ok(Buffer.isBuffer(again) && again.equals(expected.subarray(50 * KiB, 58 * KiB)));
  assert.equal(await readNodeBytes(fs, ROOT_ID, 10, 0), ERRNO.EISDIR);
  assert.equal(await readNodeBytes(fs, 999, 10, 0), ERRNO.ENOENT);
  assert.equal(fs.refusesOpen(id(fs, '/f0002'), O_WRONLY), ERRNO.EROFS);
  assert.equal(fs.refusesOpen(id(fs, '/f0002'), 0), 0);
  fs.close();
  while (ctx.slots.inFlight > 0) await tick();
  assert.equal(ctx.budget.used, 0);
});

test('reads without opens: at most 64 files read in part keep a handle; the oldest goes first', async () => {
  const sizes = Array.from({ length: 100 }, () => 8 * KiB);
  const { fs, ctx } = await mounted(sizes, 64 * 1024 * KiB);
  for (let i = 0; i < sizes.length; i++) {
    const got = await readNodeBytes(fs, id(fs, `/f${String(i).padStart(4, '0')}`), KiB, 0); // never to the end
    assert.ok(Buffer.isBuffer(got) && got.equals(ramp(8 * KiB, i).subarray(0, KiB)));
  }
  assert.equal(ctx.stats.openless, sizes.length);
  // the first file's handle was released: reading it again opens a new one
  const first = await readNodeBytes(fs, id(fs, '/f0000'), 8 * KiB, 0);
  assert.ok(Buffer.isBuffer(first) && first.equals(ramp(8 * KiB, 0)));
  assert.equal(ctx.stats.openless, sizes.length + 1);
  // the last file's handle is still there: reading on needs no new one
  const last = await readNodeBytes(fs, id(fs, '/f0099'), 8 * KiB, KiB);
  assert.ok(Buffer.isBuffer(last) && last.equals(ramp(8 * KiB, 99).subarray(KiB)));
  assert.equal(ctx.stats.openless, sizes.length + 1);
  fs.close();
});
