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
 *   answers, the decoder's partial record, the writer's part buffer. SplitType None holds one
 *   object (≤ MaxPayloadInMB); SplitType None with MaxPayloadInMB 0 streams the object as the
 *   request body (chunked encoding) and holds nothing.
 * - Calls (ModelClientConfig): each waits at most InvocationsTimeoutInSeconds. A call the container
 *   did not answer (it crashed, it timed out) is sent again, at most InvocationsMaxRetries times,
 *   once the instance is back in service (model-instance.ts restarts it); an answer with a 4xx or
 *   5xx status is final. A streamed body (MaxPayloadInMB 0) cannot be sent twice: no retry.
 * - Failure: the first error fails the file: the calls of this file still in flight are abandoned,
 *   the writer never completes (no `.out`, never a partial one), and the error is returned in the
 *   result (ModelInvocationError, PayloadTooLargeError, ResponseFramingError, DataProcessingError,
 *   RecordFormatError, GzipError, store errors). Other files are not affected.
 */
import { Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import zlib from 'node:zlib';
import { childAbort } from '../core/abort.js';
import type { PipemodeError } from '../core/errors.js';
import { AbortedError, GzipError, InternalError, ModelInvocationError, PayloadTooLargeError, isPipemodeError } from '../core/errors.js';
import type { InvokeOutcome, InvokeRequest, ModelInstance } from '../hosting/model-instance.js';
import type { ObjectWriter } from '../storage/object-writer.js';
import { readRangeWithRetry, withRetry, type RetryPolicy } from '../storage/retry.js';
import { createRecordProcessor, recordKind, type RecordProcessor } from './data-processing.js';
import { concatBody, miniBatches, type MiniBatch } from './mini-batcher.js';
import { assembleAnswer, splitAnswer } from './output-assembler.js';
import { BYTES_PER_MB, payloadMode, splitRecords, wholeObject } from './record-splitter.js';
import type { EffectiveParameters, TransformJobSpec } from './transform-job-spec.js';
import type { TransformInputFile } from './transform-input.js';

/** zlib output chunk (as stream/frame-units.ts: 256 KiB inflates faster than the 16 KiB default). */
const GUNZIP_CHUNK = 256 * 1024;
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

  /** Resolves with the release function once a slot is free. */
  async acquire(): Promise<() => void> {
    if (this.#free > 0) this.#free--;
    else await new Promise<void>((resolve) => this.#waiting.push(resolve));
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

async function* readFile(file: TransformInputFile, retry: RetryPolicy, signal: AbortSignal, count: (n: number) => void): AsyncGenerator<Buffer> {
  const info = file.info ?? await withRetry(() => file.store.head(file.key, signal), retry, signal);
  if (info.size === 0) return;
  for await (const chunk of readRangeWithRetry(file.store, info, 0, info.size, retry, signal)) {
    count(chunk.length);
    yield chunk;
  }
}

async function* gunzip(chunks: AsyncIterable<Buffer>, uri: string): AsyncGenerator<Buffer> {
  const inflater = zlib.createGunzip({ chunkSize: GUNZIP_CHUNK });
  const source = Readable.from(chunks, { objectMode: false });
  source.on('error', (err) => inflater.destroy(err));
  source.pipe(inflater);
  try {
    for await (const chunk of inflater) yield chunk as Buffer;
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (isPipemodeError(err) || code === undefined || !code.startsWith('Z_')) throw err;
    throw new GzipError(`${uri} is not valid gzip (${(err as Error).message}) at compressed byte ${inflater.bytesWritten}`, {
      uri, offset: inflater.bytesWritten, zlibCode: code,
    }, { cause: err });
  } finally {
    source.destroy();
    inflater.destroy();
  }
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

function countNewlines(b: Buffer): number {
  let n = 0;
  for (let i = b.indexOf(0x0a); i !== -1; i = b.indexOf(0x0a, i + 1)) n++;
  return n;
}

/**
 * SplitType Line + MultiRecord without DataProcessing, without a Buffer per record: the bodies
 * miniBatches() would build (whole lines, each with its "\n", packed greedily within the limit)
 * are runs of the file's own bytes, cut at the last "\n" that fits; a file's last line without
 * "\n" gets one. Same bodies, same record counts, same PayloadTooLargeError.
 */
async function* lineBatches(bytes: AsyncIterable<Buffer>, maxPayloadInMB: number, uri: string): AsyncGenerator<{ body: Buffer; first: number; count: number; originals: Buffer[] }> {
  const limit = maxPayloadInMB * BYTES_PER_MB;
  let pending: Buffer[] = [];
  let length = 0;
  let first = 0;
  const cut = function* (): Generator<{ body: Buffer; first: number; count: number; originals: Buffer[] }> {
    while (length > limit) {
      const all = pending.length === 1 ? pending[0] as Buffer : Buffer.concat(pending, length);
      const nl = all.lastIndexOf(0x0a, limit - 1);
      if (nl === -1) {
        const end = all.indexOf(0x0a);
        const size = end === -1 ? length : end + 1;
        throw new PayloadTooLargeError(
          `record ${first} of ${uri} is ${end === -1 ? 'at least ' : ''}${size} bytes as sent, more than MaxPayloadInMB=${maxPayloadInMB} allows (${limit} bytes); raise MaxPayloadInMB to at least ${Math.ceil(size / BYTES_PER_MB)}`,
          { source: uri, record: first, size, limit },
        );
      }
      const body = all.subarray(0, nl + 1);
      const count = countNewlines(body);
      yield { body, first, count, originals: [] };
      first += count;
      const rest = all.subarray(nl + 1);
      pending = rest.length > 0 ? [rest] : [];
      length = rest.length;
    }
  };
  for await (const chunk of bytes) {
    pending.push(chunk);
    length += chunk.length;
    yield* cut();
  }
  if (length === 0) return;
  const last = pending.at(-1) as Buffer;
  if (last[last.length - 1] !== 0x0a) {
    pending.push(NEWLINE);
    length++;
    yield* cut();
  }
  if (length === 0) return;
  const body = pending.length === 1 ? pending[0] as Buffer : Buffer.concat(pending, length);
  yield { body, first, count: countNewlines(body), originals: [] };
}

interface Pending {
  readonly batch: Pick<MiniBatch, 'first' | 'count'>;
  /** The records as read (before InputFilter), for JoinSource Input; empty otherwise. */
  readonly originals: readonly Buffer[];
  readonly answer: Promise<Buffer>;
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

  const call = async (body: Buffer | AsyncIterable<Buffer>, first: number, count: number): Promise<Buffer> => {
    const place = `records ${first}-${first + count - 1} of ${uri}`;
    const streamed = !(body instanceof Buffer);
    const maxAttempts = 1 + (streamed ? 0 : spec.invocationsMaxRetries);
    let last: Extract<InvokeOutcome, { ok: false }> | undefined;
    for (let attempt = 1; ; attempt++) {
      if (signal.aborted) throw new AbortedError(`${uri}: stopped`, { source: uri });
      if (instance.state !== 'InService') {
        try {
          await inService(instance, ctx.restartWaitMs, signal);
        } catch (err) {
          if (signal.aborted) throw new AbortedError(`${uri}: stopped`, { source: uri });
          throw new ModelInvocationError(`${place}: ${(err as Error).message}`, { source: uri, first, attempts: attempt - 1 });
        }
      }
      const request: InvokeRequest = { headers, body, timeoutMs, signal };
      const outcome = await instance.invoke(request);
      if (outcome.ok) {
        if (outcome.status >= 200 && outcome.status < 300) return outcome.body;
        const text = outcome.body.subarray(0, 512).toString('utf8').trim();
        throw new ModelInvocationError(`${place}: Bad HTTP status received from algorithm: ${outcome.status}${text === '' ? '' : `; Message: ${text}`}`, {
          source: uri, first, status: outcome.status, attempts: attempt,
        });
      }
      if (outcome.reason === 'aborted' || signal.aborted) throw new AbortedError(`${uri}: stopped`, { source: uri });
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
    throw new ModelInvocationError(`${place}: Unable to get response from algorithm: ${why}; ${maxAttempts} attempt${maxAttempts === 1 ? '' : 's'}${streamed ? ' (a streamed body is not sent twice)' : ''}`, {
      source: uri, first, reason: last.reason, attempts: maxAttempts,
    });
  };

  const assemble = (answer: Buffer, p: Pending): Buffer[] => {
    const { first, count } = p.batch;
    records += count;
    ctx.onProgress?.(count, 0);
    if (processor === undefined) return assembleAnswer(answer, count, spec.output.assembleWith, accept, { source: uri, first });
    const answers = splitAnswer(answer, accept, count, { source: uri, first });
    const out: Buffer[] = [];
    answers.forEach((a, i) => {
      out.push(processor.joinOutput(p.originals[i] ?? EMPTY, a, first + i));
      if (spec.output.assembleWith === 'Line') out.push(NEWLINE);
    });
    return out;
  };

  /** The bodies to send, each with its record range and original records. */
  async function* requests(): AsyncGenerator<{ body: Buffer | AsyncIterable<Buffer>; first: number; count: number; originals: Buffer[] }> {
    let bytes: AsyncIterable<Buffer> = readFile(file, ctx.retry, signal, (n) => {
      inputBytes += n;
      ctx.onProgress?.(0, n);
    });
    if (spec.input.compression === 'Gzip') bytes = gunzip(bytes, uri);
    const mode = payloadMode(spec.input.splitType, params.maxPayloadInMB);
    if (mode === 'stream') {
      yield { body: bytes, first: 0, count: 1, originals: [] };
      return;
    }
    if (mode === 'whole') {
      const payload = await wholeObject(bytes, params.maxPayloadInMB * BYTES_PER_MB, uri);
      yield { body: processor === undefined ? payload : processor.filterInput(payload, 0), first: 0, count: 1, originals: keepOriginals ? [payload] : [] };
      return;
    }
    const splitType = spec.input.splitType as Exclude<typeof spec.input.splitType, 'None'>;
    if (splitType === 'Line' && params.batchStrategy === 'MultiRecord' && processor === undefined && params.maxPayloadInMB > 0) {
      yield* lineBatches(bytes, params.maxPayloadInMB, uri);
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
      yield { body: concatBody(batch), first: batch.first, count: batch.count, originals: keepOriginals ? originals.splice(0, batch.count) : [] };
    }
  }

  async function* output(): AsyncGenerator<Buffer> {
    const window = Math.max(1, params.maxConcurrentTransforms);
    const queue: Pending[] = [];
    const take = async function* (): AsyncGenerator<Buffer> {
      const head = queue.shift() as Pending;
      for (const piece of assemble(await head.answer, head)) {
        outputBytes += piece.length;
        yield piece;
      }
    };
    try {
      for await (const r of requests()) {
        const release = await ctx.slots.acquire();
        batches++;
        const answer = call(r.body, r.first, r.count).finally(release);
        answer.catch(() => {}); // awaited in order below; a later batch may fail first
        queue.push({ batch: { first: r.first, count: r.count }, originals: r.originals, answer });
        while (queue.length >= window) yield* take();
      }
      while (queue.length > 0) yield* take();
    } catch (err) {
      failure ??= err;
      controller.abort(err);
      throw err;
    } finally {
      if (queue.length > 0) {
        controller.abort(new Error('file failed'));
        await Promise.allSettled(queue.map((p) => p.answer));
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
