/**
 * The bytes of one FIFO, read without ever blocking a thread: open(O_RDONLY | O_NONBLOCK)
 * returns at once (a FIFO's non-blocking read open never waits for a writer), and the reading is
 * done by the event loop through epoll (a net.Socket on the fd), not by libuv's threadpool.
 *
 * Why not fs.createReadStream: its blocking open(O_RDONLY) parks a threadpool thread until a
 * writer attaches, and every blocking read parks one while the pipe is empty. pipemode attaches
 * its writer within ~20 ms, so one such reader would do, but a trainer reading several channels
 * at once (plus zlib, dns, fs work) would starve the 4-thread pool, a writer that never comes
 * would hang the process forever with no way to cancel (nodejs/node#14481), and the process
 * could not exit (nodejs/node#3628). Here the wait costs nothing and an AbortSignal ends it.
 *
 * EOF semantics: poll(2) reports no HUP on a FIFO that has never had a writer, so opening before
 * pipemode attaches is safe (a non-blocking read() would return 0 then, but we only read when
 * epoll says so); EOF is the writer closing after it attached, exactly the epoch's end.
 *
 * Reads land in 1 MiB slabs handed out piecewise (net.Socket's onread with a buffer factory), so
 * a read takes up to a whole 1 MiB pipe buffer at once and every chunk is a view that is never
 * overwritten: records decoded from it can be views too. Backpressure: when 4 MiB wait unread,
 * the socket stops reading (the pipe fills, pipemode's writer waits) until the consumer catches
 * up. A regular file at the path (a FIFO stand-in in tests, a file copied by hand) is read as a
 * file.
 */
import fs from 'node:fs';
import net from 'node:net';
import { AbortedError, FifoError } from '../core/errors.js';
import { fileChunks } from './file-chunks.js';

const SLAB = 1 << 20;
/** A slab with less room than this is replaced: a read into a sliver would waste a syscall. */
const MIN_READ = 64 * 1024;
const HIGH_WATER = 4 << 20;

export interface FifoChunksOptions {
  readonly signal?: AbortSignal | undefined;
}

export async function* fifoChunks(path: string, options: FifoChunksOptions = {}): AsyncGenerator<Buffer, void, undefined> {
  const { signal } = options;
  if (signal?.aborted) throw new AbortedError(`reading ${path} was aborted`, { path }, { cause: signal.reason });
  let fd: number;
  try {
    fd = fs.openSync(path, fs.constants.O_RDONLY | fs.constants.O_NONBLOCK);
  } catch (err) {
    throw new FifoError(`cannot open ${path} for reading: ${(err as Error).message}`, { path }, { cause: err });
  }
  if (!fs.fstatSync(fd).isFIFO()) {
    fs.closeSync(fd);
    yield* fileChunks(path, options);
    return;
  }
  const queue: Buffer[] = [];
  let queued = 0;
  let paused = false;
  let done = false;
  let failure: Error | undefined;
  let wake: (() => void) | undefined;
  let slab = Buffer.allocUnsafeSlow(SLAB);
  let used = 0;
  const notify = (): void => {
    const w = wake;
    wake = undefined;
    w?.();
  };
  // onread works for any net.Socket (Node >= 12), though @types/node lists it for connect() only
  const socketOptions: net.SocketConstructorOpts & { onread: net.OnReadOpts } = {
    fd,
    readable: true,
    writable: false,
    onread: {
      buffer: () => {
        if (SLAB - used < MIN_READ) {
          slab = Buffer.allocUnsafeSlow(SLAB);
          used = 0;
        }
        return slab.subarray(used);
      },
      callback: (nread: number, buf: Uint8Array) => {
        queue.push(Buffer.from(buf.buffer, buf.byteOffset, nread));
        used += nread;
        queued += nread;
        notify();
        if (queued >= HIGH_WATER) {
          paused = true;
          return false;
        }
        return true;
      },
    },
  };
  const socket = new net.Socket(socketOptions);
  const finish = (): void => {
    done = true;
    notify();
  };
  socket.on('end', finish);
  socket.on('close', finish);
  socket.on('error', (err) => {
    failure = new FifoError(`reading ${path} failed: ${err.message}`, { path }, { cause: err });
    finish();
  });
  const onAbort = (): void => {
    failure = new AbortedError(`reading ${path} was aborted`, { path }, { cause: signal?.reason });
    finish();
  };
  signal?.addEventListener('abort', onAbort, { once: true });
  try {
    for (;;) {
      if (signal?.aborted) throw failure ?? new AbortedError(`reading ${path} was aborted`, { path }, { cause: signal.reason });
      const chunk = queue.shift();
      if (chunk !== undefined) {
        queued -= chunk.length;
        if (paused && queued < HIGH_WATER / 2) {
          paused = false;
          socket.resume();
        }
        yield chunk;
        continue;
      }
      if (failure !== undefined) throw failure;
      if (done) return;
      await new Promise<void>((resolve) => (wake = resolve));
    }
  } finally {
    signal?.removeEventListener('abort', onAbort);
    socket.destroy(); // closes the fd: a writer still writing gets EPIPE (the reader left early)
  }
}
