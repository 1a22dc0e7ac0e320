/**
 * Worker thread of the zero-copy path (splice-writer.ts): streams local files into a pipe with
 * splice(2), so file pages move into the pipe without passing through user space, and plain-http
 * S3 bodies from the socket into the pipe the same way (splice-http.ts; GETs are signed by the
 * main thread on request, over `signPort`). With `copy` (`--no-zero-copy`) it reads local files
 * and writes them through one buffer instead: the same loop, a copy in place of each splice. It
 * runs on its own thread because waiting for a slow reader means blocking in poll(2), which must
 * hold neither the event loop nor a libuv threadpool thread. It checks the abort flag at least
 * every 100 ms.
 *
 * The worker may be started before its job is known (splice-writer.ts keeps one warm, so Node's
 * start-up of a thread does not delay the first byte) and its job may start before the reader has
 * opened the FIFO: the first GET is sent and its response waits in the socket until the pipe is
 * handed over.
 *
 * Input (the first message): SpliceJob plus `cells`, the memory it shares with the main thread
 * (splice-cells.ts: the stop flag and the pipe once handed over; the bytes sent so far and what
 * the worker waits for, which it keeps up to date for progress lines). A job whose listing is
 * still under way (it has a `segmentPort`) gets its later segments there, in order (with the S3
 * objects they add), and ends only when the main thread says the listing has.
 * Output (one message): { type: 'complete' | 'reader-gone' | 'aborted', bytes } or
 * { type: 'error', code, message, details }.
 */
import fs from 'node:fs';
import { parentPort, type MessagePort } from 'node:worker_threads';
import { PipemodeError } from '../core/errors.js';
import { RECORDIO_MAX_LENGTH, recordioHeader, recordioPadding } from '../records/recordio.js';
import { fileVersion } from '../storage/file/file-store.js';
import { lastErrno, splice, waitWritable, write } from '../core/libc.js';
import { receiveBlocking } from './blocking-port.js';
import { SpliceCells } from './splice-cells.js';
import type { SegmentBatch, SpliceJob, WorkerSegment } from './splice-writer.js';
import { HttpSplicer, PipeGone, type ByteRange, type HttpObject, type HttpSpliceStats, type HttpTarget } from './splice-http.js';

class Stop extends Error {
  constructor(readonly outcome: 'reader-gone' | 'aborted') {
    super(outcome);
  }
}

class Failure extends Error {
  constructor(readonly code: string, message: string, readonly details: Record<string, string | number> = {}) {
    super(message);
  }
}

type Job = SpliceJob & { cells: SpliceCells['shared']; signPort?: MessagePort; signFlag?: Int32Array; segmentPort?: MessagePort; segmentFlag?: Int32Array };
let job: Job;
let cells: SpliceCells;
let pipeFd = -1;
let bytes = 0;

/** Counts `n` bytes put into the pipe, where the main thread can read them live. */
function sent(n: number): void {
  bytes += n;
  cells.sent = bytes;
}

function checkAbort(): void {
  if (cells.stopped) throw new Stop('aborted');
}

/** The pipe, once the main thread has handed it over (blocks until then). */
function pipe(): number {
  while (pipeFd < 0) {
    checkAbort();
    pipeFd = cells.pipe(100) ?? -1;
  }
  return pipeFd;
}

/** Blocks (in this thread) until the pipe takes more, the reader leaves, or we are told to stop. */
function awaitRoom(): void {
  cells.waiting = 'reader';
  try {
    for (;;) {
      checkAbort();
      const state = waitWritable(pipe(), 100);
      if (state === 'gone') throw new Stop('reader-gone');
      if (state === 'ready') return;
    }
  } finally {
    cells.waiting = undefined;
  }
}

function onWriteError(what: string): void {
  const errno = lastErrno();
  if (errno === 'EAGAIN') return awaitRoom();
  if (errno === 'EPIPE') throw new Stop('reader-gone');
  if (errno === 'EINTR') return undefined;
  throw new Failure('PM_ERR_FIFO', `${what} failed: ${errno}`);
}

function writeAll(data: Uint8Array): void {
  let offset = 0;
  while (offset < data.length) {
    checkAbort();
    const n = write(pipe(), data.subarray(offset));
    if (n > 0) {
      offset += n;
      sent(n);
    } else {
      onWriteError('write to the pipe');
    }
  }
}

let buffer: Buffer | undefined;

/**
 * One buffer for every copy this thread makes (files and socket bodies): reused, it stays in the
 * CPU's cache between the read and the write (on 2 GiB of cached files, ~40 % faster than the
 * prefetcher's read-ahead buffers, which are cold by the time they are written).
 */
function copyBuffer(): Buffer {
  buffer ??= Buffer.allocUnsafeSlow(1 << 20);
  return buffer;
}

/** Copies [position, end) of `fd` through a buffer: the copy path, and files splice(2) refuses (EINVAL). */
function copyRest(fd: number, position: number, end: number, uri: string): void {
  const buffer = copyBuffer();
  while (position < end) {
    const n = fs.readSync(fd, buffer, 0, Math.min(buffer.length, end - position), position);
    if (n === 0) throw new Failure('PM_ERR_OBJECT_CHANGED', `${uri} ended at byte ${position}, expected ${end} (file truncated while reading)`, { uri, offset: position });
    writeAll(buffer.subarray(0, n));
    position += n;
  }
}

/** Splices bytes [0, end) of `fd` into the pipe; copies the rest where splice(2) refuses the file. */
function spliceFile(fd: number, end: number, uri: string): void {
  const offset: [bigint] = [0n];
  while (Number(offset[0]) < end) {
    checkAbort();
    const n = splice(fd, offset, pipe(), Math.min(1 << 20, end - Number(offset[0])));
    if (n > 0) {
      sent(n);
    } else if (n === 0) {
      throw new Failure('PM_ERR_OBJECT_CHANGED', `${uri} ended at byte ${offset[0]}, expected ${end} (file truncated while reading)`, { uri, offset: Number(offset[0]) });
    } else if (lastErrno() === 'EINVAL' || lastErrno() === 'ENOSYS') {
      copyRest(fd, Number(offset[0]), end, uri);
      return;
    } else {
      onWriteError(`splice of ${uri}`);
    }
  }
}

function streamFile(path: string, uri: string, version: string | undefined, size: number | undefined): void {
  let fd: number;
  try {
    fd = fs.openSync(path, 'r');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new Failure('PM_ERR_NO_SUCH_KEY', `no such file: ${uri}`, { uri });
    if (code === 'EACCES' || code === 'EPERM') throw new Failure('PM_ERR_ACCESS_DENIED', `permission denied: ${uri}`, { uri });
    throw new Failure('PM_ERR_STORE_PROTOCOL', `cannot read ${uri}: ${code ?? String(err)}`, { uri });
  }
  try {
    const st = fs.fstatSync(fd);
    if (!st.isFile()) throw new Failure('PM_ERR_NO_SUCH_KEY', `not a regular file: ${uri}`, { uri });
    if ((version !== undefined && fileVersion(st) !== version) || (size !== undefined && st.size !== size)) {
      throw new Failure('PM_ERR_OBJECT_CHANGED', `${uri} changed after it was listed`, { uri });
    }
    const end = st.size;
    if (job.recordio) {
      if (end > RECORDIO_MAX_LENGTH) {
        throw new Failure('PM_ERR_RECORD_TOO_LARGE', `${uri} is ${end} bytes; a RecordIO record holds at most ${RECORDIO_MAX_LENGTH} bytes (2^29 - 1). Split the object or use RecordWrapperType None`, { uri, size: end });
      }
      writeAll(recordioHeader(end));
    }
    if (job.copy) copyRest(fd, 0, end, uri);
    else spliceFile(fd, end, uri);
    // rewritten in place while it was sent (same inode and size, new mtime or ctime)?
    if (version !== undefined && fileVersion(fs.fstatSync(fd)) !== version) {
      throw new Failure('PM_ERR_OBJECT_CHANGED', `${uri} changed while it was being sent (rewritten in place: mtime or ctime differ from the listing)`, { uri });
    }
    if (job.recordio) writeAll(recordioPadding(end));
  } finally {
    fs.closeSync(fd);
  }
}

const httpStats: HttpSpliceStats = { getRequests: 0, retries: 0, splicedBytes: 0, splices: 0, copiedBytes: 0 };
let splicer: HttpSplicer | undefined;

/** Asks the main thread to sign GETs of these ranges and waits for the answer (splice-writer.ts serves it). */
function sign(ranges: readonly ByteRange[]): readonly (HttpTarget | undefined)[] {
  const port = job.signPort as MessagePort;
  port.postMessage(ranges);
  const answer = receiveBlocking(port, job.signFlag as Int32Array, checkAbort) as { targets: (HttpTarget | null)[]; code?: string; message?: string; details?: Record<string, string | number> };
  if (answer.targets[0] == null) throw new Failure(answer.code ?? 'PM_ERR_INTERNAL', answer.message ?? 'signing failed', answer.details ?? {});
  return answer.targets.map((t) => t ?? undefined);
}

function httpSplicer(): HttpSplicer {
  const http = job.http;
  if (http === undefined) throw new Failure('PM_ERR_INTERNAL', 'http segment without http settings');
  splicer ??= new HttpSplicer({
    pipe, sign, retry: http.retry, idleTimeoutMs: http.idleTimeoutMs, checkAbort, awaitRoom, stats: httpStats,
    onBytes: sent, onWait: (what) => (cells.waiting = what), copyBuffer,
  }, http.objects, http.partBytes, http.window);
  return splicer;
}

/** Consecutive http segments go as one run, so requests are issued ahead across objects. */
function runHttp(objects: readonly number[]): void {
  try {
    httpSplicer().run(objects, (o) => {
      const size = job.http?.objects[o]?.size ?? 0;
      if (job.recordio) writeAll(recordioHeader(size));
    }, (o) => {
      const size = job.http?.objects[o]?.size ?? 0;
      if (job.recordio) writeAll(recordioPadding(size));
    });
  } catch (err) {
    if (err instanceof PipeGone) throw new Stop('reader-gone');
    if (err instanceof PipemodeError) throw new Failure((err.constructor as typeof PipemodeError).code, err.message, err.details as Record<string, string | number>);
    throw err;
  }
}

/**
 * The next segments listed on the main thread (blocks until they come); undefined once the
 * listing has ended. A listing failure is the epoch's failure.
 */
function nextSegments(): readonly WorkerSegment[] | undefined {
  const batch = receiveBlocking(job.segmentPort as MessagePort, job.segmentFlag as Int32Array, checkAbort) as SegmentBatch;
  if (batch.error !== undefined) throw new Failure(batch.error.code, batch.error.message, batch.error.details as Record<string, string | number>);
  if (batch.objects !== undefined) {
    // S3 objects listed since: appended where the splicer (which holds this array) finds them
    if (job.http === undefined) {
      if (batch.http === undefined) throw new Failure('PM_ERR_INTERNAL', 'http objects without http settings');
      job = { ...job, http: { ...batch.http, objects: [] } };
    }
    (job.http?.objects as HttpObject[]).push(...batch.objects);
  }
  return batch.segments;
}

function run(): void {
  runSegments(job.segments);
  if (job.segmentPort === undefined) return;
  for (let batch = nextSegments(); batch !== undefined; batch = nextSegments()) runSegments(batch);
}

function runSegments(segments: readonly WorkerSegment[]): void {
  let http: number[] = [];
  for (const segment of segments) {
    if (segment.kind === 'http') {
      if (job.recordio && segment.size > RECORDIO_MAX_LENGTH) {
        throw new Failure('PM_ERR_RECORD_TOO_LARGE', `${segment.uri} is ${segment.size} bytes; a RecordIO record holds at most ${RECORDIO_MAX_LENGTH} bytes (2^29 - 1). Split the object or use RecordWrapperType None`, { uri: segment.uri, size: segment.size });
      }
      http.push(segment.object);
      continue;
    }
    if (http.length > 0) runHttp(http);
    http = [];
    if (segment.kind === 'bytes') {
      if (job.recordio) writeAll(recordioHeader(segment.data.length));
      writeAll(segment.data);
      if (job.recordio) writeAll(recordioPadding(segment.data.length));
    } else {
      streamFile(segment.path, segment.uri, segment.version, segment.size);
    }
  }
  if (http.length > 0) runHttp(http);
}

parentPort?.once('message', (message: Job) => {
  job = message;
  cells = new SpliceCells(message.cells);
  try {
    run();
    parentPort?.postMessage({ type: 'complete', bytes, http: httpStats });
  } catch (err) {
    if (err instanceof Stop) parentPort?.postMessage({ type: err.outcome, bytes, http: httpStats });
    else if (err instanceof Failure) parentPort?.postMessage({ type: 'error', code: err.code, message: err.message, details: err.details, bytes, http: httpStats });
    else parentPort?.postMessage({ type: 'error', code: 'PM_ERR_INTERNAL', message: String((err as Error).stack ?? err), details: {}, bytes, http: httpStats });
  }
});
// modules loaded (koffi's among them): from here the thread may be stopped safely
parentPort?.postMessage({ type: 'ready' });

