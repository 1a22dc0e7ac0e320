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
 * ([0] = 1: stop). Output: one message per request (a Uint8Array, transferred), then
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

function loop(): string | undefined {
  while (Atomics.load(control, 0) === 0) {
    const events = pollFds([fd], [POLLIN], 250)[0] ?? 0;
    if (events === 0) continue;
    let n: number;
    try {
      n = fs.readSync(fd, buffer, 0, buffer.length, null);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code ?? 'EIO';
      // EAGAIN: another wake-up took it; ENOENT: the request was interrupted before it was read
      if (code === 'EAGAIN' || code === 'EINTR' || code === 'ENOENT') continue;
      return code === 'ENODEV' ? undefined : code;
    }
    if (n === 0) return undefined;
    const request = new Uint8Array(n);
    request.set(buffer.subarray(0, n));
    port?.postMessage(request, [request.buffer]);
  }
  return undefined;
}

port.postMessage({ end: loop() });
