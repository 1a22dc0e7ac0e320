/**
 * Writes a stream of Buffer batches into a pipe or FIFO fd through net.Socket: libuv polls the
 * non-blocking fd with epoll, so a stalled reader costs no thread, only the memory the pull
 * model already bounds. Each batch is written with cork/uncork, i.e. one writev(2) of many
 * chunks, and the next batch is pulled only after 'drain' — that is the backpressure. A chunk's
 * buffer goes back to the I/O pool once the kernel has taken it.
 *
 * The pipe buffer is enlarged to 1 MiB first (when the kernel allows it): with 64 KiB pipes the
 * writer and reader wake each other every 64 KiB, the main throughput limit measured.
 *
 * Outcomes: `complete` (every byte written, then the fd closed: the reader sees EOF),
 * `reader-gone` (EPIPE: the reader closed early; the source is closed, nothing is an error), or a
 * thrown error (source or write failure). On a source failure `onFailure` runs while the fd is
 * still open, then the fd is closed without flushing what is queued (see channel-pipes.ts).
 */
import net from 'node:net';
import { AbortedError, FifoError, PipemodeError } from '../core/errors.js';
import { ioBuffers } from '../core/buffer-pool.js';
import { setPipeSize } from '../core/libc.js';

export const PIPE_BUFFER_BYTES = 1 << 20;

export type WriteOutcome = 'complete' | 'reader-gone';

export interface WriteResult {
  readonly outcome: WriteOutcome;
  readonly bytes: number;
}

/** Source of batches that can be stopped early (ChannelStream.epoch returns one). */
export interface BatchSource extends AsyncIterable<Buffer[]> {
  close(): void;
}

function isReaderGone(err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  return code === 'EPIPE' || code === 'ECONNRESET';
}

export interface WriteHooks {
  /** Stops writing (even while waiting for a slow reader): the write fails with AbortedError. */
  readonly signal?: AbortSignal;
  /** Running byte count, after each batch. */
  readonly onProgress?: (bytes: number) => void;
  /** Running count of bytes the kernel has taken (a followed channel's cursor moves on it). */
  readonly onFlushed?: (bytes: number) => void;
  /**
   * Called when the source fails, before the fd is closed (so before the reader sees EOF); the fd
   * stays open until the returned promise settles (a supervisor stops the reader first).
   */
  readonly onFailure?: (err: unknown) => void | Promise<void>;
}

/**
 * Resolves on the first of `events` or when `signal` aborts (never rejects: socket errors are
 * collected by the caller's listener).
 */
function first(socket: net.Socket, signal: AbortSignal | undefined, ...events: string[]): Promise<void> {
  return new Promise((resolve) => {
    const done = (): void => {
      for (const e of events) socket.off(e, done);
      signal?.removeEventListener('abort', done);
      resolve();
    };
    for (const e of events) socket.once(e, done);
    signal?.addEventListener('abort', done, { once: true });
    if (signal?.aborted) done();
  });
}

/** Writes all of `source` to `fd`, which this function owns and closes. */
/** With PIPEMODE_REPORT_PATH=1, one line on stderr saying which path an epoch took (the bench reads it). */
export function reportPath(what: string): void {
  if (process.env.PIPEMODE_REPORT_PATH === '1') process.stderr.write(`pipemode: path: ${what}\n`);
}

export async function writeToPipe(fd: number, source: BatchSource, hooks: WriteHooks = {}): Promise<WriteResult> {
  setPipeSize(fd, PIPE_BUFFER_BYTES);
  const socket = new net.Socket({ fd, readable: false, writable: true });
  let failure: unknown;
  socket.on('error', (err) => (failure ??= err));
  let bytes = 0;
  let flushed = 0;
  const aborted = (): void => {
    if (hooks.signal?.aborted) throw new AbortedError('writing stopped', {}, { cause: hooks.signal.reason });
  };
  try {
    for await (const batch of source) {
      aborted();
      if (failure !== undefined) break;
      socket.cork();
      let ok = true;
      for (const chunk of batch) {
        ok = socket.write(chunk, (err) => {
          if (err !== undefined && err !== null) return;
          flushed += chunk.length;
          hooks.onFlushed?.(flushed);
          ioBuffers.release(chunk);
        });
        bytes += chunk.length;
      }
      socket.uncork();
      if (!ok && failure === undefined) await first(socket, hooks.signal, 'drain', 'close', 'error');
      aborted();
      hooks.onProgress?.(bytes);
    }
    if (failure === undefined) {
      socket.end();
      await first(socket, hooks.signal, 'finish', 'close', 'error');
      aborted();
    }
  } catch (err) {
    try {
      await hooks.onFailure?.(err);
    } finally {
      socket.destroy();
    }
    throw err;
  } finally {
    source.close();
  }
  socket.destroy();
  reportPath('copy (read/write through net.Socket)');
  if (failure === undefined) return { outcome: 'complete', bytes };
  if (isReaderGone(failure)) return { outcome: 'reader-gone', bytes };
  if (failure instanceof PipemodeError) throw failure;
  throw new FifoError(`writing to the pipe failed: ${(failure as Error).message}`, {}, { cause: failure });
}
