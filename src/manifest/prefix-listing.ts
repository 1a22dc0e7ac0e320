/**
 * The listing of an S3Prefix channel, made by several listings in parallel and readable in key
 * order while it is still under way.
 *
 * The key space after the prefix is a list of contiguous ranges, each `(lo, hi]` (after `lo`,
 * up to and including `hi`; open at the ends), each listed by one ListObjectsV2 series
 * (StartAfter = lo, stopped at the first key past hi). When a range's listing needs a second
 * page, the range is split: from the first page's last key L, split points are guessed where
 * keys after L are likely to branch (at each character position of L up to where the page's
 * keys differ: the next digits, letters or characters at that position), the range keeps
 * (L, p1] and the ranges (p1, p2], …, (pm, hi] are listed by other requests (at most
 * `parallel` at a time), each split again if it also needs a second page. Split points are only
 * guesses for balance: whatever they are, the ranges tile the key space, so the concatenation
 * of the ranges in order is exactly the serial listing (same keys, same order). A store that
 * answers in one request (a local folder, the memory store) is never split.
 *
 * `objects()` yields the objects in key order as soon as the ranges before them are complete,
 * so a consumer can start on the first page while the rest is listed; `all()` waits for the end.
 * Zero-byte "folder/" markers are skipped. No object at all is EmptySourceError, found at the end
 * of the listing; the first listing failure stops every range and is what both methods throw.
 */
import { childAbort } from '../core/abort.js';
import { EmptySourceError } from '../core/errors.js';
import { compareKeys, type ObjectInfo, type ObjectStore } from '../storage/object-store.js';
import { isFolderMarker } from './follow-prefix.js';

/** Listing requests in flight at most. */
export const LISTING_REQUESTS = 16;

class Range {
  readonly objects: ObjectInfo[] = [];
  /** The ranges split off this one, in key order (they follow its own objects). */
  readonly after: Range[] = [];
  done = false;
  constructor(readonly lo: string | undefined, readonly hi: string | undefined) {}
}

/** Character classes whose members are guessed as split points together. */
const CLASSES = ['0123456789:', 'ABCDEFGHIJKLMNOPQRSTUVWXYZ[', 'abcdefghijklmnopqrstuvwxyz{'];
/** The most split points one split adds. */
const MAX_SPLIT_POINTS = 100;

/**
 * Split points for keys after `last`, up to `hi`, guessed from one page that began at `first` and
 * ended at `last`: at each position from where `first` and `last` differ back to the end of the
 * prefix, the characters that may follow `last`'s there (the rest of its class, or just the next
 * code unit). Ascending, all > last and < hi. Only positions in `last`'s leading ASCII run are used,
 * so a point never cuts a multi-byte character.
 */
export function splitPoints(prefixLength: number, first: string, last: string, hi: string | undefined): string[] {
  let differ = 0;
  while (differ < first.length && differ < last.length && first[differ] === last[differ]) differ++;
  let ascii = 0;
  while (ascii < last.length && last.charCodeAt(ascii) < 0x7f) ascii++;
  const points: string[] = [];
  for (let k = Math.min(differ, ascii - 1); k >= prefixLength; k--) {
    const c = last[k] as string;
    const cls = CLASSES.find((s) => s.slice(0, -1).includes(c));
    const next = cls !== undefined ? cls.slice(cls.indexOf(c) + 1) : String.fromCharCode(c.charCodeAt(0) + 1);
    for (const n of next) points.push(last.slice(0, k) + n);
  }
  const inRange = points.filter((p) => compareKeys(p, last) > 0 && (hi === undefined || compareKeys(p, hi) < 0));
  return inRange.slice(0, MAX_SPLIT_POINTS);
}

export class PrefixListing {
  readonly #store: ObjectStore;
  readonly #prefix: string;
  readonly #parallel: number;
  readonly #abort: ReturnType<typeof childAbort>;
  readonly #root = new Range(undefined, undefined);
  readonly #queue: Range[] = [];
  #active = 0;
  #error: Error | undefined;
  #found = 0;
  #wake: (() => void)[] = [];
  #firstPageDone: (() => void) | undefined;
  #firstPageFailed: ((err: unknown) => void) | undefined;
  /**
   * Settles when the first page is in (its objects readable by `objects()`): at the first range's
   * second request or end. Rejects with the listing's failure if that comes first.
   */
  readonly firstPage: Promise<void>;
  /** Listing requests made (pages), for the debug line and the bench. */
  requests = 0;

  private constructor(store: ObjectStore, prefix: string, parallel: number, signal: AbortSignal | undefined) {
    this.#store = store;
    this.#prefix = prefix;
    this.#parallel = Math.max(1, parallel);
    this.#abort = childAbort(signal, 0);
    this.firstPage = new Promise<void>((resolve, reject) => {
      this.#firstPageDone = resolve;
      this.#firstPageFailed = reject;
    });
    this.firstPage.catch(() => {}); // the failure is also what objects() throws
    this.#queue.push(this.#root);
    this.#pump();
  }

  /** Starts listing `prefix` at once, with up to `parallel` requests in flight (1: serial). */
  static start(store: ObjectStore, prefix: string, signal?: AbortSignal, parallel = LISTING_REQUESTS): PrefixListing {
    return new PrefixListing(store, prefix, parallel, signal);
  }

  /** Whether every range is listed. */
  get done(): boolean {
    return this.#active === 0 && this.#queue.length === 0 && this.#error === undefined;
  }

  /** Objects found so far (all of them once `done`). */
  get found(): number {
    return this.#found;
  }

  /** Stops every listing request; a consumer waiting for objects gets `reason`. */
  close(reason: unknown): void {
    this.#fail(reason);
  }

  /** The objects in key order, in batches, as the ranges before them complete. */
  async *objects(): AsyncGenerator<ObjectInfo[]> {
    yield* this.#ordered(this.#root);
    if (this.#error !== undefined) throw this.#error;
    if (this.#found === 0) throw this.#emptyError();
  }

  /** Every object, in key order, once the listing is complete. */
  async all(): Promise<ObjectInfo[]> {
    const all: ObjectInfo[] = [];
    for await (const batch of this.objects()) for (const o of batch) all.push(o);
    return all;
  }

  #emptyError(): EmptySourceError {
    const uri = this.#store.uriOf(this.#prefix);
    return new EmptySourceError(`no objects match the prefix ${uri}`, { uri });
  }

  async *#ordered(range: Range): AsyncGenerator<ObjectInfo[]> {
    let next = 0;
    for (;;) {
      if (this.#error !== undefined) throw this.#error;
      if (next < range.objects.length) {
        const batch = range.objects.slice(next);
        next = range.objects.length;
        yield batch;
      } else if (range.done) {
        break;
      } else {
        await new Promise<void>((resolve) => this.#wake.push(resolve));
      }
    }
    for (const after of range.after) yield* this.#ordered(after);
  }

  #notify(): void {
    const wake = this.#wake;
    if (wake.length === 0) return;
    this.#wake = [];
    for (const w of wake) w();
  }

  #fail(err: unknown): void {
    if (this.#error !== undefined) return;
    this.#error = err instanceof Error ? err : new Error(String(err));
    this.#firstPageFailed?.(err);
    this.#abort.abort(err);
    this.#notify();
  }

  #pump(): void {
    while (this.#error === undefined && this.#active < this.#parallel && this.#queue.length > 0) {
      const range = this.#queue.shift() as Range;
      this.#active++;
      this.#list(range).then(() => {
        range.done = true;
      }, (err: unknown) => this.#fail(err)).finally(() => {
        this.#active--;
        this.#pump();
        if (range === this.#root) this.#firstPageDone?.();
        this.#notify();
      });
    }
  }

  async #list(range: Range): Promise<void> {
    let hi = range.hi;
    let pages = 0;
    let pageFirst: string | undefined;
    let last: string | undefined;
    const split = (): void => {
      if (pageFirst === undefined || last === undefined || this.#parallel === 1) return;
      const points = splitPoints(this.#prefix.length, pageFirst, last, hi);
      if (points.length === 0) return;
      const ranges = points.map((p, i) => new Range(p, points[i + 1] ?? hi));
      range.after.unshift(...ranges);
      this.#queue.push(...ranges);
      hi = points[0];
      this.#pump();
    };
    const options = {
      ...(range.lo !== undefined ? { startAfter: range.lo } : {}),
      onRequest: () => {
        this.requests++;
        // a second page: this range is large, share the rest of it out
        if (++pages >= 2) split();
        if (pages === 2 && range === this.#root) this.#firstPageDone?.();
        pageFirst = undefined;
      },
    };
    for await (const info of this.#store.list(this.#prefix, this.#abort.signal, options)) {
      if (this.#error !== undefined) return;
      if (hi !== undefined && compareKeys(info.key, hi) > 0) return;
      pageFirst ??= info.key;
      last = info.key;
      if (isFolderMarker(info)) continue;
      range.objects.push(info);
      this.#found++;
      this.#notify();
    }
  }
}
