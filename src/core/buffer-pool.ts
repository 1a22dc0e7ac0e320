/**
 * Reusable I/O buffers. Reading a local file into a fresh 2 MiB Buffer per read costs more than
 * the read itself: every new ArrayBuffer is fresh memory (page faults) and external memory that
 * drives V8's garbage collector (a profile of `pipemode cat` showed GC as the top cost). So the
 * file store reads into pooled buffers, and the pipe writer hands each one back once the kernel
 * has taken its bytes. A buffer that never comes back (e.g. it went into zlib instead) is simply
 * garbage-collected; the pool only recycles what is returned, and holds at most `maxFree`.
 */

class BufferPool {
  readonly size: number;
  readonly #maxFree: number;
  readonly #free: Buffer[] = [];
  readonly #ours = new WeakSet<ArrayBufferLike>();

  constructor(size: number, maxFree: number) {
    this.size = size;
    this.#maxFree = maxFree;
  }

  /** A buffer of `size` bytes with arbitrary contents. */
  acquire(): Buffer {
    const b = this.#free.pop();
    if (b !== undefined) return b;
    const fresh = Buffer.allocUnsafeSlow(this.size);
    this.#ours.add(fresh.buffer);
    return fresh;
  }

  /** Whether `b` is (a view of) one of this pool's buffers. */
  owns(b: Buffer): boolean {
    return this.#ours.has(b.buffer);
  }

  /**
   * Returns a buffer (or a view of one) for reuse. The caller must hold no other reference that
   * will still be read: the next acquire() overwrites it. Buffers not from this pool are ignored.
   */
  release(b: Buffer): void {
    if (!this.#ours.has(b.buffer) || this.#free.length >= this.#maxFree) return;
    this.#free.push(Buffer.from(b.buffer, 0, this.size));
  }
}

/** Pool of 2 MiB read buffers shared by the file store, the lean HTTP client and the pipe writer. */
export const ioBuffers = new BufferPool(2 << 20, 128);
