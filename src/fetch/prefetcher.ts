/**
 * Prefetcher: turns an ordered list of units into their bytes, in order, fetching ahead with
 * many requests in flight while holding at most a fixed memory budget.
 *
 * Design (after mountpoint-s3's prefetcher):
 * - Objects are cut into parts of `partSize` bytes. Parts are launched strictly in stream order,
 *   each with its own ranged GET (retried and resumed by readRangeWithRetry), at most
 *   `maxRequests` at a time. Many small objects are therefore in flight together. The very first
 *   part is at most 1 MiB and goes alone, so the first byte arrives as soon as one small GET can
 *   bring it; the full window opens when it ends.
 * - Memory is reserved when a part is launched (its full length) and released as the consumer
 *   takes its bytes, so fetched-but-undelivered data plus in-flight reservations never exceed
 *   `memoryBudget` (a single part larger than the whole budget is refused up front). The consumer
 *   pulls: when it stops pulling (a slow FIFO reader), the budget fills and no request starts —
 *   backpressure from the reader all the way to the network.
 * - A store that answers at once (local files) may cap the window lower than the budget
 *   (`ObjectStore.readAheadBytes`): the budget is a bound, not a target.
 * - Objects whose size or version is unknown (manifest entries) are HEADed ahead of the parts,
 *   also at most `maxRequests` at a time and at most `headLookahead` units ahead.
 * - The first failure poisons the whole prefetcher: every request in flight is aborted and the
 *   consumer's next pull throws that error. What it delivered before is always a correct prefix
 *   of the stream; it never delivers a short stream as if it were complete.
 *
 * - The units may be a fixed list or an async source of batches (a channel still being listed):
 *   the source is read ahead as fast as it yields, its units are fetched as they arrive, and a
 *   failure of the source poisons the stream like a failed GET; the stream ends only when the
 *   source has ended.
 *
 * One consumer only: iterate the prefetcher, and drain each unit's chunks before the next unit.
 */
import { childAbort, onAbort } from '../core/abort.js';
import { AbortedError, PipemodeError, StoreProtocolError } from '../core/errors.js';
import type { ObjectInfo } from '../storage/object-store.js';
import type { Unit } from '../manifest/unit.js';
import { ChunkCollector } from './chunk-collector.js';
import { readRangeWithRetry, withRetry } from '../storage/retry.js';
import { resolveFetchOptions, type FetchOptions } from './fetch-options.js';

/** An epoch streamed past the prefetcher (pipe/splice-writer.ts): what it has sent, what it waits for. */
export interface LiveSplice {
  readonly sent: number;
  readonly waiting: 'reader' | 'data' | undefined;
}

/** Counters shared by everything that fetches for one channel; read them any time. */
export class FetchStats {
  /** Bytes received from the store (including bytes of attempts that were retried). */
  bytesFetched = 0;
  /** Bytes handed to the consumer. */
  bytesDelivered = 0;
  /** Bytes received and not yet handed over, now and at most. */
  buffered = 0;
  peakBuffered = 0;
  /** Reserved for parts in flight or buffered, now and at most (each prefetcher stays within its budget). */
  reserved = 0;
  peakReserved = 0;
  getRequests = 0;
  headRequests = 0;
  retries = 0;
  /** Time the consumer waited for bytes not fetched yet (starvation), in milliseconds. */
  consumerWaitMs = 0;
  /** Spliced epochs under way; their bytes join `bytesDelivered` when they end. */
  readonly splicing = new Set<LiveSplice>();

  /** Bytes delivered so far, those of spliced epochs under way included. */
  get deliveredNow(): number {
    let n = this.bytesDelivered;
    for (const run of this.splicing) n += run.sent;
    return n;
  }
}

/** One unit's bytes, in order, as batches of chunks (whatever had arrived when pulled). */
export interface UnitData {
  readonly unit: Unit;
  readonly index: number;
  readonly size: number;
  readonly chunks: AsyncIterable<Buffer[]>;
}

const HEAD_LOOKAHEAD_PER_REQUEST = 4;
/**
 * The first GET goes alone and small: the consumer's first byte (a trainer's first batch) does not
 * share the link or the server's disk with a full window of parts. The window opens when it ends.
 */
const FIRST_PART = 1024 * 1024;

interface Part {
  readonly unitIndex: number;
  readonly length: number;
  /** Received, not yet delivered. */
  readonly chunks: Buffer[];
}

function toPipemodeError(err: unknown): PipemodeError {
  if (err instanceof PipemodeError) return err;
  return new StoreProtocolError(`fetch failed: ${(err as Error).message}`, {}, { cause: err });
}

export class Prefetcher implements AsyncIterable<UnitData> {
  readonly #units: Unit[];
  /** Whether `#units` is complete (always, for a fixed list). */
  #unitsDone: boolean;
  #source: AsyncIterator<readonly Unit[]> | undefined;
  readonly #options: FetchOptions;
  readonly #stats: FetchStats;
  readonly #abort = childAbort(undefined, 0); // one listener per request in flight
  readonly #infos: (ObjectInfo | undefined)[];
  readonly #parts: Part[] = [];
  #headNext = 0;
  #headsInFlight = 0;
  #partUnit = 0;
  #partOffset = 0;
  #getsInFlight = 0;
  /** Whether the first GET has ended (until then it is the only one). */
  #windowOpen = false;
  /** The unit the consumer is on; HEAD results for it wake the consumer. */
  #consumerUnit = 0;
  #error: PipemodeError | undefined;
  #closed = false;
  /** Bytes of the front part already handed over (their reservation is released). */
  #deliveredOfFront = 0;
  /** Budget held by this prefetcher's parts. */
  #reserved = 0;
  #wake: (() => void) | undefined;
  /** Removes the listener on the caller's signal. */
  #stopFollowing: () => void = () => {};

  constructor(units: readonly Unit[] | AsyncIterable<readonly Unit[]>, options: FetchOptions, stats: FetchStats = new FetchStats(), signal?: AbortSignal) {
    options = resolveFetchOptions(options);
    const fixed = Array.isArray(units);
    this.#units = fixed ? [...(units as readonly Unit[])] : [];
    this.#unitsDone = fixed;
    this.#options = options;
    this.#stats = stats;
    this.#infos = this.#units.map((u) => (u.kind === 'object' ? u.info : undefined));
    this.#stopFollowing = onAbort(signal, () => this.#fail(new AbortedError('fetch aborted', {}, { cause: signal?.reason })));
    if (!fixed) void this.#read((units as AsyncIterable<readonly Unit[]>)[Symbol.asyncIterator]());
    this.#pump();
  }

  /** Takes the source's batches as they come. */
  async #read(source: AsyncIterator<readonly Unit[]>): Promise<void> {
    this.#source = source;
    try {
      for (;;) {
        const next = await source.next();
        if (this.#closed || this.#error !== undefined) return;
        if (next.done === true) break;
        for (const unit of next.value) {
          this.#units.push(unit);
          this.#infos.push(unit.kind === 'object' ? unit.info : undefined);
        }
        this.#pump();
        this.#notify();
      }
      this.#unitsDone = true;
      this.#notify();
    } catch (err) {
      this.#fail(toPipemodeError(err));
    }
  }

  /** Stops all fetching and frees buffered parts; the consumer's next pull ends with AbortedError. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#stopFollowing();
    this.#source?.return?.().catch(() => {});
    this.#abort.abort();
    for (const part of this.#parts) this.#stats.buffered -= part.chunks.reduce((n, c) => n + c.length, 0);
    this.#reserve(-(this.#parts.reduce((n, p) => n + p.length, 0) - this.#deliveredOfFront));
    this.#parts.length = 0;
    this.#notify();
  }

  async *[Symbol.asyncIterator](): AsyncGenerator<UnitData> {
    try {
      for (let index = 0; ; index++) {
        if (index >= this.#units.length) {
          // a source still being read: wait for its next units, or its end
          if (this.#unitsDone || !(await this.#until(() => (index < this.#units.length ? true : this.#unitsDone ? false : undefined)))) break;
        }
        const unit = this.#units[index] as Unit;
        this.#consumerUnit = index;
        if (unit.kind === 'inline') {
          this.#stats.bytesDelivered += unit.bytes.length;
          yield { unit, index, size: unit.bytes.length, chunks: once(unit.bytes) };
          continue;
        }
        const info = await this.#until(() => this.#infos[index]);
        let drained = info.size === 0;
        const chunks = this.#chunksOf(index, info.size, () => (drained = true));
        yield { unit, index, size: info.size, chunks };
        if (!drained) throw new Error(`Prefetcher: unit ${index} was not drained before the next one was requested`);
      }
    } finally {
      this.close();
    }
  }

  async *#chunksOf(index: number, size: number, onDrained: () => void): AsyncGenerator<Buffer[]> {
    let delivered = 0;
    while (delivered < size) {
      const waitStart = performance.now();
      const part = await this.#until(() => this.#parts[0]);
      if (part.unitIndex !== index) throw new Error(`Prefetcher: expected a part of unit ${index}, found unit ${part.unitIndex}`);
      const batch = await this.#until(() => (part.chunks.length > 0 ? part.chunks.splice(0) : undefined));
      this.#stats.consumerWaitMs += performance.now() - waitStart;
      let n = 0;
      for (const c of batch) n += c.length;
      delivered += n;
      this.#deliveredOfFront += n;
      this.#stats.buffered -= n;
      this.#reserve(-n);
      this.#stats.bytesDelivered += n;
      // bookkeeping before the yield: a consumer that stops pulling once it has `size` bytes
      // must not leave a finished part at the head of the queue
      if (this.#deliveredOfFront === part.length) {
        this.#parts.shift();
        this.#deliveredOfFront = 0;
      }
      if (delivered === size) onDrained();
      this.#pump();
      yield batch;
    }
  }

  /** Waits until `check` returns something (re-checked on every notification), or fails. */
  async #until<T>(check: () => T | undefined): Promise<T> {
    for (;;) {
      if (this.#error !== undefined) throw this.#error;
      if (this.#closed) throw new AbortedError('prefetcher closed');
      const value = check();
      if (value !== undefined) return value;
      await new Promise<void>((resolve) => (this.#wake = resolve));
    }
  }

  #notify(): void {
    const wake = this.#wake;
    this.#wake = undefined;
    wake?.();
  }

  #fail(err: PipemodeError): void {
    if (this.#error !== undefined || this.#closed) return;
    this.#error = err;
    this.#abort.abort(err);
    this.#notify();
  }

  /**
   * Reserves (or, negative, releases) budget. The budget is this prefetcher's own; the shared
   * stats only add it up (several prefetchers may report into one FetchStats).
   */
  #reserve(bytes: number): void {
    this.#reserved += bytes;
    this.#stats.reserved += bytes;
    if (this.#stats.reserved > this.#stats.peakReserved) this.#stats.peakReserved = this.#stats.reserved;
  }

  /** Starts whatever HEADs and GETs the limits allow. */
  #pump(): void {
    if (this.#closed || this.#error !== undefined) return;
    const { maxRequests, partSize, memoryBudget } = this.#options;
    const headLimit = this.#partUnit + maxRequests * HEAD_LOOKAHEAD_PER_REQUEST;
    while (this.#headsInFlight < maxRequests && this.#headNext < this.#units.length && this.#headNext < headLimit) {
      const index = this.#headNext++;
      const unit = this.#units[index] as Unit;
      if (unit.kind === 'object' && this.#infos[index] === undefined) this.#runHead(index, unit);
    }
    while (this.#getsInFlight < maxRequests && this.#partUnit < this.#units.length) {
      const unit = this.#units[this.#partUnit] as Unit;
      const info = this.#infos[this.#partUnit];
      if (unit.kind === 'inline' || (info !== undefined && this.#partOffset >= info.size)) {
        this.#partUnit++;
        this.#partOffset = 0;
        continue;
      }
      if (info === undefined) break; // its HEAD is on the way
      if (!this.#windowOpen && this.#getsInFlight > 0) break;
      const length = Math.min(this.#windowOpen ? partSize : Math.min(partSize, FIRST_PART), info.size - this.#partOffset);
      // a store may gain nothing from a deep window (local files); one part is always allowed
      const budget = Math.min(memoryBudget, Math.max(unit.store.readAheadBytes ?? Infinity, partSize));
      if (this.#reserved + length > budget) break;
      const part: Part = { unitIndex: this.#partUnit, length, chunks: [] };
      this.#parts.push(part);
      this.#reserve(length);
      void this.#runPart(part, unit, info, this.#partOffset);
      this.#partOffset += length;
    }
  }

  #runHead(index: number, unit: Unit & { kind: 'object' }): void {
    this.#headsInFlight++;
    this.#stats.headRequests++;
    const signal = this.#abort.signal;
    void withRetry(() => unit.store.head(unit.key, signal), this.#options.retry, signal, () => this.#stats.retries++)
      .then((info) => {
        this.#infos[index] = info;
        if (index === this.#consumerUnit) this.#notify();
      }, (err: unknown) => this.#fail(toPipemodeError(err)))
      .finally(() => {
        this.#headsInFlight--;
        this.#pump();
      });
  }

  async #runPart(part: Part, unit: Unit & { kind: 'object' }, info: ObjectInfo, start: number): Promise<void> {
    this.#getsInFlight++;
    this.#stats.getRequests++;
    const signal = this.#abort.signal;
    const collector = new ChunkCollector(part.length, (chunk) => {
      part.chunks.push(chunk);
      this.#stats.buffered += chunk.length;
      if (this.#stats.buffered > this.#stats.peakBuffered) this.#stats.peakBuffered = this.#stats.buffered;
      if (this.#parts[0] === part) this.#notify();
    });
    try {
      const chunks = readRangeWithRetry(unit.store, info, start, start + part.length, this.#options.retry, signal, () => this.#stats.retries++);
      for await (const chunk of chunks) {
        if (this.#closed) return;
        this.#stats.bytesFetched += chunk.length;
        collector.push(chunk);
      }
    } catch (err) {
      this.#fail(toPipemodeError(err));
    } finally {
      this.#getsInFlight--;
      this.#windowOpen = true;
      this.#pump();
    }
  }
}

async function* once(buffer: Buffer): AsyncGenerator<Buffer[]> {
  if (buffer.length > 0) yield [buffer];
}
