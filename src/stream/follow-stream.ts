/**
 * The byte stream of a channel that follows its prefix (`Follow`): one epoch whose units are an
 * async source rather than a fixed list.
 *
 *   objects present at start (the channel's usual order: shuffled with ShuffleConfig) ─▶ then,
 *   poll after poll, the objects found since, in the order they were found ─▶ Prefetcher per
 *   batch ─▶ frameUnits (Gzip, RecordIO) ─▶ batches for the writer; ends after the idle timeout.
 *
 * Exactness: every object at most once (by key), whole, pinned to the version listed. An object
 * deleted before its first byte is skipped with a warning; one rewritten before its first byte
 * is streamed in its new version (with a warning); one that changes or disappears after its first
 * byte fails the stream (ObjectChangedError / NoSuchKeyError), as for a fixed channel. A failure
 * of an object *ahead* of the one being written (the prefetcher reads ahead) does not cut that
 * one: the batch is fetched again and the bytes already written are dropped from its front
 * (framing is deterministic, so the continuation is exact).
 *
 * ShardedByS3Key: a followed channel deals every object — present at start or late — to host
 * `hostOfKey(key, hostCount)` (a stable hash of the key), so each host decides alone and a
 * restart, which sees a different listing, deals every object as before.
 *
 * The cursor (FollowCursor) records an object once its last byte was written: for a FIFO, when
 * the kernel took it (the writer reports flushed bytes, `trackFlushes`); for other writers, when
 * the writer asks for the next batch (it has written the previous one by then).
 */
import { createHash } from 'node:crypto';
import type { ChannelSpec } from '../channel/channel-spec.js';
import { NoSuchKeyError, ObjectChangedError } from '../core/errors.js';
import { ioBuffers } from '../core/buffer-pool.js';
import type { Logger } from '../core/log.js';
import type { FetchOptions } from '../fetch/fetch-options.js';
import { Prefetcher, type FetchStats, type UnitData } from '../fetch/prefetcher.js';
import type { FollowCursor } from '../manifest/follow-cursor.js';
import { isFolderMarker, PrefixFollower, type ListingStats } from '../manifest/follow-prefix.js';
import type { ObjectUnit } from '../manifest/unit.js';
import { planEpoch } from '../plan/epoch-plan.js';
import type { ObjectInfo, ObjectStore } from '../storage/object-store.js';
import { frameUnits } from './frame-units.js';

/** The host (0-based) a followed, sharded channel deals `key` to: sha256(key) mod hostCount. */
export function hostOfKey(key: string, hostCount: number): number {
  if (hostCount <= 1) return 0;
  return createHash('sha256').update(key, 'utf8').digest().readUInt32BE(0) % hostCount;
}

export interface FollowContext {
  readonly spec: ChannelSpec;
  readonly store: ObjectStore;
  /** The listing at start. */
  readonly initial: readonly ObjectInfo[];
  /** The folder of the prefix when the store is local (watched). */
  readonly localFolder: string | undefined;
  readonly fetch: FetchOptions;
  readonly stats: FetchStats;
  readonly listing: ListingStats;
  readonly hostRank: number;
  readonly hostCount: number;
  readonly cursor: FollowCursor | undefined;
  /** Opens the cursor when the stream starts, if `cursor` is not given. */
  readonly openCursor?: (() => FollowCursor) | undefined;
  readonly log: Logger | undefined;
  readonly signal: AbortSignal | undefined;
}

/** A followed channel's bytes. */
export interface FollowBytes extends AsyncIterable<Buffer[]> {
  close(): void;
  /** Call before iterating: objects are recorded when `flushed` reports their last byte taken. */
  trackFlushes(): void;
  /** The writer's running count of bytes the kernel took. */
  flushed(bytes: number): void;
}

interface Pending {
  readonly end: number;
  readonly key: string;
  readonly etag: string | undefined;
}

const bytesOf = (batch: readonly Buffer[]): number => batch.reduce((n, b) => n + b.length, 0);

async function* single(data: UnitData): AsyncGenerator<UnitData> {
  yield data;
}

export function followEpoch(ctx: FollowContext): FollowBytes {
  const spec = ctx.spec.follow;
  if (spec === undefined) throw new Error('followEpoch: the channel does not follow its prefix');
  const follow = spec;
  // created when streaming starts (a reader arrived): the idle clock starts then
  let follower: PrefixFollower | undefined;
  const sharded = ctx.spec.distribution === 'ShardedByS3Key' && ctx.hostCount > 1;
  const channel = ctx.spec.name;
  let cursor = ctx.cursor;
  const mine = (o: ObjectInfo): boolean =>
    !isFolderMarker(o) && !(cursor?.has(channel, o.key) ?? false) && (!sharded || hostOfKey(o.key, ctx.hostCount) === ctx.hostRank);
  const toUnit = (info: ObjectInfo): ObjectUnit => ({ kind: 'object', store: ctx.store, key: info.key, info });
  const framing = { compression: ctx.spec.compression, recordWrapper: ctx.spec.recordWrapper, maxInflatedBytes: ctx.fetch.memoryBudget };

  let tracking = false;
  let offset = 0;
  let flushedBytes = 0;
  const pending: Pending[] = [];
  let current: Prefetcher | undefined;
  let closed = false;

  const commitUpTo = (bytes: number): void => {
    while (pending.length > 0 && (pending[0] as Pending).end <= bytes) {
      const p = pending.shift() as Pending;
      cursor?.add(channel, p.key, p.etag);
    }
  };
  const objectEnded = (unit: ObjectUnit): void => {
    pending.push({ end: offset, key: unit.key, etag: unit.info?.etag });
    commitUpTo(tracking ? flushedBytes : offset);
  };

  /** Streams `queue` (mutated: units leave it as they are done or skipped). */
  async function* streamUnits(queue: ObjectUnit[]): AsyncGenerator<Buffer[]> {
    const rewritten = new Set<string>();
    let skip = 0; // framed bytes of queue[0] written before a restart
    while (queue.length > 0 && !closed) {
      const prefetcher = new Prefetcher(queue.slice(), ctx.fetch, ctx.stats, ctx.signal);
      current = prefetcher;
      let sentOfFront = 0;
      try {
        for await (const data of prefetcher) {
          sentOfFront = 0;
          for await (const batch of frameUnits(single(data), framing)) {
            const n = bytesOf(batch);
            if (sentOfFront + n <= skip) {
              for (const b of batch) ioBuffers.release(b);
              sentOfFront += n;
              continue;
            }
            let out = batch;
            if (sentOfFront < skip) {
              // drop the front that was written before the restart
              let drop = skip - sentOfFront;
              out = [];
              for (const b of batch) {
                if (drop >= b.length) {
                  drop -= b.length;
                  ioBuffers.release(b);
                } else {
                  out.push(drop > 0 ? b.subarray(drop) : b);
                  drop = 0;
                }
              }
            }
            sentOfFront += n;
            offset += out === batch ? n : bytesOf(out);
            yield out;
          }
          skip = 0;
          sentOfFront = 0;
          objectEnded(queue.shift() as ObjectUnit);
        }
      } catch (err) {
        if (!(err instanceof NoSuchKeyError || err instanceof ObjectChangedError)) throw err;
        const uri = err.details.uri;
        const index = queue.findIndex((u) => ctx.store.uriOf(u.key) === uri);
        if (index < 0) throw err;
        const sentBefore = Math.max(skip, sentOfFront);
        if (index === 0 && sentBefore > 0) throw err; // it changed while being read
        const unit = queue[index] as ObjectUnit;
        if (err instanceof NoSuchKeyError) {
          ctx.log?.warn(`${uri}: deleted before it was read; skipped`);
          queue.splice(index, 1);
        } else if (rewritten.has(unit.key)) {
          throw err;
        } else {
          ctx.log?.warn(`${uri}: rewritten before it was read; streaming its new version`);
          rewritten.add(unit.key);
          queue[index] = { ...unit, info: undefined }; // HEADed again by the prefetcher
        }
        if (index > 0) skip = sentBefore; // the front object is re-fetched, its written bytes dropped
      } finally {
        prefetcher.close();
        current = undefined;
      }
    }
  }

  async function* generate(): AsyncGenerator<Buffer[]> {
    follower = new PrefixFollower(ctx.store, ctx.spec.source.key, ctx.initial, {
      pollIntervalMs: follow.pollIntervalMs, idleTimeoutMs: follow.idleTimeoutMs, rescanEvery: follow.rescanEvery,
    }, ctx.listing, ctx.localFolder);
    try {
      cursor ??= ctx.openCursor?.();
      const start = planEpoch(ctx.initial.filter(mine), {
        seed: ctx.spec.shuffleSeed, epoch: 0, distribution: 'FullyReplicated', hostRank: 0, hostCount: 1,
      });
      ctx.log?.debug(`${channel}: following ${ctx.store.uriOf(ctx.spec.source.key)}: ${start.length} objects at start` +
        `${cursor !== undefined ? `, ${cursor.count(channel)} already streamed (${cursor.file})` : ''}`);
      yield* streamUnits(start.map(toUnit));
      for (;;) {
        if (closed) return;
        const found = await follower.next(ctx.signal);
        if (found === undefined) break;
        const batch = found.filter(mine);
        if (batch.length > 0) ctx.log?.debug(`${channel}: ${batch.length} new objects (${found.length} found)`);
        yield* streamUnits(batch.map(toUnit));
      }
      const s = ctx.listing;
      ctx.log?.debug(`${channel}: nothing new for the idle timeout; ${s.polls} polls (${s.fullPolls} full), ${s.requests} listing requests, ${s.keysSeen} keys seen, ${s.discovered} objects found`);
      if (!tracking) commitUpTo(offset);
    } finally {
      follower.close();
    }
  }

  const gen = generate();
  return {
    [Symbol.asyncIterator]: () => gen,
    close: () => {
      closed = true;
      current?.close();
      follower?.close();
      gen.return(undefined).catch(() => {});
    },
    trackFlushes: () => {
      tracking = true;
    },
    flushed: (bytes: number) => {
      flushedBytes = Math.max(flushedBytes, bytes);
      commitUpTo(flushedBytes);
    },
  };
}
