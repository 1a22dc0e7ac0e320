/**
 * The reads of one open file: serves the kernel's FUSE reads (≤ 128 KiB each, sometimes several
 * at once and slightly out of order) from ranged GETs, and reads ahead when access is sequential.
 *
 * Design (after mountpoint-s3's prefetcher): the handle keeps a *stream*, a run of parts covering
 * [first kept byte, fetchEnd) of the file. A read that starts inside the stream is served from it;
 * a read anywhere else (a seek) drops the stream and starts a new one at that offset. A read that
 * continues where the previous one ended is *sequential*: each one doubles the read-ahead window
 * (initialWindow → maxWindow) and parts are started until the stream reaches `window` bytes past
 * the read, each part as large as a quarter of the window (256 KiB → partSize). A read that is not
 * sequential fetches exactly the bytes asked for and resets the window, so random access costs no
 * wasted bandwidth. Parts more than KEEP_BEHIND bytes behind the reader are dropped.
 *
 * Memory: read-ahead parts start only if they fit in the mount's ByteBudget; bytes a read is
 * waiting for are always fetched (see byte-budget.ts). Errors: a failed part fails the reads that
 * need it with its typed error, and the stream is dropped so the next read starts afresh.
 */
import type { FileNode } from './mount-tree.js';
import { RangePart, type FetchContext } from './range-part.js';

export interface ReadAheadOptions {
  /** Largest ranged GET. @default 8 MiB */
  readonly partSize: number;
  /** Read-ahead after the first sequential read. @default 1 MiB */
  readonly initialWindow: number;
  /** Read-ahead ceiling per open file. @default 64 MiB (capped at half the mount's budget) */
  readonly maxWindow: number;
}

export const DEFAULT_READ_AHEAD: ReadAheadOptions = Object.freeze({
  partSize: 8 * 1024 * 1024,
  initialWindow: 1024 * 1024,
  maxWindow: 64 * 1024 * 1024,
});

/** Smallest read-ahead request: below this, per-request latency dominates. */
const MIN_PART = 256 * 1024;
/**
 * Bytes kept behind the furthest read: the kernel has several 128 KiB reads of one file in flight
 * at once and they may arrive out of order, so a part is dropped only once no such read can need it.
 */
const KEEP_BEHIND = 2 * 1024 * 1024;
/** A read starting this close to where the last one ended still counts as sequential. */
const SEQUENTIAL_SLACK = 1024 * 1024;

/** Bytes read without a copy (readSlices): views valid until `release()`. */
export interface Slices {
  readonly slices: readonly Buffer[];
  readonly bytes: number;
  release(): void;
}

export class ReadAhead {
  readonly #file: FileNode;
  readonly #ctx: FetchContext;
  readonly #options: ReadAheadOptions;
  /** Contiguous parts, from the first kept byte up to #fetchEnd. */
  #parts: RangePart[] = [];
  #fetchEnd = 0;
  /** End of the furthest read so far (where a sequential read starts). */
  #lastEnd = 0;
  #window = 0;
  #closed = false;

  /**
   * `head`: the file's first bytes, already prefetched as contiguous parts from byte 0 (their
   * reservations pass to this reader).
   */
  constructor(file: FileNode, ctx: FetchContext, options: ReadAheadOptions = DEFAULT_READ_AHEAD, head: readonly RangePart[] = []) {
    this.#file = file;
    this.#ctx = ctx;
    this.#options = options;
    const last = head.at(-1);
    if (last !== undefined) {
      this.#parts.push(...head);
      this.#fetchEnd = last.end;
      // a prefetched head means files are being read in order: expect this one to be read through
      this.#window = options.initialWindow;
    }
  }

  get size(): number {
    return this.#file.info.size;
  }

  /**
   * Up to `length` bytes at `offset` as views of the fetched parts, without copying them (none at or
   * past EOF). The views stay valid until `release()`, which must be called once, soon: the parts
   * they show are pinned until then.
   */
  async readSlices(offset: number, length: number): Promise<Slices> {
    const end = Math.min(offset + length, this.size);
    if (offset >= end || this.#closed) return { slices: [], bytes: 0, release: () => {} };
    this.#steer(offset, end);
    const needed = this.#parts.filter((p) => p.end > offset && p.start < end);
    for (const p of needed) p.pin();
    let released = false;
    const release = (): void => {
      if (released) return;
      released = true;
      for (const p of needed) p.unpin();
      this.#trim();
    };
    try {
      const slices: Buffer[] = [];
      let bytes = 0;
      for (const part of needed) {
        const from = Math.max(offset, part.start);
        const to = Math.min(end, part.end);
        await part.waitFor(to);
        part.slices(from, to, slices);
        bytes += to - from;
      }
      return { slices, bytes, release };
    } catch (err) {
      this.#dropStream();
      release();
      throw err;
    }
  }

  /**
   * Bytes of the read-ahead window that lie past the end of the file: while a reader streams
   * through the file, the window runs on into the next files (NextFiles.extend). 0 otherwise.
   */
  get spill(): number {
    return this.#window === 0 || this.#closed ? 0 : Math.max(0, this.#lastEnd + this.#window - this.size);
  }

  /** Drops every part (the file was closed). */
  close(): void {
    this.#closed = true;
    this.#dropStream();
  }

  /** Decides sequential or not, re-anchors the stream if needed, starts the parts to fetch. */
  #steer(offset: number, end: number): void {
    const sequential = offset >= this.#lastEnd - SEQUENTIAL_SLACK && offset <= this.#lastEnd + SEQUENTIAL_SLACK;
    const first = this.#parts[0];
    const inStream = first !== undefined && offset >= first.start && offset <= this.#fetchEnd;
    if (!inStream) {
      if (first !== undefined && offset < first.start && first.start - offset <= SEQUENTIAL_SLACK) {
        // an earlier read that arrived late (the kernel's reads of one file race each other):
        // fetch the gap in front of the stream rather than throw the stream away
        const gap = first.start - offset;
        this.#ctx.budget.force(gap);
        this.#parts.unshift(new RangePart(this.#file.store, this.#file.info, offset, first.start, 'demand', this.#ctx));
      } else {
        this.#dropStream();
        this.#fetchEnd = offset;
      }
    }
    if (sequential) {
      this.#window = Math.min(this.#maxWindow(), Math.max(this.#options.initialWindow, this.#window * 2));
      this.#lastEnd = Math.max(this.#lastEnd, end);
    } else {
      this.#window = 0;
      this.#lastEnd = end;
    }
    // the bytes this read needs: fetched now, budget or not
    if (this.#fetchEnd < end) {
      const length = sequential ? Math.max(end - this.#fetchEnd, Math.min(this.#partLength(), this.size - this.#fetchEnd)) : end - this.#fetchEnd;
      this.#ctx.budget.force(length);
      this.#launch(length, 'demand');
    }
    // read-ahead, within the budget
    const target = Math.min(this.size, end + this.#window);
    while (this.#fetchEnd < target) {
      const length = Math.min(this.#partLength(), this.size - this.#fetchEnd);
      if (!this.#ctx.budget.tryReserve(length)) break;
      this.#launch(length, 'ahead');
    }
  }

  #maxWindow(): number {
    return Math.max(this.#options.initialWindow, Math.min(this.#options.maxWindow, Math.floor(this.#ctx.budget.limit / 2)));
  }

  #partLength(): number {
    return Math.min(this.#options.partSize, Math.max(MIN_PART, Math.floor(this.#window / 4)));
  }

  #launch(length: number, priority: 'demand' | 'ahead'): void {
    const part = new RangePart(this.#file.store, this.#file.info, this.#fetchEnd, this.#fetchEnd + length, priority, this.#ctx);
    this.#parts.push(part);
    this.#fetchEnd += length;
  }

  /** Drops parts wholly behind the reader (keeping KEEP_BEHIND for reads still in flight). */
  #trim(): void {
    while (this.#parts.length > 1) {
      const first = this.#parts[0] as RangePart;
      if (first.end > this.#lastEnd - KEEP_BEHIND) break;
      this.#parts.shift();
      first.drop();
    }
    // a last part fully read at EOF is not needed again: the kernel caches what it was given
    const only = this.#parts[0];
    if (only !== undefined && this.#parts.length === 1 && only.end === this.size && this.#lastEnd >= this.size && only.complete) {
      this.#parts = [];
      only.drop();
    }
  }

  #dropStream(): void {
    for (const p of this.#parts) {
      p.countWasted(this.#lastEnd);
      p.drop();
    }
    this.#parts = [];
  }
}
