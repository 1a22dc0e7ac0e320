/**
 * Messages between the main thread and the splice worker, which has no event loop to spare: it
 * blocks in Atomics.wait on a shared counter that the sender bumps after each post, and takes the
 * message with receiveMessageOnPort. Used for the GETs the main thread signs and for the segments
 * it lists while the worker runs (splice-writer.ts, splice-worker.ts).
 */
import { receiveMessageOnPort, type MessagePort } from 'node:worker_threads';

/** Posts `message` on `port` and wakes a thread waiting in receiveBlocking on `flag`. */
export function postAndWake(port: MessagePort, flag: Int32Array, message: unknown): void {
  port.postMessage(message);
  Atomics.add(flag, 0, 1);
  Atomics.notify(flag, 0);
}

/**
 * The next message on `port` (posted with postAndWake on `flag`), blocking this thread until it
 * comes; `poll` runs every 100 ms meanwhile and may throw to stop waiting.
 */
export function receiveBlocking(port: MessagePort, flag: Int32Array, poll: () => void): unknown {
  for (;;) {
    const seen = Atomics.load(flag, 0);
    const got = receiveMessageOnPort(port);
    if (got !== undefined) return got.message;
    poll();
    Atomics.wait(flag, 0, seen, 100);
  }
}
