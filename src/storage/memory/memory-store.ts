/**
 * An in-memory ObjectStore for unit tests of the layers above storage (and for users' own tests).
 * `ramp(size, seed)` makes object bodies in which every byte depends on its offset, so a byte in
 * the wrong place is always visible. `faults` lets a test fail chosen reads: throw a given error,
 * or deliver only some bytes and then fail (a reset connection, a truncated body).
 */
import { NoSuchKeyError, ObjectChangedError, TransientStoreError, throwIfAborted } from '../../core/errors.js';
import { compareKeys, type ListOptions, type ObjectInfo, type ObjectStore } from '../object-store.js';

/** What a fault hook may do to one read. */
export type ReadFault =
  | { readonly kind: 'fail'; readonly error: Error }
  | { readonly kind: 'cut'; readonly afterBytes: number };

export interface ReadRequest {
  readonly key: string;
  readonly start: number;
  readonly end: number;
  /** 1 for the first read of this key, 2 for the next, … */
  readonly nth: number;
}

export interface MemoryStoreOptions {
  /** Bytes per yielded chunk. @default 64 KiB */
  readonly chunkSize?: number;
  readonly faults?: (request: ReadRequest) => ReadFault | undefined;
  /** Called for each read (after faults are decided); tests use it to watch concurrency. */
  readonly onRead?: (request: ReadRequest) => void;
}

/** A deterministic body of `size` bytes whose byte i is a function of (seed, i). */
export function ramp(size: number, seed = 0): Buffer {
  const b = Buffer.allocUnsafe(size);
  for (let i = 0; i < size; i++) b[i] = (i * 31 + (i >>> 8) * 7 + seed * 101) & 0xff;
  return b;
}

export class MemoryStore implements ObjectStore {
  readonly #objects = new Map<string, { body: Buffer; etag: string }>();
  readonly #reads = new Map<string, number>();
  readonly #options: MemoryStoreOptions;
  #version = 0;
  /** Reads in progress now, and at most. */
  active = 0;
  peakActive = 0;

  constructor(options: MemoryStoreOptions = {}) {
    this.#options = options;
  }

  /** Adds or replaces an object (a replacement gets a new ETag). */
  put(key: string, body: Buffer): this {
    this.#objects.set(key, { body, etag: `"v${++this.#version}"` });
    return this;
  }

  uriOf(key: string): string {
    return `mem://${key}`;
  }

  /** Removes an object (a no-op if it does not exist). */
  delete(key: string): this {
    this.#objects.delete(key);
    return this;
  }

  async *list(prefix: string, _signal?: AbortSignal, options: ListOptions = {}): AsyncIterable<ObjectInfo> {
    const after = options.startAfter;
    const keys = [...this.#objects.keys()].filter((k) => k.startsWith(prefix) && (after === undefined || compareKeys(k, after) > 0)).sort(compareKeys);
    options.onRequest?.(keys.length);
    for (const key of keys) yield await this.head(key);
  }

  async head(key: string): Promise<ObjectInfo> {
    await Promise.resolve();
    const o = this.#objects.get(key);
    if (o === undefined) throw new NoSuchKeyError(`${this.uriOf(key)} does not exist`, { uri: this.uriOf(key) });
    return { key, size: o.body.length, etag: o.etag };
  }

  async *read(info: ObjectInfo, start: number, end: number, signal?: AbortSignal): AsyncIterable<Buffer> {
    const nth = (this.#reads.get(info.key) ?? 0) + 1;
    this.#reads.set(info.key, nth);
    const request = { key: info.key, start, end, nth };
    const fault = this.#options.faults?.(request);
    this.#options.onRead?.(request);
    this.active++;
    this.peakActive = Math.max(this.peakActive, this.active);
    try {
      await new Promise((r) => setImmediate(r));
      const o = this.#objects.get(info.key);
      if (o === undefined) throw new NoSuchKeyError(`${this.uriOf(info.key)} does not exist`, { uri: this.uriOf(info.key) });
      if (info.etag !== undefined && o.etag !== info.etag) throw new ObjectChangedError(`${this.uriOf(info.key)} changed`, { uri: this.uriOf(info.key) });
      if (fault?.kind === 'fail') throw fault.error;
      const stopAt = fault?.kind === 'cut' ? Math.min(end, start + fault.afterBytes) : end;
      const chunkSize = this.#options.chunkSize ?? 64 * 1024;
      for (let p = start; p < stopAt; p += chunkSize) {
        throwIfAborted(signal);
        yield o.body.subarray(p, Math.min(stopAt, p + chunkSize));
        await new Promise((r) => setImmediate(r));
      }
      if (fault?.kind === 'cut') throw new TransientStoreError(`${this.uriOf(info.key)}: connection reset after ${stopAt - start} bytes`, { uri: this.uriOf(info.key) });
    } finally {
      this.active--;
    }
  }
}
