/**
 * A channel's byte stream, epoch by epoch: the composition of the data path.
 *
 *   items (loaded once) ─▶ planEpoch ─▶ Prefetcher (ranged GETs, memory budget) ─▶ frameUnits
 *   (gzip, RecordIO) ─▶ batches of Buffers for the pipe writer
 *
 * A Gzip channel's budget is split: half for the prefetcher, a quarter for the objects being
 * inflated at once (compressed bytes taken, inflated bytes not yet handed on), and the last
 * quarter for what that costs besides: the writer's batch (as large as what inflating held) and
 * the output chunks zlib allocates (measured: with the whole budget counted, the process
 * exceeded 128 MiB + budget).
 *
 * Everything is pulled: the sink asks for the next batch only when it can write it, so a slow
 * reader stops the fetching. Closing the stream early (reader gone) aborts requests in flight.
 *
 * Streamed listing (`streamListing`, S3Prefix channels without ShuffleConfig, in S3 or a local
 * folder): the channel opens once the first listing page is in (for a folder, its first objects
 * in key order), and an epoch that starts before the listing is complete takes its units from the
 * listing as it goes (PrefixItems, one listing request at a time), dealt to hosts and FIFO parts
 * by position exactly as planEpoch deals the complete list, so the first byte does not wait for
 * the rest of a large prefix. Such an epoch runs through the prefetcher, or the splice path fed as
 * the listing goes (pipe/epoch-writer.ts); a listing failure mid-way fails it. Epochs that start
 * once the listing is complete use the gathered list.
 */
import type { ChannelSpec } from '../channel/channel-spec.js';
import { resolveFetchOptions, shareOf, type FetchOptions, type FetchSettings } from '../fetch/fetch-options.js';
import { Prefetcher, FetchStats } from '../fetch/prefetcher.js';
import { loadItems } from '../manifest/load-items.js';
import { PrefixItems } from '../manifest/from-prefix.js';
import type { Item, Unit } from '../manifest/unit.js';
import { describeUnit } from '../manifest/unit.js';
import { planEpoch, takesPosition } from '../plan/epoch-plan.js';
import { RECORDIO_MAX_LENGTH } from '../records/recordio.js';
import type { Stores } from '../storage/stores.js';
import { frameUnits, tooLargeForRecordIO } from './frame-units.js';
import { GUNZIP_CHUNK, INFLATE_PARALLEL } from './inflate-ahead.js';
import { ConfigError, InternalError } from '../core/errors.js';
import type { Logger } from '../core/log.js';
import type { FollowCursor } from '../manifest/follow-cursor.js';
import { isFolderMarker, ListingStats } from '../manifest/follow-prefix.js';
import type { ObjectInfo, ObjectStore } from '../storage/object-store.js';
import { followEpoch, hostOfKey, type FollowBytes } from './follow-stream.js';

export interface HostPosition {
  /** 0-based rank of this host. @default 0 */
  readonly hostRank: number;
  /** @default 1 */
  readonly hostCount: number;
}

export function checkHostPosition(host: HostPosition): void {
  if (!Number.isSafeInteger(host.hostCount) || host.hostCount < 1) throw new ConfigError(`host count must be a positive integer, got ${host.hostCount}`, { field: 'hostCount' });
  if (!Number.isSafeInteger(host.hostRank) || host.hostRank < 0 || host.hostRank >= host.hostCount) {
    throw new ConfigError(`host rank must be 0-${host.hostCount - 1} (0-based), got ${host.hostRank}`, { field: 'hostRank' });
  }
}

/** Part `index` (0-based) of a channel split into `count` FIFOs. */
export interface Split {
  readonly index: number;
  readonly count: number;
}

const WHOLE: Split = Object.freeze({ index: 0, count: 1 });

/** One epoch's framed bytes, pulled as batches of Buffers. */
export interface EpochBytes extends AsyncIterable<Buffer[]> {
  /** Stops fetching and frees buffers; safe to call at any time, more than once. */
  close(): void;
}

interface Followed {
  readonly store: ObjectStore;
  readonly initial: readonly ObjectInfo[];
}

/** What a followed channel needs besides its listing: where its cursor is kept, where warnings go. */
export interface FollowState {
  readonly cursor?: FollowCursor | undefined;
  /** Opens the cursor when the stream starts (train: after checkpoints are restored). */
  readonly openCursor?: (() => FollowCursor) | undefined;
  readonly log?: Logger | undefined;
}

/** How a channel is opened. */
export interface OpenOptions {
  /**
   * Open an S3Prefix channel without ShuffleConfig once its first listing page is in, and stream
   * epochs that start before the rest is listed (see above). @default false
   */
  readonly streamListing?: boolean;
}

export class ChannelStream {
  readonly spec: ChannelSpec;
  readonly #items: readonly Item[] | PrefixItems;
  readonly stats = new FetchStats();
  /** The cost of following the prefix (followed channels only). */
  readonly listing = new ListingStats();
  readonly #fetch: FetchOptions;
  readonly #host: HostPosition;
  /** Followed channels: the store and the listing at start. */
  readonly #followed: Followed | undefined;
  readonly #follow: FollowState;

  private constructor(spec: ChannelSpec, items: readonly Item[] | PrefixItems, fetch: FetchOptions, host: HostPosition, followed?: Followed, follow: FollowState = {}) {
    this.spec = spec;
    this.#items = items;
    this.#fetch = fetch;
    this.#host = host;
    this.#followed = followed;
    this.#follow = follow;
  }

  /** The channel's items; for a channel still being listed, those listed so far (see `listed`). */
  get items(): readonly Item[] {
    return this.#items instanceof PrefixItems ? this.#items.items : this.#items;
  }

  /** Whether every item is known (false only while a streamed listing is under way). */
  get listingComplete(): boolean {
    return !(this.#items instanceof PrefixItems) || this.#items.complete;
  }

  /** Settles when every item is known; rejects with the listing's failure. */
  async listed(): Promise<void> {
    if (this.#items instanceof PrefixItems) await this.#items.listed;
  }

  /** The fetch options this channel streams with (memory budget, part size, …). */
  get fetchOptions(): FetchOptions {
    return this.#fetch;
  }

  /** The same channel (same listing, no new request) as seen by another host. */
  forHost(host: HostPosition): ChannelStream {
    checkHostPosition(host);
    return new ChannelStream(this.spec, this.#items, this.#fetch, host, this.#followed, this.#follow);
  }

  /** The same channel with a cursor and logger for following (each host has its own cursor). */
  withFollowState(state: FollowState): ChannelStream {
    return new ChannelStream(this.spec, this.#items, this.#fetch, this.#host, this.#followed, state);
  }

  /** Lists (or reads the manifest of) the channel and checks what can be checked before streaming. */
  static async open(spec: ChannelSpec, stores: Stores, settings: FetchSettings | FetchOptions, host: HostPosition, signal?: AbortSignal, options: OpenOptions = {}): Promise<ChannelStream> {
    const fetch = resolveFetchOptions(settings);
    checkHostPosition(host);
    const recordioLimit = spec.recordWrapper === 'RecordIO' && spec.compression !== 'Gzip';
    if (options.streamListing === true && spec.dataType === 'S3Prefix' && spec.follow === undefined && spec.shuffleSeed === undefined) {
      // one listing request at a time: it stays ahead of the stream (1,000 keys a request) and
      // leaves the CPU and the link to the first GETs, which parallel listing requests would delay
      const items = new PrefixItems(stores.storeFor(spec.source), spec.source.key, signal, (unit) => {
        if (recordioLimit && unit.info !== undefined && unit.info.size > RECORDIO_MAX_LENGTH) throw tooLargeForRecordIO(describeUnit(unit), unit.info.size);
      }, 1);
      await items.started();
      return new ChannelStream(spec, items, fetch, host);
    }
    let items: Item[];
    let followed: Followed | undefined;
    if (spec.follow !== undefined) {
      // a followed prefix may start empty: the stream waits for objects to land
      const store = stores.storeFor(spec.source);
      const initial: ObjectInfo[] = [];
      for await (const info of store.list(spec.source.key, signal)) if (!isFolderMarker(info)) initial.push(info);
      items = initial.map((info): Item => [{ kind: 'object', store, key: info.key, info }]);
      followed = { store, initial };
    } else {
      items = await loadItems(spec, stores, fetch.retry, signal);
    }
    if (recordioLimit) {
      for (const unit of items.flat()) {
        const size = unit.kind === 'inline' ? unit.bytes.length : unit.info?.size;
        if (size !== undefined && size > RECORDIO_MAX_LENGTH) throw tooLargeForRecordIO(describeUnit(unit), size);
      }
    }
    return new ChannelStream(spec, items, fetch, host, followed);
  }

  /**
   * The units this host streams in `epoch`, in order. With `split` (a pipemode extension: several
   * FIFOs per channel, one per reader process), only part `split.index` of `split.count`: the
   * host's items dealt round-robin, so the parts are disjoint and together are the whole epoch.
   */
  unitsOf(epoch: number, split: Split = WHOLE): Unit[] {
    if (!this.listingComplete) throw new InternalError(`channel "${this.spec.name}": unitsOf() before its listing is complete`);
    if (this.spec.follow !== undefined && this.#host.hostCount > 1 && this.spec.distribution === 'ShardedByS3Key') {
      // followed channels deal objects by key hash (follow-stream.ts); these are the ones at start
      return this.items.flat().filter((u) => u.kind === 'object' && hostOfKey(u.key, this.#host.hostCount) === this.#host.hostRank);
    }
    const items = planEpoch(this.items, {
      seed: this.spec.shuffleSeed,
      epoch,
      distribution: this.spec.distribution,
      hostRank: this.#host.hostRank,
      hostCount: this.#host.hostCount,
    });
    return (split.count === 1 ? items : items.filter((_, i) => i % split.count === split.index)).flat();
  }

  /**
   * The framed bytes of one epoch. Fetching starts at once, so data is ready when a reader
   * arrives; `close()` (or `signal`) stops it whether or not iteration has begun. `units`, if
   * given, must be `unitsOf(epoch, split)` (a caller that already planned the epoch passes it on).
   */
  epoch(epoch: number, signal?: AbortSignal, split: Split = WHOLE, units?: readonly Unit[]): EpochBytes {
    if (this.spec.follow !== undefined) return this.followEpoch(epoch, signal, split);
    // the parts of a split channel share its memory budget
    const fetch = shareOf(this.#fetch, split.count);
    const source = units ?? (this.#items instanceof PrefixItems && !this.#items.complete ? this.listedUnits(split) : this.unitsOf(epoch, split));
    // Gzip: half the budget fetches ahead, a quarter holds objects inflating at once (see above)
    const gzip = this.spec.compression === 'Gzip';
    const prefetch = gzip ? shareOf(fetch, 2) : fetch;
    const prefetcher = new Prefetcher(source, prefetch, this.stats, signal);
    const framed = frameUnits(prefetcher, {
      compression: this.spec.compression,
      recordWrapper: this.spec.recordWrapper,
      maxInflatedBytes: this.#fetch.memoryBudget,
      inflate: gzip ? { aheadBytes: Math.max(GUNZIP_CHUNK, Math.floor(fetch.memoryBudget / 4)), parallel: INFLATE_PARALLEL } : undefined,
    });
    return {
      [Symbol.asyncIterator]: () => framed,
      close: () => {
        prefetcher.close();
        framed.return(undefined).catch(() => {});
      },
    };
  }

  /**
   * This host's units of an unshuffled channel (part `split`) in key order, as they are listed (the
   * whole listing if it is complete): the item at listing position p is the host's if planEpoch
   * (no shuffle) would give it position p's item, and the host's i-th item goes to part i mod
   * split.count, as in unitsOf. For epochs that start while the listing goes on: the prefetcher's
   * and the splice path's (pipe/epoch-writer.ts).
   */
  async *listedUnits(split: Split = WHOLE): AsyncGenerator<Unit[]> {
    const items = this.#items;
    if (!(items instanceof PrefixItems)) throw new InternalError(`channel "${this.spec.name}": listedUnits() of a channel that is not listed as it streams`);
    const host = { distribution: this.spec.distribution, ...this.#host };
    let position = 0;
    let mine = 0;
    for await (const batch of items.batches()) {
      const units: Unit[] = [];
      for (const item of batch) {
        if (takesPosition(position++, host) && mine++ % split.count === split.index) units.push(...item);
      }
      if (units.length > 0) yield units;
    }
  }

  /** A followed channel's one epoch: the objects at start, then those that land, until the idle timeout. */
  followEpoch(epoch: number, signal?: AbortSignal, split: Split = WHOLE): FollowBytes {
    if (epoch !== 0) throw new ConfigError(`channel "${this.spec.name}" follows its prefix: it has one epoch (0), not ${epoch}`, { field: 'Follow' });
    if (split.count !== 1) throw new ConfigError(`channel "${this.spec.name}" follows its prefix and cannot be split over several FIFOs`, { field: '--fifos-per-channel' });
    const source = this.spec.source;
    const followed = this.#followed;
    if (followed === undefined) throw new ConfigError(`channel "${this.spec.name}" does not follow its prefix`, { field: 'Follow' });
    const key = source.key;
    const localFolder = source.kind === 'file' ? `/${key.slice(0, key.lastIndexOf('/') + 1)}` : undefined;
    return followEpoch({
      spec: this.spec, store: followed.store, initial: followed.initial, localFolder, fetch: this.#fetch, stats: this.stats, listing: this.listing,
      hostRank: this.#host.hostRank, hostCount: this.#host.hostCount, cursor: this.#follow.cursor, openCursor: this.#follow.openCursor, log: this.#follow.log, signal,
    });
  }
}
