/**
 * FIFOs without tying up threads. Node has known hazards here: a blocking open(O_WRONLY) of a
 * FIFO holds a libuv threadpool thread until a reader arrives (nodejs/node#23220: fs.open hangs
 * after 4 such FIFOs), cannot be cancelled (nodejs/node#14481), and keeps the process from
 * exiting (nodejs/node#3628). So the write end is opened with O_NONBLOCK, which fails at once
 * with ENXIO while no reader has the FIFO open, and is retried on a short, growing timer: a
 * reader waits at most POLL_MAX_MS for the writer to attach, a FIFO nobody opens costs one
 * cheap syscall every POLL_MAX_MS, and the wait is cancelled by an AbortSignal.
 */
import fs from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { AbortedError, FifoError } from '../core/errors.js';
import { mkfifo } from './libc.js';

const POLL_MIN_MS = 1;
const POLL_MAX_MS = 20;

/** Creates a FIFO with mode 0600 (umask-proof), replacing a stale FIFO left at `path`. */
export function createFifo(path: string): void {
  try {
    mkfifo(path, 0o600);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') {
      throw new FifoError(`cannot create FIFO ${path}: ${(err as NodeJS.ErrnoException).code}`, { path }, { cause: err });
    }
    const st = fs.lstatSync(path);
    if (!st.isFIFO()) throw new FifoError(`cannot create FIFO ${path}: a file that is not a FIFO is in the way`, { path });
    fs.unlinkSync(path);
    mkfifo(path, 0o600);
  }
  fs.chmodSync(path, 0o600);
}

/** Removes a FIFO if it is still there. */
export function removeFifo(path: string): void {
  try {
    if (fs.lstatSync(path).isFIFO()) fs.unlinkSync(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
}

/**
 * Opens `path` for writing once a reader has it open, without blocking any thread. The fd is
 * non-blocking (as net.Socket wants it). Throws AbortedError if `signal` fires first.
 */
export async function openFifoForWrite(path: string, signal?: AbortSignal): Promise<number> {
  let delay = POLL_MIN_MS;
  for (;;) {
    if (signal?.aborted) throw new AbortedError(`stopped waiting for a reader on ${path}`, { path }, { cause: signal.reason });
    try {
      const fd = fs.openSync(path, fs.constants.O_WRONLY | fs.constants.O_NONBLOCK);
      if (!fs.fstatSync(fd).isFIFO()) {
        fs.closeSync(fd);
        throw new FifoError(`${path} is no longer a FIFO`, { path });
      }
      return fd;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENXIO') {
        if (err instanceof FifoError) throw err;
        throw new FifoError(`cannot open FIFO ${path}: ${(err as NodeJS.ErrnoException).code}`, { path }, { cause: err });
      }
    }
    try {
      await sleep(delay, undefined, signal !== undefined ? { signal } : {});
    } catch {
      throw new AbortedError(`stopped waiting for a reader on ${path}`, { path }, { cause: signal?.reason });
    }
    delay = Math.min(POLL_MAX_MS, delay * 2);
  }
}
