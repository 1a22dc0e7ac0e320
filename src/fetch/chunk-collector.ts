/**
 * Gathers the bytes of one part into long-lived buffers. Network chunks (≤ 64 KiB slices of the
 * socket's read buffers) are copied into pooled 2 MiB buffers, plus one exact-size buffer for a
 * tail under 2 MiB, and the originals are dropped at once. Why copy: a chunk that waits in the
 * prefetch queue lives long enough to reach V8's old generation, and thousands of them make every
 * major GC expensive — a profile of an S3 run showed GC as a third of the main thread's time.
 * Copied away, socket buffers die young (cheap to collect) and the pooled buffers are reused.
 * Chunks that already are long-lived buffers pass through without a copy: pooled buffers (local
 * file reads, the lean HTTP client), and a chunk that is exactly the rest of the part and a whole,
 * unshared ArrayBuffer of its own (a small file read, the lean HTTP client's exact-size tail).
 * Such a buffer is not pooled, so the pool's release() ignores it when a consumer hands it back.
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
    if (this.#current === undefined && (ioBuffers.owns(chunk) || isWholeTail(chunk, this.#remaining))) {
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

/** Whether `chunk` is exactly the `remaining` bytes and the whole of its own ArrayBuffer. */
function isWholeTail(chunk: Buffer, remaining: number): boolean {
  return chunk.length === remaining && chunk.byteOffset === 0 && chunk.buffer.byteLength === chunk.length;
}
