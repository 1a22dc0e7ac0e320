/**
 * The SageMaker Runtime API (restJson1) in front of endpoints, over node:http, so boto3, the AWS CLI
 * and the JS SDK call them as they call SageMaker:
 *
 * - `POST /endpoints/{name}/invocations` (InvokeEndpoint): the body (≤ 6,291,456 bytes) and the
 *   Content-Type, Accept, X-Amzn-SageMaker-Custom-Attributes, -Inference-Id, -Target-Model,
 *   -Target-Variant and -Session-Id headers go to `/invocations` of an instance; a 2xx comes back
 *   as 200 with the container's body and Content-Type, `x-Amzn-Invoked-Production-Variant` and the
 *   container's Custom-Attributes. A 4xx/5xx becomes 424 ModelError (OriginalStatusCode,
 *   OriginalMessage, LogStreamArn); no answer within 60 s (`invocationTimeoutMs`), or a container
 *   that died with the request, is a ModelError with status 0, worded as SageMaker words a timeout
 *   ("Your invocation timed out while waiting for a response from container primary. …"). An
 *   answer over 6,291,456 bytes is not relayed: ModelError with status 0 saying so.
 * - `POST /endpoints/{name}/invocations-response-stream`: the same call (Accept as
 *   X-Amzn-SageMaker-Accept); the container's answer relayed as event-stream PayloadPart events
 *   chunk by chunk as they arrive, `X-Amzn-SageMaker-Content-Type` naming the type. The whole
 *   stream has the invocation timeout from the request to its last byte; past it the stream ends
 *   with ModelStreamError (ModelInvocationTimeExceeded). A container that breaks off mid-answer
 *   ends it with ModelStreamError (StreamBroken), a failure of ours with InternalStreamFailure. An
 *   error before the first byte is an ordinary error answer.
 * - `POST /endpoints/{name}/async-invocations` (InvokeEndpointAsync): the input is read from
 *   X-Amzn-SageMaker-InputLocation (an inline body may be at most 128,000 bytes, and is not used),
 *   202 with `{"InferenceId"}` and X-Amzn-SageMaker-OutputLocation
 *   at once; the answer is then written to `<S3OutputPath>/<InferenceId>.out` (a failure to
 *   `<S3FailurePath>/<InferenceId>-error.out`).
 * - `GET /metrics`: Prometheus text. `GET /ping`: 200.
 *
 * `handler` is a whole node:http listener (`pipemode serve`); `serve` answers the same operations
 * for a caller that read the body and checked the signature itself (`pipemode server`).
 *
 * Errors: unknown endpoint or variant, oversized body, bad headers → 400 ValidationError; no
 * instance of the variant in service (all starting again, restarting or failing their health
 * checks) → 429 ModelNotReadyException at once. Signatures:
 * with `credentials`, every request must carry a valid SigV4 signature (service `sagemaker`);
 * without, signatures are not checked (the CLI refuses that beyond 127.0.0.1).
 */
import crypto from 'node:crypto';
import type http from 'node:http';
import { writeAuthRejection, writeModelError, writeRuntimeError, modelErrorMessage, newRequestId } from '../http/aws-error-response.js';
import { modelStreamErrorEvent, payloadPartEvent, internalStreamFailureEvent, MAX_EVENT_PAYLOAD_BYTES } from '../http/event-stream.js';
import { readBody } from '../http/read-body.js';
import { verifySigV4 } from '../http/sigv4-verify.js';
import { LOCAL_ACCOUNT, RESOURCE_NAME } from '../container/arn.js';
import { readWholeObject } from '../storage/read-object.js';
import { DEFAULT_RETRY_POLICY } from '../storage/retry.js';
import { appendToKey, asFolder, formatSourceUri, parseSourceUri } from '../storage/source-uri.js';
import type { Stores } from '../storage/stores.js';
import type { Logger } from '../core/log.js';
import type { Endpoint, Variant } from './endpoint.js';
import type { ModelInstance } from './model-instance.js';

/** InvokeEndpoint's Body limit (botocore BodyBlob). */
export const MAX_BODY_BYTES = 6_291_456;
/** How long a real-time container has to answer (SageMaker's). */
export const INVOCATION_TIMEOUT_MS = 60_000;
/** Async inputs may be this large (SageMaker: 1 GB). */
const MAX_ASYNC_INPUT_BYTES = 1_000_000_000;
/** InvokeEndpointAsync's inline Body limit (SageMaker's current docs; the input itself comes from InputLocation). */
export const MAX_ASYNC_INLINE_BODY_BYTES = 128_000;
const TIMEOUT_TEXT = 'Your invocation timed out while waiting for a response from container primary. '
  + 'Review the latency metrics for each container in Amazon CloudWatch, resolve the issue, and try again.';
const STREAM_TIMEOUT_TEXT = 'Your model primary did not complete sending the inference response in the allotted time.';
const TOO_LARGE_TEXT = `The response from container primary is larger than ${MAX_BODY_BYTES} bytes (6 MiB), the limit of InvokeEndpoint; it was not relayed.`;
const PRINTABLE_ASCII = /^[\x20-\x7e]*$/;
/** Request headers passed on to the container (lower-case). */
const FORWARDED = ['x-amzn-sagemaker-custom-attributes', 'x-amzn-sagemaker-inference-id', 'x-amzn-sagemaker-target-model',
  'x-amzn-sagemaker-target-variant', 'x-amzn-sagemaker-session-id', 'x-amzn-sagemaker-enable-explanations'];

export interface RuntimeFrontOptions {
  readonly endpoints: ReadonlyMap<string, Endpoint>;
  /** Access key → secret; when set, SigV4 is mandatory. */
  readonly credentials?: ReadonlyMap<string, string> | undefined;
  readonly stores: Stores;
  readonly region?: string | undefined;
  readonly logger: Logger;
  /** How long a container has to answer (a stream: to finish). @default 60 s */
  readonly invocationTimeoutMs?: number | undefined;
}

export interface RuntimeFront {
  readonly handler: http.RequestListener;
  /**
   * The same Runtime API for a request whose body the caller has already read and whose signature
   * it has already checked (`pipemode server`, which serves the control plane on the same port).
   */
  readonly serve: (req: http.IncomingMessage, res: http.ServerResponse, body: Buffer) => void;
  /** Requests being answered and async invocations still running. */
  readonly active: () => number;
  /** Resolves when nothing is active. */
  readonly idle: () => Promise<void>;
}

type Operation = 'invocations' | 'invocations-response-stream' | 'async-invocations';

function header(req: http.IncomingMessage, name: string): string | undefined {
  const v = req.headers[name];
  return Array.isArray(v) ? v.join(',') : v;
}

const OPERATION_PATH = /^\/endpoints\/([^/]+)\/(invocations|invocations-response-stream|async-invocations)$/;
const bodyLimit = (op: Operation): number => (op === 'async-invocations' ? MAX_ASYNC_INLINE_BODY_BYTES : MAX_BODY_BYTES);
const tooLargeText = (op: Operation): string => (op === 'async-invocations'
  ? `Request body is larger than ${MAX_ASYNC_INLINE_BODY_BYTES} bytes, the limit of InvokeEndpointAsync's inline Body (send the input by InputLocation).`
  : `Request body is larger than ${MAX_BODY_BYTES} bytes (6 MiB), the limit of ${op === 'invocations' ? 'InvokeEndpoint' : 'InvokeEndpointWithResponseStream'}.`);

function pathOf(req: http.IncomingMessage): string {
  const url = req.url ?? '/';
  const q = url.indexOf('?');
  return q < 0 ? url : url.slice(0, q);
}

function hrUs(start: bigint): number {
  return Number((process.hrtime.bigint() - start) / 1000n);
}

export function createRuntimeFront(options: RuntimeFrontOptions): RuntimeFront {
  const region = options.region ?? process.env.AWS_REGION ?? 'us-east-1';
  const timeoutMs = options.invocationTimeoutMs ?? INVOCATION_TIMEOUT_MS;
  let active = 0;
  let waiters: (() => void)[] = [];
  const done = (): void => {
    active--;
    if (active === 0) {
      for (const w of waiters) w();
      waiters = [];
    }
  };

  const logStreamArn = (endpoint: string, label: string): string =>
    `arn:aws:logs:${region}:${LOCAL_ACCOUNT}:log-group:/aws/sagemaker/Endpoints/${endpoint}:log-stream:${label}`;

  const validationError = (res: http.ServerResponse, message: string, requestId: string): void =>
    writeRuntimeError(res, 'ValidationError', message, { requestId });

  /** Checks the InvokeEndpoint headers; returns a message for the first bad one. */
  const badHeader = (req: http.IncomingMessage): string | undefined => {
    const attrs = header(req, 'x-amzn-sagemaker-custom-attributes');
    if (attrs !== undefined && (attrs.length > 1024 || !PRINTABLE_ASCII.test(attrs))) {
      return '1 validation error detected: Value at \'customAttributes\' failed to satisfy constraint: Member must have length less than or equal to 1024 and contain only visible US-ASCII characters';
    }
    const id = header(req, 'x-amzn-sagemaker-inference-id');
    if (id !== undefined && (id.length < 1 || id.length > 64)) {
      return '1 validation error detected: Value at \'inferenceId\' failed to satisfy constraint: Member must have length between 1 and 64';
    }
    const target = header(req, 'x-amzn-sagemaker-target-variant');
    if (target !== undefined && !RESOURCE_NAME.test(target)) {
      return `1 validation error detected: Value '${target.slice(0, 100)}' at 'targetVariant' failed to satisfy constraint: Member must satisfy regular expression pattern: ^[a-zA-Z0-9](-*[a-zA-Z0-9])*`;
    }
    return undefined;
  };

  /** The variant and instance for a request, or an error already sent. */
  const route = (req: http.IncomingMessage, res: http.ServerResponse, endpoint: Endpoint, requestId: string): { variant: Variant; instance: ModelInstance } | undefined => {
    const target = header(req, 'x-amzn-sagemaker-target-variant');
    const variant = endpoint.pickVariant(target);
    if (variant === undefined) {
      validationError(res, target !== undefined
        ? `Endpoint ${endpoint.name} does not have a variant named ${target}.` : `Endpoint ${endpoint.name} has no variant with traffic.`, requestId);
      return undefined;
    }
    const instance = endpoint.pickInstance(variant);
    if (instance === undefined) {
      writeRuntimeError(res, 'ModelNotReadyException', `Model for endpoint ${endpoint.name} variant ${variant.name} is not ready: no instance is in service (starting again or failing its health checks).`, { requestId });
      return undefined;
    }
    return { variant, instance };
  };

  const containerHeaders = (req: http.IncomingMessage, contentType: string | undefined, accept: string | undefined): Record<string, string> => {
    const out: Record<string, string> = {};
    if (contentType !== undefined) out['content-type'] = contentType;
    if (accept !== undefined) out.accept = accept;
    for (const name of FORWARDED) {
      const v = header(req, name);
      if (v !== undefined) out[name] = v;
    }
    return out;
  };

  const failureText = (reason: string): string =>
    reason === 'timeout' ? TIMEOUT_TEXT : reason === 'too-large' ? TOO_LARGE_TEXT : 'The container exited while handling the request; it is being restarted.';

  async function invoke(req: http.IncomingMessage, res: http.ServerResponse, endpoint: Endpoint, body: Buffer, requestId: string, t0: bigint): Promise<void> {
    const picked = route(req, res, endpoint, requestId);
    if (picked === undefined) return;
    const { variant, instance } = picked;
    const headers = containerHeaders(req, header(req, 'content-type'), header(req, 'accept'));
    const tModel = process.hrtime.bigint();
    const outcome = await instance.invoke({ headers, body, timeoutMs, maxBodyBytes: MAX_BODY_BYTES });
    const modelUs = hrUs(tModel);
    if (!outcome.ok) {
      if (outcome.reason === 'unavailable') {
        writeRuntimeError(res, 'ModelNotReadyException', `Model for endpoint ${endpoint.name} variant ${variant.name} is not ready.`, { requestId });
        return;
      }
      endpoint.record(variant, instance, 0, modelUs, hrUs(t0) - modelUs);
      const text = failureText(outcome.reason);
      writeModelError(res, {
        message: modelErrorMessage(0, text), originalStatusCode: 0, originalMessage: text, logStreamArn: logStreamArn(endpoint.name, instance.label),
      }, { requestId });
      return;
    }
    if (outcome.status < 200 || outcome.status >= 300) {
      const text = outcome.body.toString('utf8');
      writeModelError(res, {
        message: modelErrorMessage(outcome.status, text), originalStatusCode: outcome.status, originalMessage: text,
        logStreamArn: logStreamArn(endpoint.name, instance.label),
      }, { requestId });
      endpoint.record(variant, instance, outcome.status, modelUs, hrUs(t0) - modelUs);
      return;
    }
    const ct = outcome.headers['content-type'];
    const attrs = outcome.headers['x-amzn-sagemaker-custom-attributes'];
    const out: Record<string, string | number> = {
      'Content-Type': typeof ct === 'string' ? ct : 'application/octet-stream',
      'Content-Length': outcome.body.length,
      'x-Amzn-Invoked-Production-Variant': variant.name,
      'x-amzn-RequestId': requestId,
    };
    if (typeof attrs === 'string') out['X-Amzn-SageMaker-Custom-Attributes'] = attrs;
    res.writeHead(200, out);
    res.end(outcome.body);
    endpoint.record(variant, instance, outcome.status, modelUs, hrUs(t0) - modelUs);
  }

  async function invokeStream(req: http.IncomingMessage, res: http.ServerResponse, endpoint: Endpoint, body: Buffer, requestId: string, t0: bigint): Promise<void> {
    const picked = route(req, res, endpoint, requestId);
    if (picked === undefined) return;
    const { variant, instance } = picked;
    const headers = containerHeaders(req, header(req, 'content-type'), header(req, 'x-amzn-sagemaker-accept'));
    const tModel = process.hrtime.bigint();
    const outcome = await instance.invoke({ headers, body, timeoutMs, stream: true, streamTimeoutMs: timeoutMs });
    if (!outcome.ok) {
      if (outcome.reason === 'unavailable') {
        writeRuntimeError(res, 'ModelNotReadyException', `Model for endpoint ${endpoint.name} variant ${variant.name} is not ready.`, { requestId });
        return;
      }
      const text = failureText(outcome.reason);
      endpoint.record(variant, instance, 0, hrUs(tModel), 0);
      writeModelError(res, { message: modelErrorMessage(0, text), originalStatusCode: 0, originalMessage: text, logStreamArn: logStreamArn(endpoint.name, instance.label) }, { requestId });
      return;
    }
    if (outcome.status < 200 || outcome.status >= 300) {
      const parts: Buffer[] = [];
      try {
        for await (const c of outcome.chunks) parts.push(c);
      } catch { /* what arrived is the message */ }
      const text = Buffer.concat(parts).toString('utf8');
      endpoint.record(variant, instance, outcome.status, hrUs(tModel), 0);
      writeModelError(res, { message: modelErrorMessage(outcome.status, text), originalStatusCode: outcome.status, originalMessage: text,
        logStreamArn: logStreamArn(endpoint.name, instance.label) }, { requestId });
      return;
    }
    const ct = outcome.headers['content-type'];
    const attrs = outcome.headers['x-amzn-sagemaker-custom-attributes'];
    res.writeHead(200, {
      'Content-Type': 'application/vnd.amazon.eventstream',
      'Transfer-Encoding': 'chunked',
      'X-Amzn-SageMaker-Content-Type': typeof ct === 'string' ? ct : 'application/octet-stream',
      'x-Amzn-Invoked-Production-Variant': variant.name,
      'x-amzn-RequestId': requestId,
      ...(typeof attrs === 'string' ? { 'X-Amzn-SageMaker-Custom-Attributes': attrs } : {}),
    });
    res.flushHeaders();
    let status = 200;
    try {
      for await (const chunk of outcome.chunks) {
        for (let at = 0; at < chunk.length; at += MAX_EVENT_PAYLOAD_BYTES) {
          if (!res.write(payloadPartEvent(chunk.subarray(at, at + MAX_EVENT_PAYLOAD_BYTES)))) {
            await new Promise<void>((resolve) => {
              const go = (): void => {
                res.off('drain', go);
                res.off('close', go);
                resolve();
              };
              res.on('drain', go);
              res.on('close', go);
            });
          }
        }
        if (res.destroyed) break; // the caller went away: stop reading the container's answer
      }
    } catch {
      status = 0;
      const why = outcome.streamFailure();
      res.write(why === 'timeout' ? modelStreamErrorEvent(STREAM_TIMEOUT_TEXT, 'ModelInvocationTimeExceeded')
        : why === 'crashed' ? modelStreamErrorEvent('The model stream broke off: the container closed the connection before the end of its answer.', 'StreamBroken')
          : internalStreamFailureEvent('The stream could not be relayed.'));
    }
    res.end();
    endpoint.record(variant, instance, status, hrUs(tModel), hrUs(t0) - hrUs(tModel));
  }

  function invokeAsync(req: http.IncomingMessage, res: http.ServerResponse, endpoint: Endpoint, requestId: string): void {
    const input = header(req, 'x-amzn-sagemaker-inputlocation');
    if (input === undefined || input === '') {
      validationError(res, '1 validation error detected: Value null at \'inputLocation\' failed to satisfy constraint: Member must not be null', requestId);
      return;
    }
    const output = endpoint.spec.asyncOutputPath;
    if (output === undefined) {
      validationError(res, `Endpoint ${endpoint.name} is not an asynchronous inference endpoint (no AsyncInferenceConfig.OutputConfig.S3OutputPath).`, requestId);
      return;
    }
    let inputUri;
    try {
      inputUri = parseSourceUri(input);
    } catch (err) {
      validationError(res, `InputLocation: ${(err as Error).message}`, requestId);
      return;
    }
    const inferenceId = header(req, 'x-amzn-sagemaker-inference-id') ?? crypto.randomUUID();
    const outUri = appendToKey(asFolder(parseSourceUri(output)), `${inferenceId}.out`);
    const failurePath = endpoint.spec.asyncFailurePath;
    const failUri = failurePath !== undefined ? appendToKey(asFolder(parseSourceUri(failurePath)), `${inferenceId}-error.out`) : undefined;
    const text = JSON.stringify({ InferenceId: inferenceId });
    res.writeHead(202, {
      'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(text), 'x-amzn-RequestId': requestId,
      'X-Amzn-SageMaker-OutputLocation': formatSourceUri(outUri),
      ...(failUri !== undefined ? { 'X-Amzn-SageMaker-FailureLocation': formatSourceUri(failUri) } : {}),
    });
    res.end(text);
    const contentType = header(req, 'x-amzn-sagemaker-content-type');
    const headers = containerHeaders(req, contentType, header(req, 'x-amzn-sagemaker-accept'));
    active++;
    void (async () => {
      let failure: string | undefined;
      try {
        const body = await readWholeObject(options.stores.storeFor(inputUri), inputUri.key, MAX_ASYNC_INPUT_BYTES, DEFAULT_RETRY_POLICY);
        const variant = endpoint.pickVariant(header(req, 'x-amzn-sagemaker-target-variant'));
        const instance = variant === undefined ? undefined : endpoint.pickInstance(variant);
        if (variant === undefined || instance === undefined) {
          failure = 'no instance in service';
        } else {
          const t0 = process.hrtime.bigint();
          const outcome = await instance.invoke({ headers, body, timeoutMs: 3600_000 });
          endpoint.record(variant, instance, outcome.ok ? outcome.status : 0, hrUs(t0), 0);
          if (!outcome.ok) failure = failureText(outcome.reason);
          else if (outcome.status >= 300) failure = modelErrorMessage(outcome.status, outcome.body.toString('utf8'));
          else {
            const writer = await options.stores.writerFor(outUri);
            const { Readable } = await import('node:stream');
            await writer.put(outUri.key, Readable.from([outcome.body]));
          }
        }
      } catch (err) {
        failure = (err as Error).message;
      }
      if (failure !== undefined) {
        options.logger.warn(`endpoint ${endpoint.name}: async inference ${inferenceId} failed: ${failure}`);
        if (failUri !== undefined) {
          try {
            const writer = await options.stores.writerFor(failUri);
            const { Readable } = await import('node:stream');
            await writer.put(failUri.key, Readable.from([Buffer.from(failure)]));
          } catch (err) {
            options.logger.warn(`endpoint ${endpoint.name}: cannot write ${formatSourceUri(failUri)}: ${(err as Error).message}`);
          }
        }
      }
    })().finally(done);
  }

  const internal = (res: http.ServerResponse) => (err: unknown): void => {
    options.logger.error(`runtime request failed: ${(err as Error).stack ?? String(err)}`);
    if (!res.headersSent) writeRuntimeError(res, 'InternalFailure', 'We encountered an internal error. Please try again.');
    else res.destroy();
  };

  const handler: http.RequestListener = (req, res) => {
    active++;
    res.once('close', done);
    void handle(req, res).catch(internal(res));
  };

  const serve = (req: http.IncomingMessage, res: http.ServerResponse, body: Buffer): void => {
    active++;
    res.once('close', done);
    const requestId = newRequestId();
    const m = OPERATION_PATH.exec(pathOf(req));
    if (m === null || req.method !== 'POST') {
      writeRuntimeError(res, 'ValidationError', `No Runtime operation at ${req.method ?? ''} ${pathOf(req).slice(0, 200)}`, { requestId });
      return;
    }
    void dispatch(req, res, m, body, requestId, process.hrtime.bigint()).catch(internal(res));
  };

  async function handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const t0 = process.hrtime.bigint();
    const requestId = newRequestId();
    const pathname = pathOf(req);
    if (req.method === 'GET' && (pathname === '/metrics' || pathname === '/ping')) {
      const text = pathname === '/ping' ? '' : [...options.endpoints.values()].map((e) => e.prometheus()).join('');
      res.writeHead(200, { 'Content-Type': 'text/plain; version=0.0.4', 'Content-Length': Buffer.byteLength(text) });
      res.end(text);
      return;
    }
    const m = OPERATION_PATH.exec(pathname);
    if (m === null || req.method !== 'POST') {
      req.resume();
      writeRuntimeError(res, 'ValidationError', `No Runtime operation at ${req.method ?? ''} ${pathname.slice(0, 200)}`, { requestId });
      return;
    }
    const body = await readBody(req, bodyLimit(m[2] as Operation));
    if (body === undefined) {
      validationError(res, tooLargeText(m[2] as Operation), requestId);
      return;
    }
    if (options.credentials !== undefined) {
      const auth = await verifySigV4(req, { credentials: options.credentials, body, service: 'sagemaker' });
      if (!auth.ok) {
        writeAuthRejection(res, auth, 'restJson1', { requestId });
        return;
      }
    }
    await dispatch(req, res, m, body, requestId, t0);
  }

  /** An operation whose body is read and whose signature is checked: endpoint, headers, then the call. */
  async function dispatch(req: http.IncomingMessage, res: http.ServerResponse, m: RegExpExecArray, body: Buffer, requestId: string, t0: bigint): Promise<void> {
    const op = m[2] as Operation;
    if (body.length > bodyLimit(op)) {
      validationError(res, tooLargeText(op), requestId);
      return;
    }
    let name: string;
    try {
      name = decodeURIComponent(m[1] ?? '');
    } catch {
      name = m[1] ?? '';
    }
    // endpoint names are case-insensitive on SageMaker
    const endpoint = options.endpoints.get(name) ?? [...options.endpoints.values()].find((e) => e.name.toLowerCase() === name.toLowerCase());
    if (endpoint === undefined) {
      validationError(res, `Endpoint ${name.slice(0, 100)} of account ${LOCAL_ACCOUNT} not found.`, requestId);
      return;
    }
    const bad = badHeader(req);
    if (bad !== undefined) {
      validationError(res, bad, requestId);
      return;
    }
    if (op === 'invocations') await invoke(req, res, endpoint, body, requestId, t0);
    else if (op === 'invocations-response-stream') await invokeStream(req, res, endpoint, body, requestId, t0);
    else invokeAsync(req, res, endpoint, requestId);
  }

  return {
    handler,
    serve,
    active: () => active,
    idle: () => (active === 0 ? Promise.resolve() : new Promise((resolve) => waiters.push(resolve))),
  };
}
