import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { resolveChannel } from '../channel/channel-spec.js';
import { resolveFetchOptions } from '../fetch/fetch-options.js';
import { FetchStats } from '../fetch/prefetcher.js';
import { FollowCursor } from '../manifest/follow-cursor.js';
import { ListingStats } from '../manifest/follow-prefix.js';
import { MemoryStore, ramp } from '../storage/memory/memory-store.js';
import type { ObjectInfo } from '../storage/object-store.js';
import { followEpoch, hostOfKey, type FollowBytes } from './follow-stream.js';

const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex');
const spec = (extra: Record<string, unknown> = {}, sharded = false): ReturnType<typeof resolveChannel> => resolveChannel({
  ChannelName: 'train', RecordWrapperType: 'RecordIO', Follow: { PollIntervalSeconds: 0.02, IdleTimeoutSeconds: 0.15 },
  DataSource: { S3DataSource: { S3DataType: 'S3Prefix', S3Uri: 's3://bkt/p/', ...(sharded ? { S3DataDistributionType: 'ShardedByS3Key' } : {}) } }, ...extra,
});

/** Splits a single-part RecordIO stream into payload digests (an independent minimal parser). */
function payloads(data: Buffer): string[] {
  const out: string[] = [];
  for (let p = 0; p < data.length;) {
    assert.equal(data.readUInt32LE(p), 0xced7230a);
    const n = data.readUInt32LE(p + 4);
    out.push(sha(data.subarray(p + 8, p + 8 + n)));
    p += 8 + n + ((4 - (n % 4)) % 4);
  }
  return out;
}

async function listing(store: MemoryStore): Promise<ObjectInfo[]> {
  const out: ObjectInfo[] = [];
  for await (const o of store.list('p/')) out.push(o);
  return out;
}

function start(store: MemoryStore, initial: ObjectInfo[], options: { hostRank?: number; hostCount?: number; cursor?: FollowCursor; extra?: Record<string, unknown> } = {}): FollowBytes {
  return followEpoch({
    spec: spec(options.extra, (options.hostCount ?? 1) > 1), store, initial, localFolder: undefined,
    fetch: resolveFetchOptions({ partSize: 64 * 1024, memoryBudget: 1 << 20, maxRequests: 4 }),
    stats: new FetchStats(), listing: new ListingStats(), hostRank: options.hostRank ?? 0, hostCount: options.hostCount ?? 1,
    cursor: options.cursor, log: undefined, signal: undefined,
  });
}

async function drain(bytes: FollowBytes, onBatch?: (total: number) => void | Promise<void>): Promise<Buffer> {
  const out: Buffer[] = [];
  let total = 0;
  for await (const batch of bytes) {
    for (const b of batch) {
      out.push(Buffer.from(b));
      total += b.length;
    }
    await onBatch?.(total);
  }
  return Buffer.concat(out);
}

test('follow: objects at start, then late ones before, between and after them, each once and whole', async () => {
  const store = new MemoryStore({ chunkSize: 7000 });
  const body = (i: number): Buffer => ramp(20_000 + i * 1111, i);
  store.put('p/b', body(1)).put('p/d', body(2));
  const stream = start(store, await listing(store));
  let step = 0;
  const data = await drain(stream, () => {
    if (step++ === 0) store.put('p/a', body(3)).put('p/c', body(4)).put('p/e', body(5));
  });
  const got = payloads(data);
  // at start in key order; then the late ones, each once (p/e is found by the next incremental
  // poll, p/a and p/c — sorting before keys already seen — by a whole-prefix listing)
  assert.deepEqual(got.slice(0, 2), [body(1), body(2)].map(sha));
  assert.deepEqual(got.slice(2).sort(), [body(3), body(4), body(5)].map(sha).sort());
  assert.equal(got[2], sha(body(5)));
});

test('follow: deleted before read is skipped; rewritten before read streams its new version; a failure ahead does not cut the object being written', async () => {
  const store = new MemoryStore({ chunkSize: 4096 });
  const body = (i: number): Buffer => ramp(150_000, i);
  store.put('p/1', body(1)).put('p/2', body(2)).put('p/3', body(3)).put('p/4', body(4));
  const initial = await listing(store);
  store.delete('p/2'); // read ahead while p/1 streams: the prefetcher fails, p/1 is re-fetched from its written end
  store.put('p/3', body(33));
  const data = await drain(start(store, initial));
  assert.deepEqual(payloads(data), [body(1), body(33), body(4)].map(sha));
});

test('follow: an object that changes while it is being read fails the stream', async () => {
  const store = new MemoryStore({ chunkSize: 4096 });
  store.put('p/1', ramp(300_000, 1));
  const stream = start(store, await listing(store), { extra: { RecordWrapperType: 'None' } });
  let changed = false;
  await assert.rejects(drain(stream, () => {
    if (!changed) store.put('p/1', ramp(300_000, 2));
    changed = true;
  }), { code: 'PM_ERR_OBJECT_CHANGED' });
});

test('follow: sharded by key hash, three hosts take every object exactly once', async () => {
  const store = new MemoryStore();
  for (let i = 0; i < 30; i++) store.put(`p/k${i}`, ramp(100 + i, i));
  const initial = await listing(store);
  const hosts = [0, 1, 2].map((hostRank) => drain(start(store, initial, { hostRank, hostCount: 3 }), () => {}));
  setTimeout(() => {
    for (let i = 30; i < 60; i++) store.put(`p/k${i}`, ramp(100 + i, i));
  }, 40);
  const outs = await Promise.all(hosts);
  const all = outs.flatMap(payloads);
  const want = Array.from({ length: 60 }, (_, i) => sha(ramp(100 + i, i)));
  assert.deepEqual([...all].sort(), [...want].sort());
  for (let r = 0; r < 3; r++) {
    const mine = Array.from({ length: 60 }, (_, i) => i).filter((i) => hostOfKey(`p/k${i}`, 3) === r).map((i) => sha(ramp(100 + i, i)));
    assert.deepEqual([...payloads(outs[r] as Buffer)].sort(), mine.sort(), `host ${r}`);
  }
});

test('follow: the cursor records flushed objects; a restart streams only the rest, each once', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pm-cursor-'));
  const file = path.join(dir, 'state');
  const store = new MemoryStore();
  const body = (i: number): Buffer => ramp(5000, i);
  for (let i = 0; i < 10; i++) store.put(`p/${i}`, body(i));
  // run 1: the writer reports what the kernel took; it stops (crash) in the middle of object 4
  let cursor = FollowCursor.open(file);
  const first = start(store, await listing(store), { cursor });
  first.trackFlushes();
  const got: Buffer[] = [];
  let total = 0;
  for await (const batch of first) {
    for (const b of batch) got.push(Buffer.from(b));
    total += batch.reduce((n, b) => n + b.length, 0);
    first.flushed(total);
    if (total > 4 * 5008 + 100) break;
  }
  first.close();
  cursor.close();
  // a torn last line (crash during the append) is ignored
  fs.appendFileSync(file, '["train","p/9","x');
  cursor = FollowCursor.open(file);
  assert.equal(cursor.count('train'), 4, 'objects 0-3 were flushed whole; 4 was being written');
  for (let i = 10; i < 13; i++) store.put(`p/${i}`, body(i));
  const second = await drain(start(store, await listing(store), { cursor }));
  cursor.close();
  const firstWhole = payloads(Buffer.concat(got).subarray(0, 4 * 5008));
  assert.deepEqual(firstWhole, [0, 1, 2, 3].map((i) => sha(body(i))));
  // object 4, cut by the crash, is sent again whole; nothing else of run 1 is repeated (key order: p/10 < p/4)
  assert.deepEqual(payloads(second), [10, 11, 12, 4, 5, 6, 7, 8, 9].map((i) => sha(body(i))));
  assert.equal(FollowCursor.open(file).count('train'), 13);
});
