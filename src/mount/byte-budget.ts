/**
 * The memory budget of one mount: bytes reserved by ranged GETs in flight plus bytes received and
 * not yet dropped, for every open file and every prefetched file together. Read-ahead and
 * next-file prefetch only start a request when its whole length fits (`tryReserve`); the bytes a
 * reader is waiting for right now are fetched even when the budget is full (`force`), so a full
 * budget slows read-ahead down but never blocks a read. The overshoot is bounded by the reads in
 * flight at once (the kernel sends at most 128 KiB per FUSE read).
 */
import { InternalError } from '../core/errors.js';

export class ByteBudget {
  readonly limit: number;
  /** Bytes reserved now, and at most. */
  used = 0;
  peak = 0;

  constructor(limit: number) {
    this.limit = limit;
  }

  /** Reserves `bytes` if they fit under the limit. */
  tryReserve(bytes: number): boolean {
    if (this.used + bytes > this.limit) return false;
    this.#add(bytes);
    return true;
  }

  /** Reserves `bytes` whether or not they fit (bytes a reader is waiting for). */
  force(bytes: number): void {
    this.#add(bytes);
  }

  release(bytes: number): void {
    this.used -= bytes;
    if (this.used < 0) throw new InternalError(`mount memory budget released below zero (${this.used})`);
  }

  #add(bytes: number): void {
    this.used += bytes;
    if (this.used > this.peak) this.peak = this.used;
  }
}
