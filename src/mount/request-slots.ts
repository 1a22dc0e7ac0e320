/**
 * At most N ranged GETs in flight per mount, granted in order within two priorities: a read the
 * kernel is waiting for ('demand') goes before read-ahead and next-file prefetch ('ahead'), so
 * prefetching never makes a reader wait behind requests for bytes nobody has asked for yet.
 */
import { AbortedError } from '../core/errors.js';

export type SlotPriority = 'demand' | 'ahead';

interface Waiter {
  readonly grant: () => void;
}

export class RequestSlots {
  readonly limit: number;
  inFlight = 0;
  peak = 0;
  readonly #demand: Waiter[] = [];
  readonly #ahead: Waiter[] = [];

  constructor(limit: number) {
    this.limit = limit;
  }

  /** Waits for a slot; call the returned function exactly once to give it back. */
  async acquire(priority: SlotPriority, signal?: AbortSignal): Promise<() => void> {
    if (this.inFlight < this.limit && this.#demand.length === 0 && (priority === 'demand' || this.#ahead.length === 0)) {
      this.#take();
      return this.#releaser();
    }
    await new Promise<void>((resolve, reject) => {
      const waiter: Waiter = {
        grant: () => {
          signal?.removeEventListener('abort', onAbort);
          resolve();
        },
      };
      const queue = priority === 'demand' ? this.#demand : this.#ahead;
      const onAbort = (): void => {
        const i = queue.indexOf(waiter);
        if (i !== -1) queue.splice(i, 1);
        reject(new AbortedError('request cancelled while waiting for a slot', {}, { cause: signal?.reason }));
      };
      if (signal?.aborted) {
        onAbort();
        return;
      }
      signal?.addEventListener('abort', onAbort, { once: true });
      queue.push(waiter);
    });
    return this.#releaser();
  }

  #take(): void {
    this.inFlight++;
    if (this.inFlight > this.peak) this.peak = this.inFlight;
  }

  #releaser(): () => void {
    let done = false;
    return () => {
      if (done) return;
      done = true;
      this.inFlight--;
      const next = this.#demand.shift() ?? this.#ahead.shift();
      if (next !== undefined) {
        this.#take();
        next.grant();
      }
    };
  }
}
