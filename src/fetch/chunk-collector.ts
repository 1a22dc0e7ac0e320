/**
 * Gathers the bytes of one part into long-lived buffers. Network chunks (≤ 64 KiB slices of the
 * socket's read buffers) are copied into pooled 1 MiB buffers, plus one exact-size buffer for a
 * tail under 1 MiB, and the originals are dropped at once. Why copy: a chunk that waits in the
 * prefetch queue lives long enough to reach V8's old generation, and thousands of them make every
 * major GC expensive — a profile of an S3 run showed GC as a third of the main thread's time.
 * Copied away, socket buffers die young (cheap to collect) and the pooled buffers are reused.
 * Chunks that already are pooled buffers (local file reads) pass through without a copy.
 */
import { ioBuffers } from '../core/buffer-pool.js';

export class ChunkCollector {
  readonly #emit: (chunk: Buffer) => void;
  #remaining: number;
  #current: Buffer | undefined;
  #filled = 0;

  /** Collects exactly `length` bytes; `emit` receives each finished buffer in order. */
  constructor(length: number, emit: (chunk: Buffer) => void) {
    this.#remaining = length;
    this.#emit = emit;
  }

  push(chunk: Buffer): void {
    if (this.#current === undefined && ioBuffers.owns(chunk)) {
      this.#remaining -= chunk.length;
      this.#emit(chunk);
      return;
    }
    let offset = 0;
    while (offset < chunk.length) {
      if (this.#current === undefined) {
        this.#current = this.#remaining >= ioBuffers.size ? ioBuffers.acquire() : Buffer.allocUnsafeSlow(this.#remaining);
        this.#filled = 0;
      }
      const n = chunk.copy(this.#current, this.#filled, offset);
      offset += n;
      this.#filled += n;
      this.#remaining -= n;
      if (this.#filled === this.#current.length) {
        this.#emit(this.#current);
        this.#current = undefined;
      }
    }
  }
}
