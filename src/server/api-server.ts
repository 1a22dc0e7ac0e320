/**
 * `pipemode server`: the SageMaker control plane, the Runtime API of hosted endpoints, a CloudWatch
 * Logs subset and the dashboard, on one port (127.0.0.1 unless told otherwise).
 *
 *   POST /  X-Amz-Target: SageMaker.<Op>       control plane (awsJson1_1), SigV4 service "sagemaker"
 *   POST /  X-Amz-Target: Logs_20140328.<Op>   logs (awsJson1_1), SigV4 service "logs"
 *   POST /endpoints/<name>/invocations…         Runtime API, handed to the endpoint's runner
 *   GET  /, /dashboard/…                        the dashboard (dashboard.ts: its own key, no SigV4)
 *
 * Every API request is read whole (http/read-body.ts; at most 2 MiB for the control plane,
 * 6,291,456 bytes for the Runtime), then SigV4-verified against the server's access keys before anything
 * else is looked at. Answers: 200 with `application/x-amz-json-1.1` and an `x-amzn-RequestId`;
 * refusals through aws-error-response.ts with the type and message the SDKs test for; a pipemode
 * error with its catalogue mapping; anything unexpected is 500 InternalFailure naming the request
 * id only (the server log gets the message, never a stack or a secret).
 *
 * State (state-store.ts) lives in `<state>`; one server per state folder (a flock on the folder).
 */
import fs from 'node:fs';
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { ServerStateError, isPipemodeError } from '../core/errors.js';
import { lockFolder, type FolderLock } from '../core/folder-lock.js';
import type { Logger } from '../core/log.js';
import { AWS_JSON_1_1, newRequestId, writeAuthRejection, writeAwsJsonError, writeRuntimeError } from '../http/aws-error-response.js';
import { createCredentialsFile, readCredentialsFile } from '../http/credentials-file.js';
import { readBody } from '../http/read-body.js';
import { verifySigV4 } from '../http/sigv4-verify.js';
import type { ImagesMap } from '../hosting/images-file.js';
import { MAX_BODY_BYTES } from '../hosting/runtime-front.js';
import { ApiError } from './api-error.js';
import type { Body } from './api-input.js';
import { Dashboard } from './dashboard.js';
import { Hosting } from './hosting-records.js';
import { LogWriter } from './log-writer.js';
import { LogsApi } from './logs-api.js';
import type { Runners } from './runners.js';
import { StateStore } from './state-store.js';
import { TrainingJobs } from './training-jobs.js';

export const DEFAULT_PORT = 8777;
export const DEFAULT_STATE_DIR = '.pipemode';
const MAX_CONTROL_BODY = 2 * 1024 * 1024;

export interface ServerOptions {
  readonly stateDir: string;
  readonly host: string;
  readonly port: number;
  /** Access keys to accept (AWS credentials format, every profile); default `<state>/credentials`, created on first start. */
  readonly apiKeysFile?: string | undefined;
  /** Image → command (hosting/images-file.ts); under `imagesOnly`, without the built-in mappings. */
  readonly images?: ImagesMap | undefined;
  readonly imagesOnly: boolean;
  readonly region: string;
  readonly log: Logger;
  readonly runners?: Runners;
  readonly stopGraceMs?: number;
  readonly maxJobs?: number;
}

export interface RunningServer {
  readonly url: string;
  readonly port: number;
  readonly stateDir: string;
  /** The credentials file clients use (the generated one, or --api-keys). */
  readonly credentialsFile: string;
  /** Whether this start created the credentials file. */
  readonly createdCredentials: boolean;
  readonly dashboardUrl: string;
  readonly store: StateStore;
  /** Stops accepting requests, stops running jobs (marked Failed "interrupted: why"), closes the store. */
  close(why: string): Promise<void>;
}

type Handler = (body: Body) => Record<string, unknown>;

function sageMakerOps(training: TrainingJobs, hosting: Hosting): Record<string, Handler> {
  return {
    CreateTrainingJob: (b) => training.create(b),
    DescribeTrainingJob: (b) => training.describe(b),
    ListTrainingJobs: (b) => training.list(b),
    StopTrainingJob: (b) => training.stop(b),
    CreateModel: (b) => hosting.createModel(b),
    DescribeModel: (b) => hosting.describeModel(b),
    ListModels: (b) => hosting.listModels(b),
    DeleteModel: (b) => hosting.deleteModel(b),
    CreateEndpointConfig: (b) => hosting.createEndpointConfig(b),
    DescribeEndpointConfig: (b) => hosting.describeEndpointConfig(b),
    ListEndpointConfigs: (b) => hosting.listEndpointConfigs(b),
    DeleteEndpointConfig: (b) => hosting.deleteEndpointConfig(b),
    CreateEndpoint: (b) => hosting.createEndpoint(b),
    DescribeEndpoint: (b) => hosting.describeEndpoint(b),
    ListEndpoints: (b) => hosting.listEndpoints(b),
    UpdateEndpoint: (b) => hosting.updateEndpoint(b),
    UpdateEndpointWeightsAndCapacities: (b) => hosting.updateEndpointWeightsAndCapacities(b),
    DeleteEndpoint: (b) => hosting.deleteEndpoint(b),
    CreateTransformJob: (b) => hosting.createTransformJob(b),
    DescribeTransformJob: (b) => hosting.describeTransformJob(b),
    ListTransformJobs: (b) => hosting.listTransformJobs(b),
    StopTransformJob: (b) => hosting.stopTransformJob(b),
  };
}

/** One server per state folder: the folder's flock (core/folder-lock.ts), dropped by the kernel when this process dies. */
function lockState(dir: string): FolderLock {
  const result = lockFolder(dir);
  if ('lock' in result) return result.lock;
  const who = result.holder === undefined ? 'another pipemode server' : `another pipemode server (pid ${result.holder})`;
  throw new ServerStateError(`state folder ${dir} is in use by ${who}; stop it or pass another --state`, { dir, ...(result.holder !== undefined ? { pid: result.holder } : {}) });
}

async function loadCredentials(stateDir: string, apiKeysFile: string | undefined): Promise<{ file: string; keys: Map<string, string>; created: boolean }> {
  if (apiKeysFile !== undefined) return { file: path.resolve(apiKeysFile), keys: await readCredentialsFile(apiKeysFile), created: false };
  const file = path.join(stateDir, 'credentials');
  if (fs.existsSync(file)) return { file, keys: await readCredentialsFile(file), created: false };
  await createCredentialsFile(file, 'pipemode');
  return { file, keys: await readCredentialsFile(file), created: true };
}

export async function startServer(options: ServerOptions): Promise<RunningServer> {
  const { log, region } = options;
  const stateDir = path.resolve(options.stateDir);
  fs.mkdirSync(stateDir, { recursive: true, mode: 0o700 });
  const stateLock = lockState(stateDir);
  const store = StateStore.open(stateDir);
  const credentials = await loadCredentials(stateDir, options.apiKeysFile);
  if (credentials.keys.size === 0) throw new ServerStateError(`${credentials.file} holds no access key`, { dir: stateDir });
  const logs = new LogWriter(store);
  const jobsDir = path.join(stateDir, 'jobs');
  const training = new TrainingJobs({
    store, jobsDir, region, log, logs, images: options.images, imagesOnly: options.imagesOnly,
    stopGraceMs: options.stopGraceMs ?? 120_000, maxConcurrentJobs: options.maxJobs ?? 16,
  });
  const hosting = new Hosting({ store, stateDir, region, log, logs, runners: options.runners ?? {}, images: options.images, imagesOnly: options.imagesOnly });
  await training.recover();
  hosting.recover();
  const logsApi = new LogsApi(store, region);
  const ops = sageMakerOps(training, hosting);
  const dashboard = Dashboard.open(stateDir, store, hosting);

  const answer = (res: ServerResponse, requestId: string, out: unknown): void => {
    const text = JSON.stringify(out);
    res.writeHead(200, { 'Content-Type': AWS_JSON_1_1, 'Content-Length': Buffer.byteLength(text), 'x-amzn-RequestId': requestId });
    res.end(text);
  };
  const fail = (res: ServerResponse, requestId: string, what: string, err: unknown): void => {
    if (err instanceof ApiError) {
      writeAwsJsonError(res, err.status, err.type, err.message, { requestId });
    } else if (isPipemodeError(err)) {
      writeAwsJsonError(res, err.http.status, err.http.controlPlane, err.message, { requestId });
    } else {
      log.error(`${what}: internal error (request ${requestId}): ${(err as Error).message}`);
      writeAwsJsonError(res, 500, 'InternalFailure', `An internal error occurred (request id ${requestId}).`, { requestId });
    }
  };

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const requestId = newRequestId();
    const url = req.url ?? '/';
    const runtime = /^\/endpoints\/([^/?]+)\/(invocations|invocations-response-stream|async-invocations)(\?|$)/.exec(url);
    if (req.method === 'GET' && (url === '/' || url.startsWith('/?') || url.startsWith('/dashboard'))) {
      dashboard.handle(req, res);
      return;
    }
    if (req.method !== 'POST' || (url !== '/' && runtime === null)) {
      writeAwsJsonError(res, 404, 'UnknownOperationException', 'pipemode server answers POST / (awsJson1_1) and POST /endpoints/<name>/invocations', { requestId });
      return;
    }
    const body = await readBody(req, runtime !== null ? MAX_BODY_BYTES : MAX_CONTROL_BODY);
    if (body === undefined) {
      if (runtime !== null) writeRuntimeError(res, 'ValidationError', `Request body is larger than ${MAX_BODY_BYTES} bytes (6 MiB), the limit of the Runtime API.`, { requestId });
      else writeAwsJsonError(res, 413, 'ValidationException', `Request body is larger than ${MAX_CONTROL_BODY / 1024 / 1024} MiB`, { requestId });
      return;
    }
    const target = String(req.headers['x-amz-target'] ?? '');
    const service = runtime !== null ? 'sagemaker' : target.startsWith('Logs_20140328.') ? 'logs' : 'sagemaker';
    const auth = await verifySigV4(req, { credentials: credentials.keys, body, service });
    if (!auth.ok) {
      writeAuthRejection(res, auth, runtime !== null ? 'restJson1' : 'awsJson1_1', { requestId });
      return;
    }
    if (runtime !== null) {
      const name = decodeURIComponent(runtime[1] as string);
      const serve = hosting.runtimeFor(name);
      if (serve === undefined) writeRuntimeError(res, 'ValidationError', `Endpoint ${name} of account 000000000000 not found.`, { requestId });
      else serve(req, res, body);
      return;
    }
    let input: unknown;
    try {
      input = body.length === 0 ? {} : JSON.parse(body.toString('utf8'));
    } catch {
      writeAwsJsonError(res, 400, 'SerializationException', 'The request body is not valid JSON', { requestId });
      return;
    }
    if (input === null || typeof input !== 'object' || Array.isArray(input)) {
      writeAwsJsonError(res, 400, 'SerializationException', 'The request body must be a JSON object', { requestId });
      return;
    }
    const dot = target.indexOf('.');
    const prefix = target.slice(0, dot);
    const op = target.slice(dot + 1);
    try {
      if (prefix === 'SageMaker' && Object.hasOwn(ops, op)) answer(res, requestId, (ops[op] as Handler)(input as Body));
      else if (prefix === 'Logs_20140328') answer(res, requestId, logsApi.handle(op, input as Body));
      else writeAwsJsonError(res, 400, 'UnknownOperationException', `pipemode server does not serve ${target === '' ? 'requests without X-Amz-Target' : `"${target.slice(0, 100)}"`}`, { requestId });
    } catch (err) {
      fail(res, requestId, target, err);
    }
  };

  const server = http.createServer((req, res) => {
    handle(req, res).catch((err: unknown) => fail(res, newRequestId(), req.url ?? '', err));
  });
  server.keepAliveTimeout = 65_000;
  server.headersTimeout = 66_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', (err) => reject(new ServerStateError(`cannot listen on ${options.host}:${options.port}: ${(err as NodeJS.ErrnoException).code ?? err.message}`, { dir: stateDir }, { cause: err })));
    server.listen(options.port, options.host, resolve);
  });
  const port = (server.address() as AddressInfo).port;
  const hostPart = options.host.includes(':') ? `[${options.host}]` : options.host;
  const url = `http://${hostPart}:${port}`;
  let closing: Promise<void> | undefined;
  return {
    url, port, stateDir, store,
    credentialsFile: credentials.file,
    createdCredentials: credentials.created,
    dashboardUrl: `${url}/?key=${dashboard.key}`,
    close(why: string): Promise<void> {
      closing ??= (async () => {
        server.close();
        server.closeAllConnections();
        await training.shutdown(why, 5000);
        await hosting.shutdown();
        logs.flush();
        store.close();
        stateLock.release();
      })();
      return closing;
    },
  };
}
