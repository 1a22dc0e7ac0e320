/**
 * Worker thread of a FUSE session (fuse-session.ts): reads requests from /dev/fuse and posts each
 * to the main thread, which answers it by writing to the same fd. Reading runs on a thread of its
 * own because waiting for the kernel's next request would otherwise hold a libuv threadpool thread
 * for the mount's whole life — and the store, or the process reading the mount, may need them all.
 *
 * The fd is non-blocking and the thread waits in poll(2) for at most 250 ms at a time, so it
 * notices the stop flag (and Node's exit, which joins worker threads) within that time even while
 * the kernel sends nothing.
 *
 * Input (workerData): { fd, bufferSize, control }, control an Int32Array over a SharedArrayBuffer
 * ([0] = 1: stop). Output: arrays of requests (Uint8Arrays, transferred), as many as were queued, then
 * { end: undefined } when the kernel ends the connection (unmounted: ENODEV) or the stop flag is
 * set, or { end: 'ECODE' } when reading failed otherwise.
 */
import fs from 'node:fs';
import { parentPort, workerData } from 'node:worker_threads';
import { POLLIN, pollFds } from '../core/libc.js';

const { fd, bufferSize, control } = workerData as { fd: number; bufferSize: number; control: Int32Array };
const port = parentPort;
if (port === null) throw new Error('fuse-reader.js runs as a worker thread');

const buffer = Buffer.allocUnsafe(bufferSize);

/** Requests posted in one message at most: what queued up while the thread slept goes together. */
const BATCH = 32;

function loop(): string | undefined {
  while (Atomics.load(control, 0) === 0) {
    const events = pollFds([fd], [POLLIN], 250)[0] ?? 0;
    if (events === 0) continue;
    const batch: Uint8Array[] = [];
    let end: string | undefined | null = null; // null: go on
    // after the first, read on only while poll says more is queued (a read that finds nothing
    // throws EAGAIN, and making that exception costs more than asking poll)
    while (batch.length < BATCH && (batch.length === 0 || (pollFds([fd], [POLLIN], 0)[0] ?? 0) !== 0)) {
      let n: number;
      try {
        n = fs.readSync(fd, buffer, 0, buffer.length, null);
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code ?? 'EIO';
        // EAGAIN: nothing more queued; EINTR: try again; ENOENT: the request was interrupted before it was read
        if (code === 'EAGAIN') break;
        if (code === 'EINTR' || code === 'ENOENT') continue;
        end = code === 'ENODEV' ? undefined : code;
        break;
      }
      if (n === 0) {
        end = undefined;
        break;
      }
      const request = new Uint8Array(n);
      request.set(buffer.subarray(0, n));
      batch.push(request);
    }
    if (batch.length > 0) port?.postMessage(batch, batch.map((r) => r.buffer as ArrayBuffer));
    if (end !== null) return end;
  }
  return undefined;
}

// modules loaded (koffi's among them): from here the thread may be stopped safely
port.postMessage({ ready: true });
port.postMessage({ end: loop() });
