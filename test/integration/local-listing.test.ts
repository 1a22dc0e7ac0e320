/**
 * A local folder channel streamed while it is walked, on the zero-copy path: its files go to the
 * splice worker as the walk lists them, into a real FIFO read by a child `cat`.
 * - the bytes (sha256) are those of the complete plan, for 1 host, 3 sharded hosts, a channel
 *   split over 2 FIFOs and RecordIO wrapping;
 * - the first bytes arrive while the walk is held after its first objects (no timing involved);
 * - a walk that fails after its first objects fails the epoch with that coded error, never a
 *   short clean end;
 * - a shuffled channel (a complete plan of more segments than go with the worker's job) is
 *   spliced with the bytes of its plan.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { resolveChannel } from '../../src/channel/channel-spec.js';
import { StoreProtocolError } from '../../src/core/errors.js';
import { DEFAULT_RETRY_POLICY } from '../../src/storage/retry.js';
import { FileStore } from '../../src/storage/file/file-store.js';
import type { ListOptions, ObjectInfo, ObjectStore } from '../../src/storage/object-store.js';
import type { SourceUri } from '../../src/storage/source-uri.js';
import { Stores } from '../../src/storage/stores.js';
import { ChannelStream } from '../../src/stream/channel-stream.js';
import { throughFifo } from '../helpers/fifo-epoch.js';
import { recordioHeader, recordioPadding } from '../../src/records/recordio.js';
import type { Unit } from '../../src/manifest/unit.js';

const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex');
const FETCH = { partSize: 1024 * 1024, maxRequests: 16, memoryBudget: 16 * 1024 * 1024, retry: DEFAULT_RETRY_POLICY };
/** Objects the walk yields before a held store holds it: more than the first "page" (100). */
const HOLD_AFTER = 150;

const root = fs.mkdtempSync(path.join(os.tmpdir(), 'pipemode-local-listing-'));
const dataDir = path.join(root, 'data');
/** relative name → bytes; names that sort differently by folder ("a.b" < "a/…" < "a0") and by byte. */
const files = new Map<string, Buffer>();
let seed = 7;
const rand = (n: number): number => {
  seed = (seed * 1103515245 + 12345) % 2 ** 31;
  return seed % n;
};
for (let i = 0; i < 1200; i++) files.set(`a/${String(i).padStart(4, '0')}.bin`, Buffer.alloc(rand(3000), i % 251));
for (let i = 0; i < 600; i++) files.set(`a/sub-${String(i).padStart(3, '0')}/x`, Buffer.alloc(1 + rand(500), (i * 7) % 251));
for (const name of ['a.b', 'a0', 'empty', 'é/1', 'z', '~last']) files.set(name, Buffer.from(`${name}\n`.repeat(rand(40))));
for (const [name, body] of files) {
  fs.mkdirSync(path.dirname(path.join(dataDir, name)), { recursive: true });
  fs.writeFileSync(path.join(dataDir, name), body);
}
const keyOf = (unit: Unit): string => (unit as { key: string }).key;
const bodyOf = (key: string): Buffer => files.get(key.slice(dataDir.length)) as Buffer;

test.after(() => fs.rmSync(root, { recursive: true, force: true }));

function spec(extra: Record<string, unknown> = {}, wrapper?: string) {
  return resolveChannel({
    ChannelName: 'train',
    DataSource: { S3DataSource: { S3DataType: 'S3Prefix', S3Uri: `file://${dataDir}/`, ...extra } },
    ...(wrapper !== undefined ? { RecordWrapperType: wrapper } : {}),
  });
}

/** A local folder whose walk holds after HOLD_AFTER objects until `release()`, or fails there with `failWith`. */
class HeldFileStore extends FileStore {
  #release: () => void = () => {};
  readonly #released = new Promise<void>((resolve) => (this.#release = resolve));
  released = false;
  failWith: Error | undefined;

  release(): void {
    this.released = true;
    this.#release();
  }

  override async *list(prefix: string, signal?: AbortSignal, options: ListOptions = {}): AsyncIterable<ObjectInfo> {
    let n = 0;
    for await (const info of super.list(prefix, signal, options)) {
      if (n++ === HOLD_AFTER) {
        await this.#released;
        if (this.failWith !== undefined) throw this.failWith;
      }
      yield info;
    }
  }
}

class HeldStores extends Stores {
  readonly held = new HeldFileStore();
  override storeFor(_uri: SourceUri): ObjectStore {
    return this.held;
  }
}

test('a local folder streamed while it is walked is spliced, with the bytes of the complete plan (1 host, 3 sharded hosts, 2 FIFO parts, RecordIO)', async () => {
  const cases = [
    { host: { hostRank: 0, hostCount: 1 }, split: undefined, extra: {}, wrapper: undefined },
    ...[0, 1, 2].map((r) => ({ host: { hostRank: r, hostCount: 3 }, split: undefined, extra: { S3DataDistributionType: 'ShardedByS3Key' }, wrapper: undefined })),
    { host: { hostRank: 1, hostCount: 2 }, split: { index: 1, count: 2 }, extra: { S3DataDistributionType: 'ShardedByS3Key' }, wrapper: undefined },
    { host: { hostRank: 0, hostCount: 1 }, split: undefined, extra: {}, wrapper: 'RecordIO' },
  ];
  for (const c of cases) {
    const s = spec(c.extra, c.wrapper);
    const stores = new HeldStores();
    try {
      const stream = await ChannelStream.open(s, stores, FETCH, c.host, undefined, { streamListing: true });
      assert.equal(stream.listingComplete, false, 'the channel opened on its first objects');
      const { result, bytes } = await throughFifo(root, stream, c.split, () => stores.held.release());
      assert.ok(result.ok, String(!result.ok && result.err));
      // the same channel walked whole first, planned by planEpoch
      const plain = new Stores();
      try {
        const whole = await ChannelStream.open(s, plain, FETCH, c.host);
        const units = whole.unitsOf(0, c.split);
        const want = Buffer.concat(units.flatMap((u) => {
          const body = bodyOf(keyOf(u));
          return c.wrapper === 'RecordIO' ? [recordioHeader(body.length), body, recordioPadding(body.length)] : [body];
        }));
        assert.equal(bytes.length, want.length, JSON.stringify(c));
        assert.equal(sha(bytes), sha(want), JSON.stringify(c));
        assert.equal(result.ok && result.r.outcome, 'complete');
        const mine = [...files.keys()].map((k) => dataDir.slice(1) + '/' + k).sort((x, y) => Buffer.compare(Buffer.from(x), Buffer.from(y)))
          .filter((_, i) => i % c.host.hostCount === c.host.hostRank).filter((_, i) => c.split === undefined || i % c.split.count === c.split.index);
        assert.deepEqual(units.map(keyOf), mine);
      } finally {
        plain.close();
      }
    } finally {
      stores.close();
    }
  }
});

test('the first bytes of a local folder arrive while its walk is held; a walk that fails later fails the epoch with its coded error', async () => {
  const keys = [...files.keys()].map((k) => dataDir.slice(1) + '/' + k).sort((x, y) => Buffer.compare(Buffer.from(x), Buffer.from(y)));
  const everything = Buffer.concat(keys.map(bodyOf));
  const first = bodyOf(keys[0] as string);
  {
    const stores = new HeldStores();
    try {
      const stream = await ChannelStream.open(spec(), stores, FETCH, { hostRank: 0, hostCount: 1 }, undefined, { streamListing: true });
      let sawFirst = false;
      const { result, bytes } = await throughFifo(root, stream, undefined, (total, all) => {
        if (stores.held.released || total < first.length) return;
        assert.equal(stream.listingComplete, false);
        assert.equal(sha(Buffer.concat(all).subarray(0, first.length)), sha(first), 'the first file, whole, while the walk was held');
        sawFirst = true;
        stores.held.release();
      });
      assert.ok(sawFirst);
      assert.ok(result.ok && result.r.outcome === 'complete');
      assert.equal(sha(bytes), sha(everything));
    } finally {
      stores.close();
    }
  }
  {
    const stores = new HeldStores();
    try {
      const stream = await ChannelStream.open(spec(), stores, FETCH, { hostRank: 0, hostCount: 1 }, undefined, { streamListing: true });
      stores.held.failWith = new StoreProtocolError(`cannot read ${dataDir}/a/0999.bin: EIO (injected)`, { uri: `file://${dataDir}/a/0999.bin` });
      const { result, bytes } = await throughFifo(root, stream, undefined, () => stores.held.release());
      assert.equal(result.ok, false, 'not a short success');
      assert.match(String(!result.ok && (result.err as Error).message), /injected/);
      assert.equal(!result.ok && (result.err as { code?: string }).code, 'PM_ERR_STORE_PROTOCOL');
      assert.ok(bytes.length < everything.length, 'cut short, and said so');
      assert.ok(everything.subarray(0, bytes.length).equals(bytes), 'what did arrive is the stream\'s own start');
    } finally {
      stores.close();
    }
  }
});

test('a shuffled local channel is spliced in batches with the bytes of its plan (1 host, 3 sharded hosts, RecordIO)', async () => {
  const cases = [
    { host: { hostRank: 0, hostCount: 1 }, extra: {}, wrapper: undefined },
    { host: { hostRank: 2, hostCount: 3 }, extra: { S3DataDistributionType: 'ShardedByS3Key' }, wrapper: undefined },
    { host: { hostRank: 0, hostCount: 1 }, extra: {}, wrapper: 'RecordIO' },
  ];
  for (const c of cases) {
    const s = resolveChannel({
      ChannelName: 'train',
      DataSource: { S3DataSource: { S3DataType: 'S3Prefix', S3Uri: `file://${dataDir}/`, ...c.extra } },
      ShuffleConfig: { Seed: 11 },
      ...(c.wrapper !== undefined ? { RecordWrapperType: c.wrapper } : {}),
    });
    const stores = new Stores();
    try {
      const stream = await ChannelStream.open(s, stores, FETCH, c.host);
      assert.equal(stream.listingComplete, true);
      const units = stream.unitsOf(0);
      if (c.host.hostCount === 1) assert.ok(units.length > 1024, 'more segments than go with the worker\'s job');
      const { result, bytes } = await throughFifo(root, stream, undefined);
      assert.ok(result.ok && result.r.outcome === 'complete', String(!result.ok && result.err));
      const want = Buffer.concat(units.flatMap((u) => {
        const body = bodyOf(keyOf(u));
        return c.wrapper === 'RecordIO' ? [recordioHeader(body.length), body, recordioPadding(body.length)] : [body];
      }));
      assert.equal(bytes.length, want.length, JSON.stringify(c));
      assert.equal(sha(bytes), sha(want), JSON.stringify(c));
    } finally {
      stores.close();
    }
  }
});
