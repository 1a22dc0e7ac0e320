/**
 * One ranged GET of a mounted file: bytes [start, end) of the listed object version, arriving in
 * order, readable as soon as they arrive. The GET is retried and resumed by readRangeWithRetry
 * (pinned to the listed ETag, or inode/size/mtime for local files), so a part either ends with
 * exactly its bytes or with a typed error; it never holds bytes of another version.
 *
 * Ownership: the part's length is reserved from the mount's ByteBudget before it starts and given
 * back when the part is dropped. Readers pin a part while they wait on it or copy from it; a part
 * dropped while pinned is freed (request aborted, pooled buffers recycled, budget released) when
 * the last pin goes, so a concurrent seek can never recycle a buffer a read is copying from.
 */
import { setMaxListeners } from 'node:events';
import { ioBuffers } from '../core/buffer-pool.js';
import { AbortedError, PipemodeError, StoreProtocolError } from '../core/errors.js';
import { ChunkCollector } from '../fetch/chunk-collector.js';
import { readRangeWithRetry, type RetryPolicy } from '../storage/retry.js';
import type { ObjectInfo, ObjectStore } from '../storage/object-store.js';
import type { ByteBudget } from './byte-budget.js';
import type { MountStats } from './mount-stats.js';
import type { RequestSlots, SlotPriority } from './request-slots.js';

/** What every part of one mount shares. */
export interface FetchContext {
  readonly budget: ByteBudget;
  readonly slots: RequestSlots;
  readonly retry: RetryPolicy;
  readonly stats: MountStats;
}

export class RangePart {
  readonly start: number;
  readonly end: number;
  readonly #chunks: Buffer[] = [];
  /** Offsets (from `start`) at which each chunk begins. */
  readonly #chunkStarts: number[] = [];
  #received = 0;
  #error: PipemodeError | undefined;
  #waiters: (() => void)[] = [];
  #pins = 0;
  #dropped = false;
  #freed = false;
  /** The GET has ended (all bytes, or failed): nothing left to abort. */
  #ended = false;
  readonly #budget: ByteBudget;
  readonly #stats: MountStats;
  readonly #abort = new AbortController();

  /** Starts the GET at once (it waits for a request slot). The caller has reserved `end - start` bytes. */
  constructor(store: ObjectStore, info: ObjectInfo, start: number, end: number, priority: SlotPriority, ctx: FetchContext) {
    this.start = start;
    this.end = end;
    this.#budget = ctx.budget;
    this.#stats = ctx.stats;
    setMaxListeners(0, this.#abort.signal);
    void this.#run(store, info, priority, ctx);
  }

  get length(): number {
    return this.end - this.start;
  }

  /** Whether every byte has arrived. */
  get complete(): boolean {
    return this.#received === this.length;
  }

  get failed(): boolean {
    return this.#error !== undefined;
  }

  pin(): void {
    this.#pins++;
  }

  unpin(): void {
    this.#pins--;
    if (this.#pins === 0 && this.#dropped) this.#free();
  }

  /** The owner no longer needs the part; it is freed now, or when the last pin goes. */
  drop(): void {
    if (this.#dropped) return;
    this.#dropped = true;
    if (this.#pins === 0) this.#free();
  }

  /** Resolves once bytes [start, upTo) have arrived; throws the fetch's error. Pin the part first. */
  async waitFor(upTo: number): Promise<void> {
    while (this.start + this.#received < upTo) {
      if (this.#error !== undefined) throw this.#error;
      if (this.#freed) throw new AbortedError('part dropped');
      await new Promise<void>((resolve) => this.#waiters.push(resolve));
    }
  }

  /**
   * Bytes [from, to) (which must have arrived) as views of the part's chunks, no copy: valid only
   * while the part is pinned (unpinned and dropped, its chunks go back to the pool).
   */
  slices(from: number, to: number, into: Buffer[]): void {
    let offset = from - this.start;
    const stop = to - this.start;
    let i = upperBound(this.#chunkStarts, offset) - 1;
    while (offset < stop) {
      const chunk = this.#chunks[i] as Buffer;
      const chunkStart = this.#chunkStarts[i] as number;
      const view = chunk.subarray(offset - chunkStart, Math.min(chunk.length, stop - chunkStart));
      into.push(view);
      offset += view.length;
      i++;
    }
  }

  async #run(store: ObjectStore, info: ObjectInfo, priority: SlotPriority, ctx: FetchContext): Promise<void> {
    const signal = this.#abort.signal;
    let giveBack: (() => void) | undefined;
    const collector = new ChunkCollector(this.length, (chunk) => {
      this.#chunkStarts.push(this.#received);
      this.#chunks.push(chunk);
      this.#received += chunk.length;
      this.#wake();
    });
    try {
      giveBack = await ctx.slots.acquire(priority, signal);
      ctx.stats.getRequests++;
      for await (const chunk of readRangeWithRetry(store, info, this.start, this.end, ctx.retry, signal, () => ctx.stats.retries++)) {
        if (this.#freed) return;
        ctx.stats.bytesFetched += chunk.length;
        collector.push(chunk);
      }
    } catch (err) {
      if (this.#freed) return;
      this.#error = err instanceof PipemodeError ? err : new StoreProtocolError(`fetch failed: ${(err as Error).message}`, {}, { cause: err });
      this.#wake();
    } finally {
      this.#ended = true;
      giveBack?.();
    }
  }

  #wake(): void {
    const waiters = this.#waiters;
    this.#waiters = [];
    for (const w of waiters) w();
  }

  #free(): void {
    if (this.#freed) return;
    this.#freed = true;
    if (!this.#ended) this.#abort.abort(); // an abort makes a DOMException: not for the many parts already complete
    this.#budget.release(this.length);
    for (const c of this.#chunks) ioBuffers.release(c);
    this.#chunks.length = 0;
    this.#chunkStarts.length = 0;
    this.#wake();
  }

  /** Marks the part's unread bytes as wasted (called by owners that drop it unread). */
  countWasted(fromOffset: number): void {
    const unread = this.end - Math.max(this.start, Math.min(this.end, fromOffset));
    if (unread > 0) this.#stats.bytesWasted += unread;
  }
}

/** Index of the first element greater than `value` in ascending `sorted`. */
function upperBound(sorted: readonly number[], value: number): number {
  let lo = 0;
  let hi = sorted.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if ((sorted[mid] as number) <= value) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}
