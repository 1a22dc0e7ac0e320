/**
 * One input file through the model: read (ranged GETs with retries, pinned to the listed version)
 * → inflate (CompressionType Gzip, node zlib streaming) → split (record-splitter.ts) →
 * DataProcessing InputFilter → mini-batches (mini-batcher.ts) → `POST /invocations` → split
 * answers per record, JoinSource and OutputFilter (data-processing.ts), AssembleWith
 * (output-assembler.ts) → the `.out` object, written by the store's ObjectWriter, which makes it
 * visible only when complete (S3 multipart completed at the end; a local temp file renamed).
 *
 * - Order: up to MaxConcurrentTransforms batches are in flight on the instance (its `Slots`, shared
 *   by the files the instance works on); answers are taken in input order from a queue of at most
 *   that many, so the output is in input order whatever order the container answers in.
 * - Memory: the writer pulls output pieces; when it stops pulling (a slow upload), no answer is
 *   taken, no batch is sent, no record is read. Held at once: the batches in flight and their
 *   answers, the decoder's partial record, one output chunk, the writer's part buffer. SplitType
 *   None holds one object (≤ MaxPayloadInMB); SplitType None with MaxPayloadInMB 0 streams the
 *   object as the request body (chunked encoding) and holds nothing.
 * - Calls (ModelClientConfig): each waits at most InvocationsTimeoutInSeconds. A call the container
 *   did not answer (it crashed, it timed out) is sent again, at most InvocationsMaxRetries times,
 *   once the instance is back in service (model-instance.ts restarts it); an answer with a 4xx or
 *   5xx status is final. A streamed body (MaxPayloadInMB 0) is sent again by reading the object
 *   again from its first byte.
 * - Cost per record (SingleRecord sends one request per record): Line records without
 *   DataProcessing are cut from the file's chunks as views, as they are sent;
 *   a call is one lean dispatch (`invoke` with a buffered answer) and one promise; answers are gathered into
 *   output chunks of OUTPUT_CHUNK bytes, so the writer sees one write per chunk, not per record.
 * - Failure: the first error fails the file: the calls of this file still in flight are abandoned,
 *   the writer never completes (no `.out`, never a partial one), and the error is returned in the
 *   result (ModelInvocationError, PayloadTooLargeError, ResponseFramingError, DataProcessingError,
 *   RecordFormatError, GzipError, store errors). Other files are not affected.
 */
import { Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { childAbort } from '../core/abort.js';
import { ioBuffers } from '../core/buffer-pool.js';
import { countByte } from '../core/count-byte.js';
import type { PipemodeError } from '../core/errors.js';
import { AbortedError, InternalError, ModelInvocationError, PayloadTooLargeError, isPipemodeError } from '../core/errors.js';
import type { InvokeOutcome, ModelInstance } from '../hosting/model-instance.js';
import type { ObjectInfo } from '../storage/object-store.js';
import type { ObjectWriter } from '../storage/object-writer.js';
import { readRangeWithRetry, withRetry, type RetryPolicy } from '../storage/retry.js';
import { gunzip } from '../stream/frame-units.js';
import { createRecordProcessor, recordKind, type RecordProcessor } from './data-processing.js';
import { concatBody, miniBatches } from './mini-batcher.js';
import { assembleAnswer, splitAnswer } from './output-assembler.js';
import { BYTES_PER_MB, payloadMode, splitRecords, wholeObject } from './record-splitter.js';
import type { EffectiveParameters, TransformJobSpec } from './transform-job-spec.js';
import type { TransformInputFile } from './transform-input.js';

/** Output is handed to the writer in chunks of about this size (answers gathered, not one write each). */
const OUTPUT_CHUNK = 256 * 1024;
const NEWLINE = Buffer.from('\n');
/** The original of a record when JoinSource is None (never read then): one, not one per record. */
const EMPTY = Buffer.alloc(0);
/** Pause before the first retry of an unanswered call, doubled each time (at most 2 s). */
const RETRY_PAUSE_MS = 250;

/** A counting semaphore: the requests one instance may have in flight (MaxConcurrentTransforms). */
export class Slots {
  #free: number;
  readonly #waiting: (() => void)[] = [];

  constructor(count: number) {
    this.#free = count;
  }

  /** The release function of a slot taken now, or undefined when none is free (no promise). */
  tryAcquire(): (() => void) | undefined {
    if (this.#free === 0) return undefined;
    this.#free--;
    return this.#releaser();
  }

  /** Resolves with the release function once a slot is free. */
  async acquire(): Promise<() => void> {
    const now = this.tryAcquire();
    if (now !== undefined) return now;
    await new Promise<void>((resolve) => this.#waiting.push(resolve));
    return this.#releaser();
  }

  #releaser(): () => void {
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const next = this.#waiting.shift();
      if (next !== undefined) next();
      else this.#free++;
    };
  }
}

/** What a file's run needs from the instance: ModelInstance, or anything that calls like it. */
export type Invoker = Pick<ModelInstance, 'invoke' | 'state' | 'label' | 'on' | 'off'>;

export interface FileContext {
  readonly spec: TransformJobSpec;
  readonly params: EffectiveParameters;
  readonly instance: Invoker;
  readonly slots: Slots;
  readonly writer: ObjectWriter;
  /** The `.out` key. */
  readonly outputKey: string;
  readonly retry: RetryPolicy;
  /** How long to wait for an instance that is restarting before a retry (its startup window). */
  readonly restartWaitMs: number;
  readonly signal?: AbortSignal | undefined;
  /** Called as records are answered and bytes are read. */
  readonly onProgress?: ((records: number, bytes: number) => void) | undefined;
}

export interface FileResult {
  readonly input: string;
  readonly output: string | undefined;
  readonly status: 'Completed' | 'Failed';
  readonly records: number;
  readonly batches: number;
  readonly inputBytes: number;
  readonly outputBytes: number;
  readonly retries: number;
  readonly error: PipemodeError | undefined;
}

async function* readFile(file: TransformInputFile, info: ObjectInfo, retry: RetryPolicy, signal: AbortSignal, count: (n: number) => void): AsyncGenerator<Buffer> {
  if (info.size === 0) return;
  for await (const chunk of readRangeWithRetry(file.store, info, 0, info.size, retry, signal)) {
    count(chunk.length);
    yield chunk;
  }
}

/** CompressionType Gzip: the stream's own inflater (stream/frame-units.ts), fed one chunk per batch. */
async function* inflate(file: TransformInputFile, info: ObjectInfo, chunks: AsyncIterable<Buffer>): AsyncGenerator<Buffer> {
  const batches = (async function* () {
    for await (const chunk of chunks) yield [chunk];
  })();
  const unit = { kind: 'object', store: file.store, key: file.key, info } as const;
  for await (const batch of gunzip({ unit, index: 0, size: info.size, chunks: batches })) yield* batch;
}

/** Resolves when `instance` is InService again; rejects after `ms` or when it stops. */
function inService(instance: Invoker, ms: number, signal: AbortSignal): Promise<void> {
  if (instance.state === 'InService') return Promise.resolve();
  return new Promise((resolve, reject) => {
    const done = (err?: Error): void => {
      clearTimeout(timer);
      instance.off('state', onState);
      signal.removeEventListener('abort', onAbort);
      if (err === undefined) resolve();
      else reject(err);
    };
    const onState = (state: string): void => {
      if (state === 'InService') done();
      else if (state === 'stopping' || state === 'stopped') done(new Error(`${instance.label} stopped`));
    };
    const onAbort = (): void => done(new Error('aborted'));
    const timer = setTimeout(() => done(new Error(`${instance.label} was not back in service within ${Math.round(ms / 1000)} s`)), ms);
    instance.on('state', onState);
    signal.addEventListener('abort', onAbort, { once: true });
  });
}

/** A streamed body (MaxPayloadInMB 0): opened again, from the object's first byte, for each attempt. */
type OpenBody = () => AsyncIterable<Buffer>;

/** One request to send: its body, its records' index range and, for JoinSource Input, the records. */
interface Outgoing {
  readonly body: Buffer | OpenBody;
  readonly first: number;
  readonly count: number;
  readonly originals: readonly Buffer[];
  /** Called once the request is settled (answered, or failed for good): its body is no longer read. */
  readonly release?: (() => void) | undefined;
}

const NO_ORIGINALS: readonly Buffer[] = Object.freeze([]);

function lineTooLarge(uri: string, record: number, size: number, atLeast: boolean, maxPayloadInMB: number): PayloadTooLargeError {
  const limit = maxPayloadInMB * BYTES_PER_MB;
  return new PayloadTooLargeError(
    `record ${record} of ${uri} is ${atLeast ? 'at least ' : ''}${size} bytes as sent, more than MaxPayloadInMB=${maxPayloadInMB} allows (${limit} bytes); raise MaxPayloadInMB to at least ${Math.ceil(size / BYTES_PER_MB)}`,
    { source: uri, record, size, limit },
  );
}

/**
 * SplitType Line + MultiRecord without DataProcessing: the bodies miniBatches() would build
 * (whole lines, each with its "\n", packed greedily within the limit) are runs of the file's own
 * bytes, cut at the last "\n" that fits; a file's last line without "\n" gets one. Same bodies,
 * same record counts, same PayloadTooLargeError.
 *
 * Each byte is copied once, from the chunk as read into a body buffer of `limit` bytes, and the
 * chunk goes back to the I/O pool at once (a chunk dropped instead costs a GC per few chunks). A
 * body is a view of its body buffer; it comes with its `release`, called once its call is
 * settled, which puts the buffer back in this file's free list (at most the bodies in flight plus
 * the one being filled exist). When a body is cut, the partial line after it is copied to the
 * next buffer. `sizeHint`: the most bytes the file can give (its size + 1 for a final "\n"), so
 * that a small file does not take a buffer of `limit` bytes; buffers are of `limit` bytes from
 * the moment the hint proves short.
 */
async function* lineBatches(bytes: AsyncIterable<Buffer>, maxPayloadInMB: number, uri: string, sizeHint: number): AsyncGenerator<Outgoing[]> {
  const limit = maxPayloadInMB * BYTES_PER_MB;
  let capacity = Math.max(1, Math.min(limit, sizeHint));
  const free: Buffer[] = [];
  const take = (): Buffer => free.pop() ?? Buffer.allocUnsafeSlow(capacity);
  const give = (b: Buffer): void => {
    if (b.length === capacity) free.push(b);
  };
  let body = take();
  let used = 0;
  let first = 0;
  /** The body of the buffer's complete lines, cut at the last "\n" within the limit; the rest moves to a new buffer. */
  const cut = (chunk: Buffer, at: number): Outgoing => {
    const nl = body.lastIndexOf(0x0a, limit - 1);
    if (nl === -1) {
      // the first line is longer than the limit: its length, as far as the bytes at hand tell
      const end = chunk.indexOf(0x0a, at);
      throw lineTooLarge(uri, first, end === -1 ? used + chunk.length - at : used + end - at + 1, end === -1, maxPayloadInMB);
    }
    const full = body;
    const out = full.subarray(0, nl + 1);
    const count = countByte(out, 0x0a);
    body = take();
    used = full.copy(body, 0, nl + 1, used);
    const o: Outgoing = { body: out, first, count, originals: NO_ORIGINALS, release: () => give(full) };
    first += count;
    return o;
  };
  /** Copies `chunk` in; the bodies that fill up on the way. */
  const put = (chunk: Buffer): Outgoing[] => {
    const out: Outgoing[] = [];
    for (let at = 0; at < chunk.length;) {
      if (used === body.length) {
        if (used < limit) {
          // the size hint was short (a store that gives more than it said): buffers of the limit from now on
          capacity = limit;
          free.length = 0;
          const bigger = take();
          body.copy(bigger, 0, 0, used);
          body = bigger;
        } else {
          out.push(cut(chunk, at));
        }
      }
      const n = chunk.copy(body, used, at);
      used += n;
      at += n;
    }
    return out;
  };
  let last = 0x0a;
  for await (const chunk of bytes) {
    if (chunk.length === 0) continue;
    const out = put(chunk);
    last = chunk[chunk.length - 1] as number;
    ioBuffers.release(chunk);
    if (out.length > 0) yield out;
  }
  if (used === 0) return;
  if (last !== 0x0a) {
    const out = put(NEWLINE);
    if (out.length > 0) yield out;
  }
  const full = body;
  yield [{ body: full.subarray(0, used), first, count: countByte(full.subarray(0, used), 0x0a), originals: NO_ORIGINALS, release: () => give(full) }];
}

/**
 * SplitType Line + SingleRecord without DataProcessing: each line with its "\n" (the body
 * miniBatches() would build) is a view of the chunk it lies in; only a line across chunks, or a
 * last line without "\n", is copied. Per chunk, the requests are cut as they are taken (a chunk
 * holds tens of thousands of lines: made at once, they would all outlive a young-generation GC).
 * A line longer than the limit fails as miniBatches() fails it, once its bytes pass the limit.
 */
async function* lineRecords(bytes: AsyncIterable<Buffer>, maxPayloadInMB: number, uri: string): AsyncGenerator<Iterable<Outgoing>> {
  const limit = maxPayloadInMB * BYTES_PER_MB;
  let partial: Buffer[] = [];
  let partialLength = 0;
  let index = 0;
  const cut = function* (chunk: Buffer): Generator<Outgoing> {
    let from = 0;
    for (let nl = chunk.indexOf(0x0a); nl !== -1; nl = chunk.indexOf(0x0a, from)) {
      let body = chunk.subarray(from, nl + 1);
      if (partialLength > 0) {
        partial.push(body);
        body = Buffer.concat(partial, partialLength + body.length);
        partial = [];
        partialLength = 0;
      }
      if (body.length > limit) throw lineTooLarge(uri, index, body.length, false, maxPayloadInMB);
      yield { body, first: index, count: 1, originals: NO_ORIGINALS };
      index++;
      from = nl + 1;
    }
    if (from < chunk.length) {
      partial.push(chunk.subarray(from));
      partialLength += chunk.length - from;
      if (partialLength >= limit) throw lineTooLarge(uri, index, partialLength + 1, true, maxPayloadInMB);
    }
  };
  for await (const chunk of bytes) yield cut(chunk);
  if (partialLength > 0) {
    partial.push(NEWLINE);
    yield [{ body: Buffer.concat(partial, partialLength + 1), first: index, count: 1, originals: NO_ORIGINALS }];
  }
}

interface Pending {
  readonly first: number;
  readonly count: number;
  /** The records as read (before InputFilter), for JoinSource Input; empty otherwise. */
  readonly originals: readonly Buffer[];
  /** Never rejects: the answer, or why there is none. */
  readonly answer: Promise<{ readonly body: Buffer } | { readonly error: unknown }>;
}

/** Transforms one file; never throws (a failure is in the result). */
export async function transformFile(file: TransformInputFile, ctx: FileContext): Promise<FileResult> {
  const { spec, params, instance } = ctx;
  const uri = file.uri;
  const controller = childAbort(ctx.signal, 0);
  const signal = controller.signal;
  let records = 0;
  let batches = 0;
  let inputBytes = 0;
  let outputBytes = 0;
  let retries = 0;
  let failure: unknown;
  const accept = spec.output.accept;
  const contentType = spec.input.contentType;
  const headers: Record<string, string> = {};
  if (contentType !== undefined) headers['content-type'] = contentType;
  if (accept !== undefined) headers.accept = accept;
  const timeoutMs = spec.invocationsTimeoutSeconds * 1000;
  const dp = spec.dataProcessing;
  const kind = recordKind(contentType);
  const processor: RecordProcessor | undefined = dp.identity || kind === undefined ? undefined : createRecordProcessor(dp, kind, uri);
  const keepOriginals = processor !== undefined && dp.joinSource === 'Input';

  const send = (body: Buffer | OpenBody): Promise<InvokeOutcome> =>
    instance.invoke({ headers, body: typeof body === 'function' ? body() : body, timeoutMs, signal });
  const place = (first: number, count: number): string => `records ${first}-${first + count - 1} of ${uri}`;
  const stopped = (): AbortedError => new AbortedError(`${uri}: stopped`, { source: uri });
  /** An answer's body when its status is 2xx; a 4xx or 5xx answer is final. */
  const answerOf = (outcome: Extract<InvokeOutcome, { ok: true }>, first: number, count: number, attempt: number): Buffer => {
    if (outcome.status >= 200 && outcome.status < 300) return outcome.body;
    const text = outcome.body.subarray(0, 512).toString('utf8').trim();
    throw new ModelInvocationError(`${place(first, count)}: Bad HTTP status received from algorithm: ${outcome.status}${text === '' ? '' : `; Message: ${text}`}`, {
      source: uri, first, status: outcome.status, attempts: attempt,
    });
  };

  /** The calls that were not answered at first (or found the instance out of service): sent again. */
  const retrying = async (body: Buffer | OpenBody, first: number, count: number, given: InvokeOutcome | undefined): Promise<Buffer> => {
    const maxAttempts = 1 + spec.invocationsMaxRetries;
    let last: Extract<InvokeOutcome, { ok: false }> | undefined;
    for (let attempt = 1; ; attempt++) {
      let outcome = given;
      given = undefined;
      if (outcome === undefined) {
        if (signal.aborted) throw stopped();
        if (instance.state !== 'InService') {
          try {
            await inService(instance, ctx.restartWaitMs, signal);
          } catch (err) {
            if (signal.aborted) throw stopped();
            throw new ModelInvocationError(`${place(first, count)}: ${(err as Error).message}`, { source: uri, first, attempts: attempt - 1 });
          }
        }
        outcome = await send(body);
      }
      if (outcome.ok) return answerOf(outcome, first, count, attempt);
      if (outcome.reason === 'aborted' || signal.aborted) throw stopped();
      if (outcome.reason === 'unavailable') {
        attempt--; // never sent: wait for the instance instead
        continue;
      }
      last = outcome;
      if (attempt >= maxAttempts) break;
      retries++;
      // a crash is seen on the socket before the process's exit: give the instance time to leave service
      await sleep(Math.min(RETRY_PAUSE_MS * 2 ** (attempt - 1), 2000), undefined, { signal }).catch(() => {});
    }
    const why = last.reason === 'timeout' ? `no answer within InvocationsTimeoutInSeconds=${spec.invocationsTimeoutSeconds}` : `the container crashed (${last.message})`;
    throw new ModelInvocationError(`${place(first, count)}: Unable to get response from algorithm: ${why}; ${maxAttempts} attempt${maxAttempts === 1 ? '' : 's'}`, {
      source: uri, first, reason: last.reason, attempts: maxAttempts,
    });
  };

  /** One request's answer: sent once at once; anything but an answer goes to retrying(). */
  const call = (body: Buffer | OpenBody, first: number, count: number): Promise<Buffer> => {
    if (signal.aborted || instance.state !== 'InService') return retrying(body, first, count, undefined);
    return send(body).then((outcome) => (outcome.ok ? answerOf(outcome, first, count, 1) : retrying(body, first, count, outcome)));
  };

  /**
   * The output, gathered: small pieces (a SingleRecord answer is a few bytes) are copied into a
   * chunk of OUTPUT_CHUNK bytes, so that neither the writer nor the heap holds one object per
   * record; large pieces pass as they are. `ready` holds what is ready to be written.
   */
  let chunk = Buffer.allocUnsafe(OUTPUT_CHUNK);
  let used = 0;
  const ready: Buffer[] = [];
  const seal = (): void => {
    if (used === 0) return;
    ready.push(chunk.subarray(0, used));
    chunk = Buffer.allocUnsafe(OUTPUT_CHUNK);
    used = 0;
  };
  const put = (piece: Buffer): void => {
    outputBytes += piece.length;
    if (piece.length >= OUTPUT_CHUNK / 4) {
      seal();
      ready.push(piece);
      return;
    }
    if (used + piece.length > OUTPUT_CHUNK) seal();
    used += piece.copy(chunk, used);
  };
  /** Puts one answer's output pieces. */
  const assemble = (answer: Buffer, p: Pending): void => {
    const { first, count } = p;
    records += count;
    ctx.onProgress?.(count, 0);
    if (processor === undefined) {
      for (const piece of assembleAnswer(answer, count, spec.output.assembleWith, accept, { source: uri, first })) put(piece);
      return;
    }
    const answers = splitAnswer(answer, accept, count, { source: uri, first });
    answers.forEach((a, i) => {
      put(processor.joinOutput(p.originals[i] ?? EMPTY, a, first + i));
      if (spec.output.assembleWith === 'Line') put(NEWLINE);
    });
  };

  /** The bytes of the file as read (and inflated), counted once per attempt. */
  let info: ObjectInfo | undefined = file.info;
  let attemptBytes = 0;
  const open = (): AsyncIterable<Buffer> => {
    inputBytes -= attemptBytes; // a retried streamed body reads the object again
    attemptBytes = 0;
    const known = info as ObjectInfo;
    const bytes = readFile(file, known, ctx.retry, signal, (n) => {
      attemptBytes += n;
      inputBytes += n;
      ctx.onProgress?.(0, n);
    });
    return spec.input.compression === 'Gzip' ? inflate(file, known, bytes) : bytes;
  };

  /** The requests to send, in order, a group at a time (a group: what one chunk of input gives, taken before the next chunk is read). */
  async function* requests(): AsyncGenerator<Iterable<Outgoing>> {
    info ??= await withRetry(() => file.store.head(file.key, signal), ctx.retry, signal);
    const mode = payloadMode(spec.input.splitType, params.maxPayloadInMB);
    if (mode === 'stream') {
      yield [{ body: open, first: 0, count: 1, originals: NO_ORIGINALS }];
      return;
    }
    const bytes = open();
    if (mode === 'whole') {
      const payload = await wholeObject(bytes, params.maxPayloadInMB * BYTES_PER_MB, uri);
      yield [{ body: processor === undefined ? payload : processor.filterInput(payload, 0), first: 0, count: 1, originals: keepOriginals ? [payload] : NO_ORIGINALS }];
      return;
    }
    const splitType = spec.input.splitType as Exclude<typeof spec.input.splitType, 'None'>;
    if (splitType === 'Line' && processor === undefined && params.maxPayloadInMB > 0) {
      const sizeHint = spec.input.compression === 'Gzip' ? Infinity : info.size + 1;
      yield* params.batchStrategy === 'MultiRecord' ? lineBatches(bytes, params.maxPayloadInMB, uri, sizeHint) : lineRecords(bytes, params.maxPayloadInMB, uri);
      return;
    }
    const originals: Buffer[] = [];
    async function* filtered(): AsyncGenerator<Buffer> {
      let index = 0;
      for await (const record of splitRecords(bytes, splitType, uri)) {
        if (keepOriginals) originals.push(record);
        yield processor === undefined ? record : processor.filterInput(record, index);
        index++;
      }
    }
    for await (const batch of miniBatches(filtered(), { splitType, batchStrategy: params.batchStrategy, maxPayloadInMB: params.maxPayloadInMB, source: uri })) {
      yield [{ body: concatBody(batch), first: batch.first, count: batch.count, originals: keepOriginals ? originals.splice(0, batch.count) : NO_ORIGINALS }];
    }
  }

  async function* output(): AsyncGenerator<Buffer> {
    const window = Math.max(1, params.maxConcurrentTransforms);
    const queue: Pending[] = [];
    const answerOfHead = async (): Promise<void> => {
      const head = queue.shift() as Pending;
      const answer = await head.answer;
      if ('error' in answer) throw answer.error;
      assemble(answer.body, head);
    };
    try {
      // the window is waited for before a call is sent, not after: the next body is read and cut
      // while the calls in flight are answered (at MaxConcurrentTransforms 1 too); the answers'
      // output goes to the writer once the next call is on its way
      for await (const group of requests()) {
        for (const r of group) {
          while (queue.length >= window) await answerOfHead();
          const release = ctx.slots.tryAcquire() ?? await ctx.slots.acquire();
          batches++;
          const answer = call(r.body, r.first, r.count).then((body) => {
            release();
            r.release?.();
            return { body };
          }, (error: unknown) => {
            release();
            r.release?.();
            return { error };
          });
          queue.push({ first: r.first, count: r.count, originals: r.originals, answer });
          if (ready.length > 0) yield* ready.splice(0);
        }
      }
      while (queue.length > 0) {
        await answerOfHead();
        if (ready.length > 0) yield* ready.splice(0);
      }
      seal();
      yield* ready.splice(0);
    } catch (err) {
      failure ??= err;
      controller.abort(err);
      throw err;
    } finally {
      if (queue.length > 0) {
        controller.abort(new Error('file failed'));
        await Promise.all(queue.map((p) => p.answer));
      }
    }
  }

  const result = (status: 'Completed' | 'Failed', error?: PipemodeError): FileResult => Object.freeze({
    input: uri, output: status === 'Completed' ? ctx.writer.uriOf(ctx.outputKey) : undefined, status,
    records, batches, inputBytes, outputBytes, retries, error,
  });
  try {
    await ctx.writer.put(ctx.outputKey, Readable.from(output(), { objectMode: false }), signal);
    return result('Completed');
  } catch (err) {
    const cause = failure ?? err;
    const error = isPipemodeError(cause)
      ? cause
      : signal.aborted && ctx.signal?.aborted === true
        ? new AbortedError(`${uri}: stopped`, { source: uri })
        : new InternalError(`${uri}: ${(cause as Error).message}`, { source: uri }, { cause });
    return result('Failed', error);
  }
}
