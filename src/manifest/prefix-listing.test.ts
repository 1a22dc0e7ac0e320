import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MemoryStore } from '../storage/memory/memory-store.js';
import { type ListOptions, type ObjectInfo, type ObjectStore } from '../storage/object-store.js';
import { PrefixListing, splitBlocks } from './prefix-listing.js';

/** A memory store that lists in pages of `pageSize` keys, one onRequest per page, as S3 does. */
class PagedStore implements ObjectStore {
  constructor(readonly inner: MemoryStore, readonly pageSize: number) {}
  uriOf(key: string): string {
    return this.inner.uriOf(key);
  }
  async *list(prefix: string, signal?: AbortSignal, options: ListOptions = {}): AsyncIterable<ObjectInfo> {
    const all: ObjectInfo[] = [];
    for await (const o of this.inner.list(prefix, signal, options.startAfter !== undefined ? { startAfter: options.startAfter } : {})) all.push(o);
    for (let i = 0; i < all.length || i === 0; i += this.pageSize) {
      const page = all.slice(i, i + this.pageSize);
      options.onRequest?.(page.length, i + this.pageSize < all.length);
      for (const o of page) yield o;
    }
  }
  head(key: string): Promise<ObjectInfo> {
    return this.inner.head(key);
  }
  read(info: ObjectInfo, start: number, end: number, signal?: AbortSignal): AsyncIterable<Buffer> {
    return this.inner.read(info, start, end, signal);
  }
}

test('split blocks: the next siblings of the page\'s block, after the last key, wholly before the range end, ASCII only', () => {
  assert.deepEqual(splitBlocks('d/', 'd/000000.bin', 'd/000999.bin', undefined), ['1', '2', '3', '4', '5', '6', '7', '8', '9'].map((n) => `d/00${n}`));
  assert.deepEqual(splitBlocks('d/', 'd/part-00000', 'd/part-00999', 'd/part-05'), ['d/part-01', 'd/part-02', 'd/part-03', 'd/part-04']);
  assert.deepEqual(splitBlocks('d/', 'd/part-00000', 'd/part-00999', 'd/part-005'), []);
  assert.deepEqual(splitBlocks('d/', 'd/a/1', 'd/x/9', undefined), ['d/y', 'd/z']);
  // a block that holds the range end is not whole: not taken
  assert.deepEqual(splitBlocks('d/', 'd/000000.bin', 'd/000999.bin', 'd/0015'), []);
  // never inside a multi-byte character
  assert.deepEqual(splitBlocks('d/', 'd/é1', 'd/é9', undefined), []);
});

test('the parallel listing is the serial listing, for random key sets (folders, numbers, odd characters)', async () => {
  // a small deterministic generator (plan/prng.ts sits above this layer)
  let state = 17;
  const prng = { below: (n: number): number => ((state = (state * 1103515245 + 12345) % 2147483648) >>> 8) % n };
  const alphabet = ['0', '1', '9', 'a', 'z', 'A', '/', '-', '_', '~', 'é', '😀', '\u{7f}', ' '];
  for (let round = 0; round < 10; round++) {
    const mem = new MemoryStore();
    const n = 1 + prng.below(200);
    for (let i = 0; i < n; i++) {
      let key = 'p/';
      const len = 1 + prng.below(8);
      for (let j = 0; j < len; j++) key += alphabet[prng.below(alphabet.length)] as string;
      mem.put(key, Buffer.from(key));
    }
    mem.put('p/dir/', Buffer.alloc(0)); // a folder marker
    const store = new PagedStore(mem, 5 + prng.below(20));
    const serial = PrefixListing.start(store, 'p/', undefined, 1);
    const parallel = PrefixListing.start(store, 'p/', undefined, 4);
    const [a, b] = await Promise.all([serial.all(), parallel.all()]);
    assert.deepEqual(b.map((o) => o.key), a.map((o) => o.key), `round ${round}`);
    assert.ok(!a.some((o) => o.key === 'p/dir/'));
    // and streamed in order, batch by batch, the same
    const streamed: string[] = [];
    for await (const batch of PrefixListing.start(store, 'p/', undefined, 4).objects()) for (const o of batch) streamed.push(o.key);
    assert.deepEqual(streamed, a.map((o) => o.key));
  }
});

test('an empty prefix is EmptySourceError at the end of the listing; a failing range fails the listing', async () => {
  const mem = new MemoryStore().put('p/dir/', Buffer.alloc(0));
  await assert.rejects(PrefixListing.start(new PagedStore(mem, 5), 'p/').all(), { code: 'PM_ERR_EMPTY_SOURCE' });
  for (let i = 0; i < 100; i++) mem.put(`p/${String(i).padStart(3, '0')}`, Buffer.from('x'));
  const failing = new PagedStore(mem, 5);
  const list = failing.list.bind(failing);
  failing.list = (prefix, signal, options = {}) => {
    if (options.startAfter !== undefined && options.startAfter > 'p/05') throw new Error('listing failed');
    return list(prefix, signal, options);
  };
  await assert.rejects(PrefixListing.start(failing, 'p/').all(), { message: 'listing failed' });
});

test('a store that streams one listing (a local walk) opens its first page after FIRST_PAGE_KEYS + 1 objects, and is never split', async () => {
  const inner = new MemoryStore();
  for (let i = 0; i < 300; i++) inner.put(`d/${String(i).padStart(3, '0')}`, Buffer.from([i % 256]));
  let release: () => void = () => {};
  const held = new Promise<void>((resolve) => (release = resolve));
  let lists = 0;
  const streaming: ObjectStore = {
    uriOf: (key) => inner.uriOf(key),
    head: (key) => inner.head(key),
    read: (info, start, end, signal) => inner.read(info, start, end, signal),
    async *list(prefix, signal, options: ListOptions = {}) {
      lists++;
      let n = 0;
      for await (const o of inner.list(prefix, signal)) {
        if (n++ === 200) await held;
        yield o;
      }
      options.onRequest?.(n);
    },
  };
  const listing = PrefixListing.start(streaming, 'd/');
  await listing.firstPage;
  assert.equal(listing.done, false, 'opened while the walk is held');
  const seen: string[] = [];
  for await (const batch of listing.objects()) {
    for (const o of batch) seen.push(o.key);
    if (seen.length >= 101 && seen.length < 300) release();
  }
  assert.deepEqual(seen, Array.from({ length: 300 }, (_, i) => `d/${String(i).padStart(3, '0')}`));
  assert.equal(lists, 1);
  assert.equal(listing.requests, 1);
});
