/**
 * Following a prefix: finding the objects that land under an S3Prefix channel while it streams.
 *
 * Two parts. `FollowPlanner` is pure (no I/O, no clock of its own): it decides what the next
 * listing asks for and which objects of a listing are new, and is tested by its invariants (no
 * key is ever reported twice; a key that stays in the store is reported by the next full listing
 * at the latest). `PrefixFollower` runs it: it lists on a timer (S3 ListObjectsV2, or a walk of a
 * local folder), and for local folders also wakes on `fs.watch` events (watching alone misses
 * events, so the timer's rescan stays).
 *
 * Rules:
 * - A key is new once per stream: the first listing that shows it (or the listing at start)
 *   pins its size and version; a later rewrite or a delete-and-recreate of the same key is not a
 *   new object. Zero-byte "folder/" markers are never objects.
 * - Incremental polls ask only for keys after the greatest key taken so far (StartAfter), so for
 *   time-ordered keys a poll costs what is new, not the whole prefix; every `rescanEvery`-th poll
 *   lists the whole prefix, catching keys that land before keys already seen.
 * - The idle timeout ends the stream only after a whole-prefix listing found nothing new.
 * - Settling (local files): a file whose mtime is less than `settleMs` old may still be being
 *   written; it is left for a later poll, and the incremental cursor does not pass it.
 */
import fs from 'node:fs';
import path from 'node:path';
import { compareKeys, type ObjectInfo, type ObjectStore } from '../storage/object-store.js';

/** What the next listing asks for. */
export interface ListingRequest {
  /** List only keys after this one (undefined: the whole prefix). */
  readonly startAfter: string | undefined;
  readonly full: boolean;
}

export interface FollowPlannerOptions {
  /** Every this many polls, list the whole prefix (1 = always). */
  readonly rescanEvery: number;
  /** Objects younger than this (by mtime) are left for a later poll. 0 = take at once. */
  readonly settleMs: number;
}

/** The marker keys S3 consoles create for "folders"; never objects of a channel. */
export function isFolderMarker(info: ObjectInfo): boolean {
  return info.size === 0 && info.key.endsWith('/');
}

export class FollowPlanner {
  readonly #known = new Set<string>();
  readonly #options: FollowPlannerOptions;
  #startAfter: string | undefined;
  #polls = 0;
  /** Objects seen but left to settle in the last listing. */
  unsettled = 0;

  /** `initial`: the listing at start (every key in it counts as known, streamed or not). */
  constructor(initial: Iterable<ObjectInfo>, options: FollowPlannerOptions) {
    this.#options = options;
    for (const o of initial) this.#take(o);
  }

  #take(o: ObjectInfo): void {
    this.#known.add(o.key);
    if (this.#startAfter === undefined || compareKeys(o.key, this.#startAfter) > 0) this.#startAfter = o.key;
  }

  /** Whether `key` has been seen (at start or by a poll). */
  has(key: string): boolean {
    return this.#known.has(key);
  }

  get knownCount(): number {
    return this.#known.size;
  }

  /** The listing to make next (`full`: a whole-prefix listing whatever the turn). */
  next(full = false): ListingRequest {
    full ||= this.#options.rescanEvery <= 1 || this.#polls % this.#options.rescanEvery === this.#options.rescanEvery - 1 || this.#startAfter === undefined;
    return { startAfter: full ? undefined : this.#startAfter, full };
  }

  /**
   * Takes the result of the listing `request` (in ascending key order) made at `nowMs` and
   * returns the objects that are new, in listing order.
   */
  observe(request: ListingRequest, listing: readonly ObjectInfo[], nowMs: number): ObjectInfo[] {
    this.#polls++;
    const found: ObjectInfo[] = [];
    let firstUnsettled: string | undefined;
    this.unsettled = 0;
    for (const o of listing) {
      if (isFolderMarker(o) || this.#known.has(o.key)) continue;
      if (request.startAfter !== undefined && compareKeys(o.key, request.startAfter) <= 0) continue; // a store that ignored StartAfter
      if (this.#options.settleMs > 0 && o.mtimeMs !== undefined && nowMs - o.mtimeMs < this.#options.settleMs) {
        this.unsettled++;
        if (firstUnsettled === undefined || compareKeys(o.key, firstUnsettled) < 0) firstUnsettled = o.key;
        continue;
      }
      this.#known.add(o.key);
      found.push(o);
    }
    // the incremental cursor moves to the greatest key taken, but never past a key left to settle
    let cursor = this.#startAfter;
    for (const o of found) if (cursor === undefined || compareKeys(o.key, cursor) > 0) cursor = o.key;
    if (firstUnsettled !== undefined && cursor !== undefined && compareKeys(cursor, firstUnsettled) >= 0) {
      cursor = undefined;
      for (const o of listing) {
        if (compareKeys(o.key, firstUnsettled) >= 0) break;
        cursor = o.key;
      }
      // nothing listed before it: the previous cursor, if it sorts before the unsettled key
      if (cursor === undefined && this.#startAfter !== undefined && compareKeys(this.#startAfter, firstUnsettled) < 0) cursor = this.#startAfter;
    }
    this.#startAfter = cursor;
    return found;
  }
}

/** The cost of following, for stats and -v. */
export class ListingStats {
  /** Listing requests (S3 pages; one per local walk). */
  requests = 0;
  /** Keys those requests returned. */
  keysSeen = 0;
  polls = 0;
  fullPolls = 0;
  /** Objects found after the start (all hosts' shares). */
  discovered = 0;
  /** fs.watch events received. */
  watchEvents = 0;
}

export interface FollowSettings {
  readonly pollIntervalMs: number;
  /** End the stream when nothing new has been found for this long; undefined = never. */
  readonly idleTimeoutMs: number | undefined;
  /** Full listing every this many polls (S3). @default 10 */
  readonly rescanEvery?: number;
  /** Settle time of local files. @default 200 ms */
  readonly settleMs?: number;
}

function sleep(ms: number, signal: AbortSignal | undefined, wake: { fn?: (() => void) | undefined }): Promise<void> {
  return new Promise((resolve) => {
    const done = (): void => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      wake.fn = undefined;
      resolve();
    };
    const timer = setTimeout(done, Math.max(0, ms));
    signal?.addEventListener('abort', done, { once: true });
    wake.fn = done;
    if (signal?.aborted) done();
  });
}

/** The nearest existing folder at or above `dir`. */
function existingFolder(dir: string): string {
  let d = dir;
  for (;;) {
    try {
      if (fs.statSync(d).isDirectory()) return d;
    } catch {
      // keep climbing
    }
    const up = path.dirname(d);
    if (up === d) return d;
    d = up;
  }
}

/**
 * Polls a prefix and hands out what is new. `localFolder`: the folder holding the prefix's keys
 * when the store is the local file system (watched, always listed whole, files left to settle).
 */
export class PrefixFollower {
  readonly stats: ListingStats;
  readonly #store: ObjectStore;
  readonly #prefix: string;
  readonly #planner: FollowPlanner;
  readonly #settings: FollowSettings;
  readonly #watcher: fs.FSWatcher | undefined;
  readonly #wake: { fn?: (() => void) | undefined } = {};
  #dirty = false;
  #closed = false;
  #lastPoll = 0;
  #lastFound: number;

  constructor(store: ObjectStore, prefix: string, initial: readonly ObjectInfo[], settings: FollowSettings, stats = new ListingStats(), localFolder?: string) {
    this.stats = stats;
    this.#store = store;
    this.#prefix = prefix;
    this.#settings = settings;
    this.#planner = new FollowPlanner(initial, {
      rescanEvery: localFolder !== undefined ? 1 : settings.rescanEvery ?? 10,
      settleMs: localFolder !== undefined ? settings.settleMs ?? 200 : 0,
    });
    this.#lastFound = performance.now();
    this.#lastPoll = performance.now();
    if (localFolder !== undefined) {
      try {
        this.#watcher = fs.watch(existingFolder(localFolder), { recursive: true, persistent: false }, () => {
          this.stats.watchEvents++;
          this.#dirty = true;
          this.#wake.fn?.();
        });
        this.#watcher.on('error', () => {}); // the timer's rescan still runs
      } catch {
        this.#watcher = undefined;
      }
    }
  }

  /** Whether `key` was seen at start or since. */
  has(key: string): boolean {
    return this.#planner.has(key);
  }

  /** One listing now (`full`: of the whole prefix); the new objects. */
  async poll(signal?: AbortSignal, full = false): Promise<ObjectInfo[]> {
    const request = this.#planner.next(full);
    const listing: ObjectInfo[] = [];
    this.#dirty = false;
    this.#lastPoll = performance.now();
    for await (const o of this.#store.list(this.#prefix, signal, {
      ...(request.startAfter !== undefined ? { startAfter: request.startAfter } : {}),
      onRequest: (keys) => {
        this.stats.requests++;
        this.stats.keysSeen += keys;
      },
    })) listing.push(o);
    this.stats.polls++;
    if (request.full) this.stats.fullPolls++;
    const found = this.#planner.observe(request, listing, Date.now());
    this.stats.discovered += found.length;
    if (found.length > 0) this.#lastFound = performance.now();
    return found;
  }

  /**
   * Waits for new objects: resolves with them (non-empty), or with undefined once nothing new has
   * been found for the idle timeout (after one last listing), or when `signal` aborts.
   */
  async next(signal?: AbortSignal): Promise<ObjectInfo[] | undefined> {
    const { pollIntervalMs, idleTimeoutMs } = this.#settings;
    for (;;) {
      if (signal?.aborted || this.#closed) return undefined;
      const now = performance.now();
      const idleAt = idleTimeoutMs === undefined ? Infinity : this.#lastFound + idleTimeoutMs;
      // files left to settle are looked at again soon; a watch event triggers a listing shortly
      let dueAt = this.#lastPoll + pollIntervalMs;
      if (this.#planner.unsettled > 0) dueAt = Math.min(dueAt, this.#lastPoll + Math.min(pollIntervalMs, 50));
      if (this.#dirty) dueAt = Math.min(dueAt, this.#lastPoll + 20);
      if (now >= idleAt) {
        // the stream never ends while a whole-prefix listing would show something new
        const last = await this.poll(signal, true);
        return last.length > 0 ? last : undefined;
      }
      if (now < dueAt) {
        await sleep(Math.min(dueAt, idleAt) - now, signal, this.#wake);
        continue;
      }
      const found = await this.poll(signal);
      if (found.length > 0) return found;
    }
  }

  close(): void {
    this.#closed = true;
    this.#watcher?.close();
    this.#wake.fn?.();
  }
}
