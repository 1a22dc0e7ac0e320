/**
 * The zero-copy path for local data: when every unit of an epoch is a local file or an inline
 * value and nothing needs inflating, the bytes go from the page cache into the pipe with
 * splice(2) on a worker thread (splice-worker.ts) — no user-space copy, no buffers, no memory
 * budget to fill. Measured on 2 GiB of cached files into a 1 MiB pipe: ~4 GiB/s at ~0.2 CPU-s/GiB,
 * against ~2 GiB/s at ~0.65 for the read/write path and ~1.2 GiB/s for `cat`.
 *
 * Same contract as writeToPipe: owns and closes `fd`; resolves 'complete' or 'reader-gone';
 * throws typed errors, calling `onFailure` before the fd is closed.
 */
import fs from 'node:fs';
import { Worker } from 'node:worker_threads';
import { AbortedError } from '../core/errors.js';
import { errorFromCode } from '../core/error-codes.js';
import { setPipeSize } from '../core/libc.js';
import { PIPE_BUFFER_BYTES, type WriteHooks, type WriteResult } from './pipe-writer.js';

export type SpliceSegment =
  | {
    readonly kind: 'file';
    /** Absolute path. */
    readonly path: string;
    /** For messages. */
    readonly uri: string;
    /** Version token from the listing (file-store.ts fileVersion), when known. */
    readonly version: string | undefined;
    readonly size: number | undefined;
  }
  | { readonly kind: 'bytes'; readonly data: Uint8Array };

export interface SpliceJob {
  readonly fd: number;
  readonly segments: readonly SpliceSegment[];
  /** Wrap each segment in a RecordIO record. */
  readonly recordio: boolean;
}

type WorkerResult =
  | { type: 'complete' | 'reader-gone' | 'aborted'; bytes: number }
  | { type: 'error'; code: string; message: string; details: Record<string, string | number>; bytes: number };

export async function spliceToPipe(fd: number, segments: readonly SpliceSegment[], recordio: boolean, hooks: WriteHooks = {}): Promise<WriteResult> {
  setPipeSize(fd, PIPE_BUFFER_BYTES);
  const abort = new Int32Array(new SharedArrayBuffer(4));
  const job: SpliceJob & { abort: Int32Array } = { fd, segments, recordio, abort };
  const worker = new Worker(new URL('./splice-worker.js', import.meta.url), { workerData: job });
  const stop = (): void => {
    Atomics.store(abort, 0, 1);
  };
  hooks.signal?.addEventListener('abort', stop, { once: true });
  if (hooks.signal?.aborted) stop();
  try {
    const result = await new Promise<WorkerResult>((resolve, reject) => {
      worker.once('message', resolve);
      worker.once('error', reject);
      worker.once('exit', (code) => reject(new Error(`splice worker exited with code ${code}`)));
    });
    if (result.type === 'aborted') throw new AbortedError('writing stopped', {}, { cause: hooks.signal?.reason });
    if (result.type === 'error') throw errorFromCode(result.code, result.message, result.details);
    hooks.onProgress?.(result.bytes);
    return { outcome: result.type, bytes: result.bytes };
  } catch (err) {
    await hooks.onFailure?.(err);
    throw err;
  } finally {
    hooks.signal?.removeEventListener('abort', stop);
    fs.closeSync(fd);
    void worker.terminate();
  }
}
