/**
 * Prefetch across files: when files are opened in listing order (a reader walking a folder of
 * many small files, `cat *`, a DataLoader without shuffling), the first bytes of the next files are
 * fetched before they are opened — whole files up to `headBytes` — many at once, so the reader
 * never waits for one GET per file. This is what makes small-file datasets fast; per-file latency
 * is what makes them slow on s3fs and on SageMaker's own FastFile.
 *
 * Detection: an open of index i counts as in order if i is within ORDER_SLACK of the furthest file
 * opened so far (several reader processes or threads interleave a little), or if it opens the
 * first file. Each in-order open doubles the look-ahead (4, 8, … `maxFiles` files); an open
 * elsewhere drops every prefetched head and starts over. Heads the reader has passed are dropped.
 * Heads hold at most `maxBytes` together and only start when they fit in the mount's budget; the
 * reservation of a head passes to the file's ReadAhead when it is opened. A head starts only for a
 * file that begins within `horizonBytes` of the furthest file opened, counting the whole files in
 * between: a reader of 32 MiB files reaches the tenth file ahead only after 288 MiB, so its head
 * would only hold memory that long (on 2 GiB of 32 MiB files, 32 heads of 2 MiB were most of the
 * mount's buffers); small files still get up to `maxFiles` heads.
 *
 * Large files: a reader streaming through file i wants its read-ahead window to run on into file
 * i+1 rather than stop at the end of i (otherwise every file starts with an empty pipeline: slow
 * first megabytes, one GET latency per file). ChannelFs passes the part of the window that lies
 * past i's end to `extend`, which grows the heads of the next files, a part at a time, within
 * the mount's budget only (it is read-ahead, not a head).
 */
import type { FileNode } from './mount-tree.js';
import { RangePart, type FetchContext } from './range-part.js';

export interface NextFilesOptions {
  /** Most files prefetched ahead of the furthest one opened. @default 256 */
  readonly maxFiles: number;
  /** Bytes prefetched from the start of each file (whole files up to this size). @default 2 MiB */
  readonly headBytes: number;
  /** Bytes all prefetched heads may hold together. @default a quarter of the mount's budget */
  readonly maxBytes: number;
  /** How far ahead (the sizes of the files in between) a file's head may start. @default the read-ahead window's ceiling */
  readonly horizonBytes: number;
  /** Largest GET when a head is extended by a reader's read-ahead. @default the mount's part size */
  readonly partSize: number;
}

/** How far behind or ahead of the furthest file opened an open still counts as "in order". */
const ORDER_SLACK = 16;

export class NextFiles {
  readonly #files: readonly FileNode[];
  readonly #ctx: FetchContext;
  readonly #options: NextFilesOptions;
  /** Prefetched parts of unopened files, each list contiguous from byte 0. */
  readonly #heads = new Map<number, RangePart[]>();
  #bytes = 0;
  /** Furthest index opened, -1 before the first open. */
  #furthest = -1;
  /** In-order opens in a row. */
  #run = 0;
  /** Next index to prefetch. */
  #next = 0;

  constructor(files: readonly FileNode[], ctx: FetchContext, options: NextFilesOptions) {
    this.#files = files;
    this.#ctx = ctx;
    this.#options = options;
  }

  /**
   * File `index` is being opened: returns its prefetched parts, if any (the caller now owns them
   * and must drop them), and prefetches further ahead if files are being opened in order.
   */
  opened(index: number): RangePart[] {
    const head = this.#heads.get(index) ?? [];
    if (head.length > 0) {
      this.#heads.delete(index);
      for (const part of head) this.#bytes -= part.length;
      this.#ctx.stats.prefetchHits++;
    }
    const inOrder = this.#furthest === -1 ? index === 0 : index > this.#furthest - ORDER_SLACK && index <= this.#furthest + ORDER_SLACK;
    if (!inOrder) {
      this.#run = 0;
      this.#dropWhere(() => true);
      this.#furthest = index;
      this.#next = index + 1;
      return head;
    }
    this.#run++;
    this.#furthest = Math.max(this.#furthest, index);
    this.#dropWhere((i) => i < this.#furthest - ORDER_SLACK);
    this.#next = Math.max(this.#next, this.#furthest + 1);
    const lookahead = Math.min(this.#options.maxFiles, 2 ** Math.min(this.#run + 1, 30));
    const limit = Math.min(this.#files.length, this.#furthest + 1 + lookahead);
    let ahead = 0; // bytes of the files between the furthest one opened and #next
    for (let i = this.#furthest + 1; i < this.#next; i++) ahead += (this.#files[i] as FileNode).info.size;
    while (this.#next < limit && ahead < this.#options.horizonBytes) {
      const file = this.#files[this.#next] as FileNode;
      ahead += file.info.size;
      const length = Math.min(file.info.size, this.#options.headBytes);
      if (length > 0 && !this.#heads.has(this.#next)) {
        if (this.#bytes + length > this.#options.maxBytes || !this.#ctx.budget.tryReserve(length)) break;
        this.#heads.set(this.#next, [new RangePart(file.store, file.info, 0, length, 'ahead', this.#ctx)]);
        this.#bytes += length;
        this.#ctx.stats.filesPrefetched++;
      }
      this.#next++;
    }
    return head;
  }

  /**
   * A reader of file `index - 1` reads sequentially and its read-ahead reaches `bytes` past that
   * file's end: makes sure the files from `index` on have those bytes prefetched (as far as the
   * mount's budget allows). Cheap when they already have.
   */
  extend(index: number, bytes: number): void {
    if (this.#run === 0) return; // files are not being opened in order: the next one is a guess
    for (let i = index; bytes > 0 && i < this.#files.length && i <= index + ORDER_SLACK; i++) {
      const file = this.#files[i] as FileNode;
      const want = Math.min(file.info.size, bytes);
      bytes -= file.info.size;
      if (i <= this.#furthest) continue; // opened already: its own reader fetches it
      let parts = this.#heads.get(i);
      let covered = parts?.at(-1)?.end ?? 0;
      while (covered < want) {
        const length = Math.min(this.#options.partSize, file.info.size - covered);
        if (!this.#ctx.budget.tryReserve(length)) return;
        if (parts === undefined) {
          parts = [];
          this.#heads.set(i, parts);
          this.#ctx.stats.filesPrefetched++;
        }
        parts.push(new RangePart(file.store, file.info, covered, covered + length, 'ahead', this.#ctx));
        this.#bytes += length;
        covered += length;
      }
    }
  }

  /** Drops every prefetched head (unmount). */
  close(): void {
    this.#dropWhere(() => true);
  }

  #dropWhere(test: (index: number) => boolean): void {
    for (const [index, parts] of this.#heads) {
      if (!test(index)) continue;
      this.#heads.delete(index);
      for (const part of parts) {
        this.#bytes -= part.length;
        part.countWasted(0);
        part.drop();
      }
    }
  }
}
