/**
 * The memory the main thread and the splice worker share (splice-writer.ts, splice-worker.ts):
 * the worker's orders (stop, the pipe once it is handed over) and what it reports while it runs
 * (bytes sent so far, what it waits for), so a progress line can show a spliced epoch live
 * although none of its bytes pass through the main thread. Plain cells read with Atomics, no
 * messages: the worker updates them at every write, the main thread samples them when it likes.
 */

import type { LiveSplice } from '../fetch/prefetcher.js';

/** What a spliced epoch waits for at this moment. */
export type SpliceWait = LiveSplice['waiting'];

const STOP = 0;
const PIPE = 1;
const WAIT = 2;
const WAITS: readonly SpliceWait[] = [undefined, 'reader', 'data'];

export class SpliceCells {
  readonly #control: Int32Array;
  readonly #sent: BigInt64Array;

  /** New cells, or (in the worker) views of the ones the main thread made. */
  constructor(shared?: { readonly control: SharedArrayBuffer; readonly sent: SharedArrayBuffer }) {
    this.#control = new Int32Array(shared?.control ?? new SharedArrayBuffer(3 * 4));
    this.#sent = new BigInt64Array(shared?.sent ?? new SharedArrayBuffer(8));
  }

  /** What goes into the worker's job message. */
  get shared(): { readonly control: SharedArrayBuffer; readonly sent: SharedArrayBuffer } {
    return { control: this.#control.buffer as SharedArrayBuffer, sent: this.#sent.buffer as SharedArrayBuffer };
  }

  stop(): void {
    Atomics.store(this.#control, STOP, 1);
    Atomics.notify(this.#control, PIPE);
  }

  get stopped(): boolean {
    return Atomics.load(this.#control, STOP) === 1;
  }

  handOver(fd: number): void {
    Atomics.store(this.#control, PIPE, fd + 1);
    Atomics.notify(this.#control, PIPE);
  }

  /** The pipe's fd once handed over; otherwise waits up to `ms` and returns undefined. */
  pipe(ms: number): number | undefined {
    const cell = Atomics.load(this.#control, PIPE);
    if (cell > 0) return cell - 1;
    Atomics.wait(this.#control, PIPE, 0, ms);
    return undefined;
  }

  /** Bytes the worker has put into the pipe so far. */
  get sent(): number {
    return Number(Atomics.load(this.#sent, 0));
  }

  set sent(bytes: number) {
    Atomics.store(this.#sent, 0, BigInt(bytes));
  }

  get waiting(): SpliceWait {
    return WAITS[Atomics.load(this.#control, WAIT)];
  }

  set waiting(what: SpliceWait) {
    Atomics.store(this.#control, WAIT, WAITS.indexOf(what));
  }
}
