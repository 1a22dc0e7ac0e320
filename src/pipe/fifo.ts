/**
 * FIFOs without tying up threads. Node has known hazards here: a blocking open(O_WRONLY) of a
 * FIFO holds a libuv threadpool thread until a reader arrives (nodejs/node#23220: fs.open hangs
 * after 4 such FIFOs), cannot be cancelled (nodejs/node#14481), and keeps the process from
 * exiting (nodejs/node#3628). So the write end is opened with O_NONBLOCK, which fails at once
 * with ENXIO while no reader has the FIFO open, and is retried on a short, growing timer: a
 * reader waits at most POLL_MAX_MS for the writer to attach, and the wait is cancelled by an
 * AbortSignal. Every FIFO waiting in the process shares one timer (each tick tries them all, an
 * open() of a few microseconds each): a timer wake-up costs ~0.1 ms of CPU, so one per FIFO would
 * make eight idle channels cost 4% of a core; shared, they cost well under 1%.
 */
import fs from 'node:fs';
import { AbortedError, FifoError } from '../core/errors.js';
import { mkfifo, openRaw } from '../core/libc.js';

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

interface WriterWait {
  readonly path: string;
  /** Current retry delay: doubles from POLL_MIN_MS to POLL_MAX_MS. */
  delay: number;
  readonly done: (result: { fd: number } | { error: Error }) => void;
}

const waits = new Set<WriterWait>();
let pollTimer: NodeJS.Timeout | undefined;

/** The write end of `path` if a reader has it open, undefined if not yet (ENXIO); throws otherwise. */
function tryOpenForWrite(path: string): number | undefined {
  const fd = openRaw(path, fs.constants.O_WRONLY | fs.constants.O_NONBLOCK);
  if (fd === 'ENXIO') return undefined;
  if (typeof fd === 'string') throw new FifoError(`cannot open FIFO ${path}: ${fd}`, { path });
  if (!fs.fstatSync(fd).isFIFO()) {
    fs.closeSync(fd);
    throw new FifoError(`${path} is no longer a FIFO`, { path });
  }
  return fd;
}

function schedulePoll(): void {
  if (pollTimer !== undefined || waits.size === 0) return;
  let delay = POLL_MAX_MS;
  for (const w of waits) delay = Math.min(delay, w.delay);
  pollTimer = setTimeout(pollWaits, delay);
}

function pollWaits(): void {
  pollTimer = undefined;
  for (const w of waits) {
    try {
      const fd = tryOpenForWrite(w.path);
      if (fd === undefined) {
        w.delay = Math.min(POLL_MAX_MS, w.delay * 2);
        continue;
      }
      waits.delete(w);
      w.done({ fd });
    } catch (err) {
      waits.delete(w);
      w.done({ error: err as Error });
    }
  }
  schedulePoll();
}

/**
 * Opens `path` for writing once a reader has it open, without blocking any thread. The fd is
 * non-blocking (as net.Socket wants it). Throws AbortedError if `signal` fires first.
 */
export async function openFifoForWrite(path: string, signal?: AbortSignal): Promise<number> {
  const aborted = (): AbortedError => new AbortedError(`stopped waiting for a reader on ${path}`, { path }, { cause: signal?.reason });
  if (signal?.aborted) throw aborted();
  const now = tryOpenForWrite(path);
  if (now !== undefined) return now;
  return new Promise<number>((resolve, reject) => {
    const onAbort = (): void => {
      waits.delete(wait);
      if (waits.size === 0 && pollTimer !== undefined) {
        clearTimeout(pollTimer);
        pollTimer = undefined;
      }
      reject(aborted());
    };
    const wait: WriterWait = {
      path,
      delay: POLL_MIN_MS,
      done: (result) => {
        signal?.removeEventListener('abort', onAbort);
        if ('fd' in result) resolve(result.fd);
        else reject(result.error);
      },
    };
    signal?.addEventListener('abort', onAbort, { once: true });
    waits.add(wait);
    // a new wait starts at POLL_MIN_MS: poll again soon, for every FIFO waiting
    if (pollTimer !== undefined) {
      clearTimeout(pollTimer);
      pollTimer = undefined;
    }
    schedulePoll();
  });
}
