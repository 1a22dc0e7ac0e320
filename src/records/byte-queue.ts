/**
 * The not-yet-decoded bytes of a stream, kept as the chunks they arrived in. Decoders peek at
 * header fields and take payloads; a payload that lies inside the first chunk comes back as a
 * view of it (no copy), one that spans chunks is copied once into a buffer of its own. Most
 * streams hold one or two chunks here at a time, so a plain array with a head index is enough.
 */

export class ByteQueue {
  #chunks: Buffer[] = [];
  /** Index of the first live chunk in #chunks. */
  #head = 0;
  /** Bytes of the head chunk already consumed. */
  #headOffset = 0;
  #length = 0;

  /** Bytes queued. */
  get length(): number {
    return this.#length;
  }

  push(chunk: Buffer): void {
    if (chunk.length === 0) return;
    this.#chunks.push(chunk);
    this.#length += chunk.length;
  }

  /** The byte at `at` (0 <= at < length). */
  byteAt(at: number): number {
    let i = this.#head;
    let pos = at + this.#headOffset;
    for (;;) {
      const c = this.#chunks[i] as Buffer;
      if (pos < c.length) return c[pos] as number;
      pos -= c.length;
      i++;
    }
  }

  /** The little-endian u32 at `at` (at + 4 <= length). */
  uint32LE(at: number): number {
    const c = this.#chunks[this.#head] as Buffer;
    const pos = at + this.#headOffset;
    if (pos + 4 <= c.length) return c.readUInt32LE(pos);
    return (this.byteAt(at) | (this.byteAt(at + 1) << 8) | (this.byteAt(at + 2) << 16) | (this.byteAt(at + 3) << 24)) >>> 0;
  }

  /** The next `n` bytes (n <= length), removed from the queue: a view when they lie in one chunk. */
  take(n: number): Buffer {
    if (n === 0) return EMPTY;
    const c = this.#chunks[this.#head] as Buffer;
    if (this.#headOffset + n <= c.length) {
      const out = c.subarray(this.#headOffset, this.#headOffset + n);
      this.skip(n);
      return out;
    }
    const out = Buffer.allocUnsafe(n);
    this.copyTo(out, 0, n);
    this.skip(n);
    return out;
  }

  /** Copies the next `n` bytes into `target` at `targetStart` without removing them. */
  copyTo(target: Buffer, targetStart: number, n: number): void {
    let i = this.#head;
    let from = this.#headOffset;
    let done = 0;
    while (done < n) {
      const c = this.#chunks[i] as Buffer;
      const k = Math.min(c.length - from, n - done);
      c.copy(target, targetStart + done, from, from + k);
      done += k;
      from = 0;
      i++;
    }
  }

  /** Drops the next `n` bytes (n <= length). */
  skip(n: number): void {
    this.#length -= n;
    let left = n;
    while (left > 0) {
      const c = this.#chunks[this.#head] as Buffer;
      const inHead = c.length - this.#headOffset;
      if (left < inHead) {
        this.#headOffset += left;
        return;
      }
      left -= inHead;
      this.#chunks[this.#head] = EMPTY; // let the chunk go
      this.#head++;
      this.#headOffset = 0;
    }
    if (this.#head === this.#chunks.length) {
      this.#chunks = [];
      this.#head = 0;
    } else if (this.#head > 64) {
      this.#chunks = this.#chunks.slice(this.#head);
      this.#head = 0;
    }
  }
}

const EMPTY = Buffer.alloc(0);
