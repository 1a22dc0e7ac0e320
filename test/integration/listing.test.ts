/**
 * Listing an S3Prefix channel on the real Ceph, with a few thousand keys over several prefixes
 * (folders, a flat run of numbered keys, a folder marker, odd characters), so every listing takes
 * several pages:
 * - the parallel listing (split ranges) gives the serial listing's keys in the same order;
 * - an unshuffled channel streamed while it is listed yields exactly the bytes (sha256) of the
 *   complete plan, for 1 host, 3 sharded hosts and a channel split over 2 FIFOs;
 * - its first bytes arrive before the listing ends: the listing is held after its first page by a
 *   store wrapper until the first object's bytes were read (no timing involved);
 * - a listing that fails after its first page fails the epoch with that coded error, never a short
 *   clean end; an empty prefix is EmptySourceError when the channel opens;
 * - on the zero-copy path too (a prefix of 1 MiB objects): the objects go to the splice worker as
 *   they are listed and their bodies are spliced from the sockets into a real FIFO, same bytes,
 *   same failure; a shuffled channel of small objects (a complete plan, handed to the worker in
 *   batches) is spliced with the bytes of its plan.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { resolveChannel } from '../../src/channel/channel-spec.js';
import { TransientStoreError } from '../../src/core/errors.js';
import { DEFAULT_RETRY_POLICY } from '../../src/storage/retry.js';
import { PrefixListing } from '../../src/manifest/prefix-listing.js';
import { compareKeys, type ListOptions, type ObjectInfo, type ObjectStore } from '../../src/storage/object-store.js';
import type { SourceUri } from '../../src/storage/source-uri.js';
import { Stores } from '../../src/storage/stores.js';
import { ChannelStream, type EpochBytes } from '../../src/stream/channel-stream.js';
import { newBucket, put, putAll } from '../helpers/s3.js';
import { throughFifo } from '../helpers/fifo-epoch.js';

const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex');
const FETCH = { partSize: 1024 * 1024, maxRequests: 16, memoryBudget: 16 * 1024 * 1024, retry: DEFAULT_RETRY_POLICY };

/** key → body of everything under "d/" (the folder marker has an empty body). */
const objects = new Map<string, Buffer>();
const add = (key: string): void => void objects.set(key, randomBytes(16 + (objects.size % 97)));
for (let i = 0; i < 900; i++) add(`d/a/${String(i).padStart(4, '0')}`);
objects.set('d/b/', Buffer.alloc(0)); // a folder marker: never an object
for (let i = 0; i < 700; i++) add(`d/b/x-${String(i).padStart(3, '0')}`);
for (let i = 0; i < 1000; i++) add(`d/flat-${String(i).padStart(5, '0')}`);
for (const k of ['d/0', 'd/Z9', 'd/~tilde', 'd/é/1', 'd/flat-', 'd/flat-1']) add(k);

const sortedKeys = [...objects.keys()].filter((k) => k !== 'd/b/').sort(compareKeys);
/** A prefix of large objects (1 MiB on average): a streamed channel of them takes the splice path. */
const big = new Map<string, Buffer>();
for (let i = 0; i < 110; i++) big.set(`big/${String(i).padStart(3, '0')}`, randomBytes(1024 * 1024 + i));
const bigKeys = [...big.keys()].sort(compareKeys);

const buckets = new Map<string, Promise<string>>();
/** A bucket holding `contents`, made once per test file. */
function bucketOf(name: string, contents: ReadonlyMap<string, Buffer>): Promise<string> {
  let made = buckets.get(name);
  if (made === undefined) {
    made = newBucket(name).then(async (bucket) => {
      await putAll(bucket, contents);
      return bucket;
    });
    buckets.set(name, made);
  }
  return made;
}
const bucket = (): Promise<string> => bucketOf('listing', objects);
const bigBucket = (): Promise<string> => bucketOf('listing-big', big);

function spec(uri: string, extra: Record<string, unknown> = {}) {
  return resolveChannel({ ChannelName: 'train', DataSource: { S3DataSource: { S3DataType: 'S3Prefix', S3Uri: uri, ...extra } } });
}

async function drain(bytes: EpochBytes): Promise<Buffer> {
  const out: Buffer[] = [];
  for await (const batch of bytes) for (const b of batch) out.push(Buffer.from(b));
  return Buffer.concat(out);
}

/**
 * A store whose listings hold before their second page (and before any listing that starts after
 * a key) until `release()`, or fail there with `failWith`.
 */
class HeldStore implements ObjectStore {
  readonly #inner: ObjectStore;
  #release: () => void = () => {};
  readonly #released = new Promise<void>((resolve) => (this.#release = resolve));
  released = false;
  failWith: Error | undefined;

  constructor(inner: ObjectStore) {
    this.#inner = inner;
  }

  release(): void {
    this.released = true;
    this.#release();
  }

  async #hold(): Promise<void> {
    await this.#released;
    if (this.failWith !== undefined) throw this.failWith;
  }

  uriOf(key: string): string {
    return this.#inner.uriOf(key);
  }

  /** The S3 store itself, once loaded: the splice path fetches from it (listings stay held here). */
  get loaded(): ObjectStore | undefined {
    return (this.#inner as { loaded?: ObjectStore }).loaded;
  }

  async *list(prefix: string, signal?: AbortSignal, options: ListOptions = {}): AsyncIterable<ObjectInfo> {
    if (options.startAfter !== undefined) await this.#hold();
    let pages = 0;
    let held = false;
    for await (const info of this.#inner.list(prefix, signal, { ...options, onRequest: (n, more) => { pages++; options.onRequest?.(n, more); } })) {
      if (pages >= 2 && !held) {
        held = true;
        await this.#hold();
      }
      yield info;
    }
  }

  head(key: string, signal?: AbortSignal): Promise<ObjectInfo> {
    return this.#inner.head(key, signal);
  }

  read(info: ObjectInfo, start: number, end: number, signal?: AbortSignal): AsyncIterable<Buffer> {
    return this.#inner.read(info, start, end, signal);
  }
}

class HeldStores extends Stores {
  held: HeldStore | undefined;
  override storeFor(uri: SourceUri): ObjectStore {
    return (this.held ??= new HeldStore(super.storeFor(uri)));
  }
}

test('the parallel listing equals the serial listing (same keys, same order), over several prefixes', async () => {
  const name = await bucket();
  const stores = new Stores();
  try {
    const store = stores.storeFor({ kind: 's3', bucket: name, key: '' });
    for (const prefix of ['d/', 'd/b', 'd/flat-', 'd/a/08', '']) {
      const serial = PrefixListing.start(store, prefix, undefined, 1);
      const parallel = PrefixListing.start(store, prefix, undefined);
      const [a, b] = await Promise.all([serial.all(), parallel.all()]);
      assert.deepEqual(b.map((o) => [o.key, o.size, o.etag]), a.map((o) => [o.key, o.size, o.etag]), prefix);
      assert.deepEqual(a.map((o) => o.key), sortedKeys.filter((k) => k.startsWith(prefix)), prefix);
      // the large prefixes were really split (more requests than the serial pages)
      if (a.length > 2000) assert.ok(parallel.requests > serial.requests, `${prefix}: ${parallel.requests} requests in parallel, ${serial.requests} serially`);
    }
  } finally {
    stores.close();
  }
});

test('an unshuffled channel streamed while it is listed yields the bytes of the complete plan (1 host, 3 sharded hosts, 2 FIFO parts)', async () => {
  const name = await bucket();
  const uri = `s3://${name}/d/`;
  const stores = new Stores();
  try {
    const cases = [
      { host: { hostRank: 0, hostCount: 1 }, split: undefined, extra: {} },
      ...[0, 1, 2].map((r) => ({ host: { hostRank: r, hostCount: 3 }, split: undefined, extra: { S3DataDistributionType: 'ShardedByS3Key' } })),
      { host: { hostRank: 1, hostCount: 2 }, split: { index: 1, count: 2 }, extra: { S3DataDistributionType: 'ShardedByS3Key' } },
    ];
    for (const c of cases) {
      const s = spec(uri, c.extra);
      const streamed = await ChannelStream.open(s, stores, FETCH, c.host, undefined, { streamListing: true });
      assert.equal(streamed.listingComplete, false, 'the channel opened on its first page');
      const got = await drain(streamed.epoch(0, undefined, c.split));
      // the same channel listed whole first, planned by planEpoch
      const whole = await ChannelStream.open(s, stores, FETCH, c.host);
      const units = whole.unitsOf(0, c.split);
      const want = Buffer.concat(units.map((u) => objects.get((u as { key: string }).key) as Buffer));
      assert.equal(sha(got), sha(want), JSON.stringify(c));
      // the planned share, from the key list by hand: host r takes positions r, r+N, …; part k of K every K-th of those
      const mine = sortedKeys.filter((_, i) => i % c.host.hostCount === c.host.hostRank).filter((_, i) => c.split === undefined || i % c.split.count === c.split.index);
      assert.deepEqual(units.map((u) => (u as { key: string }).key), mine);
      // the streamed channel gathered the list meanwhile: a later epoch plans from it
      await streamed.listed();
      assert.deepEqual(streamed.unitsOf(1, c.split).map((u) => (u as { key: string }).key), mine);
      assert.equal(sha(await drain(streamed.epoch(1, undefined, c.split))), sha(want));
    }
  } finally {
    stores.close();
  }
});

/** The streamed channel `s3://NAME/d/` on `stores`, and the store whose listing it holds. */
async function openHeld(stores: HeldStores, name: string): Promise<{ stream: ChannelStream; held: HeldStore }> {
  const stream = await ChannelStream.open(spec(`s3://${name}/d/`), stores, FETCH, { hostRank: 0, hostCount: 1 }, undefined, { streamListing: true });
  return { stream, held: stores.held as HeldStore };
}

test('the first bytes arrive before the listing ends (the listing is held after its first page)', async () => {
  const name = await bucket();
  const stores = new HeldStores();
  try {
    const { stream, held } = await openHeld(stores, name);
    const first = objects.get(sortedKeys[0] as string) as Buffer;
    const out: Buffer[] = [];
    let total = 0;
    for await (const batch of stream.epoch(0)) {
      for (const b of batch) {
        out.push(Buffer.from(b));
        total += b.length;
      }
      if (!held.released && total >= first.length) {
        assert.equal(stream.listingComplete, false);
        assert.ok(stream.items.length < sortedKeys.length, `${stream.items.length} items listed`);
        assert.equal(sha(Buffer.concat(out).subarray(0, first.length)), sha(first), 'the first object, whole, while the listing was held');
        held.release();
      }
    }
    assert.ok(held.released);
    assert.equal(sha(Buffer.concat(out)), sha(Buffer.concat(sortedKeys.map((k) => objects.get(k) as Buffer))));
  } finally {
    stores.close();
  }
});

test('a listing that fails after its first page fails the epoch with its coded error; an empty prefix fails the open', async () => {
  const name = await bucket();
  const stores = new HeldStores();
  try {
    const { stream, held } = await openHeld(stores, name);
    held.failWith = new TransientStoreError('listing: connection reset (injected)', { uri: `s3://${name}/d/` });
    let total = 0;
    await assert.rejects((async () => {
      for await (const batch of stream.epoch(0)) {
        for (const b of batch) total += b.length;
        if (!held.released && total > 0) held.release();
      }
    })(), { code: 'PM_ERR_TRANSIENT', message: /injected/ });
    assert.ok(total < Buffer.concat(sortedKeys.map((k) => objects.get(k) as Buffer)).length, 'cut short, and said so');
  } finally {
    stores.close();
  }
  const plain = new Stores();
  try {
    await put(name, 'marker-only/', '');
    for (const prefix of ['nothing-here/', 'marker-only/']) {
      await assert.rejects(ChannelStream.open(spec(`s3://${name}/${prefix}`), plain, FETCH, { hostRank: 0, hostCount: 1 }, undefined, { streamListing: true }),
        { code: 'PM_ERR_EMPTY_SOURCE' });
    }
  } finally {
    plain.close();
  }
});

test('a streamed channel of large objects on the splice path: objects handed to the worker as they are listed, the bytes of the plan, first bytes while the listing is held, a later failure fails the epoch', async () => {
  const name = await bigBucket();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pipemode-listing-fifo-'));
  try {
    const cases = [
      { host: { hostRank: 0, hostCount: 1 }, split: undefined, extra: {} },
      { host: { hostRank: 1, hostCount: 2 }, split: { index: 0, count: 2 }, extra: { S3DataDistributionType: 'ShardedByS3Key' } },
    ];
    for (const c of cases) {
      const stores = new HeldStores();
      const plain = new Stores();
      try {
        const s = spec(`s3://${name}/big/`, c.extra);
        const stream = await ChannelStream.open(s, stores, FETCH, c.host, undefined, { streamListing: true });
        const held = stores.held as HeldStore;
        let early = false;
        const { result, bytes } = await throughFifo(dir, stream, c.split, (total) => {
          if (held.released || total === 0) return;
          early = !stream.listingComplete;
          held.release();
        });
        assert.ok(early, 'bytes arrived while the listing was held');
        assert.ok(result.ok && result.r.outcome === 'complete', String(!result.ok && result.err));
        const units = (await ChannelStream.open(s, plain, FETCH, c.host)).unitsOf(0, c.split);
        assert.equal(sha(bytes), sha(Buffer.concat(units.map((u) => big.get((u as { key: string }).key) as Buffer))), JSON.stringify(c));
      } finally {
        stores.close();
        plain.close();
      }
    }
    const stores = new HeldStores();
    try {
      const stream = await ChannelStream.open(spec(`s3://${name}/big/`), stores, FETCH, { hostRank: 0, hostCount: 1 }, undefined, { streamListing: true });
      const held = stores.held as HeldStore;
      held.failWith = new TransientStoreError('listing: connection reset (injected)', { uri: `s3://${name}/big/` });
      const { result, bytes } = await throughFifo(dir, stream, undefined, () => held.release());
      assert.equal(result.ok, false, 'not a short success');
      assert.equal(!result.ok && (result.err as { code?: string }).code, 'PM_ERR_TRANSIENT');
      const all = Buffer.concat(bigKeys.map((k) => big.get(k) as Buffer));
      assert.ok(bytes.length < all.length && all.subarray(0, bytes.length).equals(bytes), 'a true prefix of the stream, cut short');
    } finally {
      stores.close();
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('a shuffled channel of small objects is spliced from the sockets in batches, with the bytes of its plan', async () => {
  const name = await bucket();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pipemode-listing-fifo-'));
  const stores = new Stores();
  try {
    const s = resolveChannel({
      ChannelName: 'train',
      DataSource: { S3DataSource: { S3DataType: 'S3Prefix', S3Uri: `s3://${name}/d/` } },
      ShuffleConfig: { Seed: 5 },
    });
    const stream = await ChannelStream.open(s, stores, FETCH, { hostRank: 0, hostCount: 1 });
    const units = stream.unitsOf(0);
    assert.equal(units.length, sortedKeys.length);
    assert.ok(units.length > 2 * 1024, 'several batches after the job\'s');
    const { result, bytes } = await throughFifo(dir, stream, undefined);
    assert.ok(result.ok && result.r.outcome === 'complete', String(!result.ok && result.err));
    assert.equal(sha(bytes), sha(Buffer.concat(units.map((u) => objects.get((u as { key: string }).key) as Buffer))));
    assert.equal(stream.stats.getRequests, units.filter((u) => (objects.get((u as { key: string }).key)?.length ?? 0) > 0).length, 'one GET per object with bytes, all on the splice path');
  } finally {
    stores.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
