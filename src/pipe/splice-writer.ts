/**
 * The zero-copy path: when every unit of an epoch is a local file, an inline value or an object
 * of a plain-http S3 store (with a known size and version) and nothing needs inflating, the bytes
 * go into the pipe with splice(2) on a worker thread (splice-worker.ts) — from the page cache for
 * files, from the TCP socket for S3 bodies (splice-http.ts) — no user-space copy, no buffers, no
 * memory budget to fill. Measured on 2 GiB of cached files into a 1 MiB pipe: ~4 GiB/s at
 * ~0.2 CPU-s/GiB, against ~2 GiB/s at ~0.65 for the read/write path and ~1.2 GiB/s for `cat`.
 * TLS endpoints, Gzip and manifest entries without a listed size take the copying path.
 * With `copy` (`--no-zero-copy`) the worker reads local files and writes them through one reused
 * buffer instead of splicing them: still no prefetcher, no budget, no hop per chunk to the main
 * thread (on 2 GiB of cached files ~1.5× the prefetcher's throughput at ~0.7× its CPU).
 *
 * The worker starts when the epoch is opened (`startSplice`), before the reader has opened the
 * FIFO: the first GET is already on its way when the pipe is handed over (`write`). A spare
 * worker can be started even earlier (`prewarmSpliceWorker`), since a thread's start-up (~0.04 s,
 * up to 0.5 s on a busy machine) would otherwise come before the first byte: `cat`, `pipe` and
 * `train` start one while the channel is listed, and each spliced epoch starts the next epoch's
 * while it streams (channel-pipes.ts), so no reader waits for a thread between epochs.
 *
 * `write` has the same contract as writeToPipe: owns and closes `fd`; resolves 'complete' or
 * 'reader-gone'; throws typed errors, calling `onFailure` before the fd is closed.
 */
import fs from 'node:fs';
import { MessageChannel, Worker, type MessagePort } from 'node:worker_threads';
import { AbortedError, PipemodeError } from '../core/errors.js';
import type { ChannelSpec } from '../channel/channel-spec.js';
import { trackWorkerStart } from '../core/thread-starts.js';
import { errorFromCode } from '../core/error-codes.js';
import { setPipeSize } from '../core/libc.js';
import { DEFAULT_FETCH_OPTIONS } from '../fetch/fetch-options.js';
import type { ObjectInfo, ObjectStore } from '../storage/object-store.js';
import { FileStore } from '../storage/file/file-store.js';
import { isS3Uri } from '../storage/source-uri.js';
import type { RawGet, S3Store } from '../storage/s3/s3-store.js';
import { DEFAULT_RETRY_POLICY, type RetryPolicy } from '../storage/retry.js';
import { postAndWake } from './blocking-port.js';
import { SpliceCells, type SpliceWait } from './splice-cells.js';
import { PIPE_BUFFER_BYTES, reportPath, type WriteHooks, type WriteResult } from './pipe-writer.js';
import type { ByteRange, HttpObject, HttpSpliceStats } from './splice-http.js';

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
  | { readonly kind: 'bytes'; readonly data: Uint8Array }
  /** An object of a plain-http S3 store (its body is spliced from the socket). */
  | { readonly kind: 's3'; readonly store: S3Store; readonly info: ObjectInfo; readonly uri: string };

/** The segment that streams object `info` of `store` without a copy, or undefined when none can. */
export function spliceSegmentOf(lazy: ObjectStore, key: string, info: ObjectInfo | undefined): SpliceSegment | undefined {
  const store = (lazy as { loaded?: ObjectStore }).loaded ?? lazy; // storage/stores.ts loads S3 stores lazily
  if (store instanceof FileStore) return { kind: 'file', path: `/${key}`, uri: store.uriOf(key), version: info?.etag, size: info?.size };
  // a manifest entry of unknown size needs a HEAD first: the prefetcher's job
  // (S3Store recognised by its methods: importing the class here would load the AWS SDK for local epochs too)
  const s3 = store as Partial<S3Store>;
  if (typeof s3.rawGet === 'function' && s3.spliceable === true && info !== undefined && spliceHttpEnabled()) return { kind: 's3', store: store as S3Store, info, uri: store.uriOf(key) };
  return undefined;
}

/** PIPEMODE_SPLICE_HTTP=0 turns the socket splice off (the bench compares both paths). */
function spliceHttpEnabled(): boolean {
  return process.env.PIPEMODE_SPLICE_HTTP !== '0';
}

/** What the worker thread gets: segments without stores (s3 ones become indexes into `http.objects`). */
export type WorkerSegment =
  | Exclude<SpliceSegment, { kind: 's3' }>
  | { readonly kind: 'http'; readonly object: number; readonly uri: string; readonly size: number };
/** How the worker fetches S3 objects over plain http. */
export interface HttpSettings {
  readonly objects: readonly HttpObject[];
  readonly partBytes: number;
  /** GETs requested ahead of the one being spliced (their bodies wait in socket buffers). */
  readonly window: number;
  readonly retry: RetryPolicy;
  readonly idleTimeoutMs: number;
}

export interface SpliceJob {
  readonly segments: readonly WorkerSegment[];
  /** Wrap each segment in a RecordIO record. */
  readonly recordio: boolean;
  /** Read files and write them through a buffer instead of splicing them (`--no-zero-copy`). */
  readonly copy: boolean;
  readonly http?: HttpSettings;
}

/**
 * Segments listed after the epoch started, as the worker gets them: a batch, the end (no
 * field), or the listing's failure, which the worker fails the epoch with.
 */
export interface SegmentBatch {
  readonly segments?: readonly WorkerSegment[];
  /** The S3 objects this batch adds to `http.objects` (its http segments number them on). */
  readonly objects?: readonly HttpObject[];
  /** How to fetch them, with the first batch that has any (when the job had none). */
  readonly http?: Omit<HttpSettings, 'objects'>;
  readonly error?: SignError;
}

/** Why a range could not be signed (or a listing failed), as the worker rethrows it. */
interface SignError {
  readonly code: string;
  readonly message: string;
  readonly details: Readonly<Record<string, unknown>>;
}

/**
 * Whether the worker thread may take a channel's epochs: nothing to inflate, nothing followed;
 * to `copy` them (`--no-zero-copy`), not an S3 prefix either (the prefetcher fetches those).
 */
export function maySplice(spec: ChannelSpec, copy = false): boolean {
  return spec.compression === 'None' && spec.follow === undefined && !(copy && isS3Uri(spec.uri));
}

/** GETs in flight when no fetch options are given (tests); parts are DEFAULT_FETCH_OPTIONS' size. */
const HTTP_SPLICE_WINDOW = 4;

/**
 * GETs in flight for the splice path under `fetch`: at most maxRequests, and no more parts than
 * the memory budget holds, since each one's body may wait whole in a socket buffer (≥ 1).
 */
export function spliceWindow(fetch: { readonly partSize: number; readonly maxRequests: number; readonly memoryBudget: number }): number {
  return Math.max(1, Math.min(fetch.maxRequests, Math.floor(fetch.memoryBudget / fetch.partSize)));
}

const WORKER_URL = new URL('./splice-worker.js', import.meta.url);
let spare: StartingWorker | undefined;

/** The worker's first message, once its modules are loaded; the job's result comes after it. */
interface Ready {
  readonly type: 'ready';
}

/** A worker thread and its start-up, registered so that the CLI's exit waits for it (core/thread-starts.ts). */
interface StartingWorker {
  readonly worker: Worker;
  /** Settles once its modules are loaded (or it exited): only then may it be stopped. */
  readonly started: Promise<void>;
}

function newWorker(): StartingWorker {
  const worker = new Worker(WORKER_URL);
  return { worker, started: trackWorkerStart(worker) };
}

/** Starts a worker thread now, to be used by the next startSplice (no-op if one is waiting). */
export function prewarmSpliceWorker(): void {
  if (spare !== undefined) return;
  const starting = newWorker();
  const { worker } = starting;
  worker.unref(); // a spare never keeps the process alive
  worker.on('error', () => {}); // reported to whoever takes it, through 'exit'
  worker.once('exit', () => {
    if (spare === starting) spare = undefined;
  });
  spare = starting;
}

function takeWorker(): StartingWorker {
  const taken = spare ?? newWorker();
  spare = undefined;
  taken.worker.ref();
  return taken;
}

/** PIPEMODE_REPORT_PATH=1: one stderr line per epoch saying which write path ran (for the bench). */

/** How a splice ran, for diagnostics and the bench ("which path ran"). */
export interface SplicePath {
  files: number;
  httpObjects: number;
  http: HttpSpliceStats | undefined;
}

type WorkerResult =
  | { type: 'complete' | 'reader-gone' | 'aborted'; bytes: number; http?: HttpSpliceStats }
  | { type: 'error'; code: string; message: string; details: Record<string, string | number>; bytes: number; http?: HttpSpliceStats };

export interface SpliceOptions {
  /** Segments that follow `segments`, as they are listed. A failure of this iterable fails the epoch. */
  readonly more?: AsyncIterable<readonly SpliceSegment[]> | undefined;
  /** Copy the files instead of splicing them (no S3 segments then). @default false */
  readonly copy?: boolean;
  readonly retry?: RetryPolicy;
  readonly partBytes?: number;
  readonly window?: number;
  /** Receives how the epoch went (files, objects, spliced and copied bytes). */
  readonly onPath?: (path: SplicePath) => void;
}

/** A started splice: the worker runs ahead until `write` hands it the pipe, or `close` stops it. */
export interface SpliceRun {
  write(fd: number, hooks?: WriteHooks): Promise<WriteResult>;
  /** Stops the worker when the epoch is abandoned before `write`; harmless after it. */
  close(): void;
  /** Bytes in the pipe so far, read live from the worker. */
  readonly sent: number;
  /** What the worker waits for right now. */
  readonly waiting: SpliceWait;
}

/** An error as it crosses to the worker: its stable code, message and details. */
function crossing(err: unknown): SignError {
  const e = err instanceof PipemodeError ? err : undefined;
  return { code: e !== undefined ? (e.constructor as typeof PipemodeError).code : 'PM_ERR_INTERNAL', message: (err as Error).message, details: e?.details ?? {} };
}

export function startSplice(segments: readonly SpliceSegment[], recordio: boolean, options: SpliceOptions = {}): SpliceRun {
  const cells = new SpliceCells();
  const s3: { store: S3Store; info: ObjectInfo; uri: string }[] = [];
  let files = 0;
  /** A segment as the worker takes it: an S3 object becomes the index of its entry in `s3`. */
  const forWorker = (segment: SpliceSegment): WorkerSegment => {
    if (segment.kind === 'file') files++;
    if (segment.kind !== 's3') return segment;
    s3.push(segment);
    return { kind: 'http', object: s3.length - 1, uri: segment.uri, size: segment.info.size };
  };
  const httpObjects = (from: number): HttpObject[] => s3.slice(from).map((o) => ({ uri: o.uri, size: o.info.size }));
  const httpSettings = (): Omit<HttpSettings, 'objects'> => ({
    partBytes: options.partBytes ?? DEFAULT_FETCH_OPTIONS.partSize,
    window: options.window ?? HTTP_SPLICE_WINDOW,
    retry: options.retry ?? DEFAULT_RETRY_POLICY,
    idleTimeoutMs: Math.min(...s3.map((o) => o.store.idleTimeoutMs)),
  });
  const copy = options.copy ?? false;
  const job: SpliceJob & { cells: SpliceCells['shared'] } = { segments: segments.map(forWorker), recordio, copy, cells: cells.shared };
  const transfer: MessagePort[] = [];
  let signing: MessageChannel | undefined;
  if (s3.length > 0 || options.more !== undefined) {
    signing = new MessageChannel();
    const flag = new Int32Array(new SharedArrayBuffer(4));
    const port = signing.port1;
    // the worker blocks on `flag` until the signed request is posted
    // each message asks for a window of ranges; the answer has a target per range (null where
    // signing failed) and, when the first range failed, its error, which the worker throws
    port.on('message', (ranges: ByteRange[]) => {
      const signOne = async (range: ByteRange): Promise<{ target: RawGet | null; error?: SignError }> => {
        try {
          const object = s3[range.object];
          if (object === undefined) throw new Error(`no object ${range.object}`);
          return { target: await object.store.rawGet(object.info, range.start, range.end) };
        } catch (err) {
          return { target: null, error: crossing(err) };
        }
      };
      void Promise.all(ranges.map(signOne)).then((results) => postAndWake(port, flag, { targets: results.map((r) => r.target), ...results[0]?.error }));
    });
    Object.assign(job, { signPort: signing.port2, signFlag: flag });
    transfer.push(signing.port2);
  }
  if (s3.length > 0) Object.assign(job, { http: { objects: httpObjects(0), ...httpSettings() } });
  // an epoch of local files has nothing to do before the reader arrives: its thread starts then
  // (an idle `pipe` of many channels costs no thread start-ups); one with S3 objects starts now
  let worker: StartingWorker | undefined;
  let result: Promise<WorkerResult> | undefined;
  const launch = (): Promise<WorkerResult> => {
    if (result !== undefined) return result;
    worker = takeWorker();
    const w = worker.worker;
    w.postMessage(job, transfer);
    result = new Promise<WorkerResult>((resolve, reject) => {
      const onMessage = (message: WorkerResult | Ready): void => {
        if (message.type === 'ready') return;
        w.off('message', onMessage);
        resolve(message);
      };
      w.on('message', onMessage);
      w.once('error', reject);
      w.once('exit', (code) => reject(new Error(`splice worker exited with code ${code}`)));
    });
    result.catch(() => {}); // seen by write(); unobserved if the epoch is closed before
    return result;
  };
  let streaming: MessageChannel | undefined;
  let stopped = false;
  if (options.more !== undefined) {
    const more = options.more;
    const channel = new MessageChannel();
    streaming = channel;
    const flag = new Int32Array(new SharedArrayBuffer(4));
    // more segments follow over `segmentPort`, as the channel is still being listed
    const post = (batch: SegmentBatch): void => postAndWake(channel.port1, flag, batch);
    Object.assign(job, { segmentPort: channel.port2, segmentFlag: flag });
    transfer.push(channel.port2);
    // batches queue in the port until the worker takes them; the listing runs ahead of the pipe
    void (async () => {
      try {
        let sent = s3.length;
        for await (const batch of more) {
          if (stopped) return;
          const segments = batch.map(forWorker);
          // S3 objects listed now: their sizes and URIs (and, the first time, how to fetch them)
          const objects = httpObjects(sent);
          const http = sent === 0 && objects.length > 0 ? httpSettings() : undefined;
          sent = s3.length;
          post({ segments, ...(objects.length > 0 ? { objects } : {}), ...(http !== undefined ? { http } : {}) });
          if (objects.length > 0 && !stopped) void launch(); // the first GETs go before the reader arrives
        }
        post({});
      } catch (err) {
        post({ error: crossing(err) });
      }
    })();
  }
  if (s3.length > 0) void launch();
  const stop = (): void => cells.stop();
  let written = false;
  const close = (): void => {
    stop();
    stopped = true;
    signing?.port1.close();
    streaming?.port1.close();
    // stopped once started: a thread stopped while it loads koffi can abort the process
    const taken = worker;
    void taken?.started.then(() => taken.worker.terminate());
  };
  return {
    get sent() {
      return cells.sent;
    },
    get waiting() {
      return cells.waiting;
    },
    close: () => {
      if (!written) close();
    },
    write: async (fd: number, hooks: WriteHooks = {}): Promise<WriteResult> => {
      written = true;
      try {
        setPipeSize(fd, PIPE_BUFFER_BYTES);
        cells.handOver(fd);
        hooks.signal?.addEventListener('abort', stop, { once: true });
        if (hooks.signal?.aborted) stop();
        const outcome = await launch();
        const path: SplicePath = { files, httpObjects: s3.length, http: s3.length > 0 ? outcome.http : undefined };
        options.onPath?.(path);
        if (copy) reportPath(`copy on the worker thread (${path.files} files read and written, none spliced)`);
        else reportPath(`splice (${path.files} files, ${path.httpObjects} http objects${path.http !== undefined ? `: ${path.http.getRequests} GETs, ${path.http.retries} retries, ${path.http.splicedBytes} bytes spliced from sockets in ${path.http.splices} splices, ${path.http.copiedBytes} copied` : ''})`);
        if (outcome.type === 'aborted') throw new AbortedError('writing stopped', {}, { cause: hooks.signal?.reason });
        if (outcome.type === 'error') throw errorFromCode(outcome.code, outcome.message, outcome.details);
        hooks.onProgress?.(outcome.bytes);
        return { outcome: outcome.type, bytes: outcome.bytes };
      } catch (err) {
        await hooks.onFailure?.(err);
        throw err;
      } finally {
        hooks.signal?.removeEventListener('abort', stop);
        fs.closeSync(fd);
        close();
      }
    },
  };
}
