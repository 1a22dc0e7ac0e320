/**
 * One hosting instance: a container command run the way SageMaker runs `docker run IMAGE serve`,
 * supervised, health-checked and called over HTTP. Used by real-time endpoints and by batch
 * transform alike.
 *
 * - Layout: the instance has its own base dir (its `/opt/ml`); `model` in it is a link to the
 *   model folder prepared once per model (model-data.ts). `SAGEMAKER_BASE_DIR` names the base dir.
 *   As root on Linux (and unless `namespace: false`), the command runs in a private mount namespace
 *   (`unshare -m`) where the base dir is bind-mounted at `/opt/ml` and the model folder is
 *   remounted read-only, so containers that hard-code `/opt/ml/model` work unchanged and cannot
 *   change their model. No other process sees these mounts; they vanish with the container.
 * - Environment: pipemode's own (PATH, HOME, AWS credentials, … — as SageMaker local mode passes
 *   the caller's credentials; `inheritEnvironment: false` keeps only a few basic variables), then
 *   the container's `Environment`, then SageMaker's: `SAGEMAKER_BIND_TO_PORT` and
 *   `SAGEMAKER_SAFE_PORT_RANGE` (a block of ports of 127.0.0.1 reserved per start, port-block.ts),
 *   `SAGEMAKER_BIND_TO_HOST=127.0.0.1` and `SAGEMAKER_BASE_DIR`.
 * - Health: `GET /ping` (2 s per attempt, as SageMaker) polled until 200 within the startup
 *   timeout (`ContainerStartupHealthCheckTimeoutInSeconds`; SageMaker's default is 4 minutes). A
 *   command that exits first, or never answers 200, fails `start` with EndpointFailedError carrying
 *   its last lines of output. Once in service, `/ping` is checked every `healthCheckIntervalMs`
 *   (5 s): a failed check takes the instance out of rotation (`state` 'unhealthy', no new request);
 *   a passing one puts it back; `unhealthyThreshold` (3) failures in a row stop the container and
 *   restart it on the crash path below.
 * - Calls: `invoke` sends one request through an undici Pool to 127.0.0.1 (keep-alive, no retry
 *   of a request the container may have received); a buffered answer is one lean dispatch, cheap
 *   enough for one call per record (batch transform's SingleRecord). Every outcome is a value: the answer, or why
 *   there is none (`crashed`, `timeout`, `unavailable`, `too-large` past `maxBodyBytes`), which the
 *   caller words for its client. A streamed answer has `streamTimeoutMs` from the request to its
 *   last byte; past it the chunks end with an error and `streamFailure()` says `timeout`.
 * - Crashes: when the command exits on its own after it was healthy, every request in flight on
 *   it fails at once (`crashed`), the instance leaves rotation (`state` 'restarting') and is
 *   started again with capped exponential backoff (1 s, 2 s, 4 s … 30 s) until `/ping` passes.
 * - Stop: SIGTERM to the process group, SIGKILL after `stopGraceMs` (30 s, SageMaker's); the
 *   ContainerProcess guardian kills the group if pipemode itself dies.
 * - Output: every line of stdout/stderr goes to `onLine` (the caller prefixes `[variant/instance]`)
 *   and to `logFile`; the last lines are kept for failure reasons.
 */
import { EventEmitter } from 'node:events';
import fs from 'node:fs';
import path from 'node:path';
import { Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { Pool, type Dispatcher } from 'undici';
import { ContainerProcess, type ContainerExit } from '../container/container-process.js';
import { EndpointFailedError } from '../core/errors.js';
import { reservePortBlock, type PortBlock } from './port-block.js';

/** SageMaker's health-check window for a new endpoint when the variant sets none (archived hosting docs). */
export const DEFAULT_STARTUP_TIMEOUT_S = 240;
/** Each `/ping` may take this long (SageMaker's). */
export const PING_TIMEOUT_MS = 2000;
/** SIGTERM → SIGKILL, as SageMaker stops hosting containers. */
export const DEFAULT_STOP_GRACE_MS = 30_000;
/** `/ping` of an instance in service is checked this often. */
export const DEFAULT_HEALTH_CHECK_INTERVAL_MS = 5000;
/** Failed checks in a row after which the container is restarted. */
export const DEFAULT_UNHEALTHY_THRESHOLD = 3;
/** What a container sees of pipemode's environment with `inheritEnvironment: false`. */
const BASIC_ENVIRONMENT = ['PATH', 'HOME', 'USER', 'LOGNAME', 'SHELL', 'LANG', 'LC_ALL', 'LC_CTYPE', 'TZ', 'TMPDIR', 'TERM'];
const OUTPUT_LINES_KEPT = 40;
const MAX_BACKOFF_MS = 30_000;

export type InstanceState = 'starting' | 'InService' | 'unhealthy' | 'restarting' | 'stopping' | 'stopped';

export interface ModelInstanceOptions {
  /** `variant/instance-1`, for messages and log prefixes. */
  readonly label: string;
  /** The instance's own base dir (created); its `/opt/ml`. */
  readonly baseDir: string;
  /** The prepared model folder, linked as `<baseDir>/model` (absent: an empty `model/`). */
  readonly modelDir?: string | undefined;
  /** The command standing in for the image, mode word included. */
  readonly argv: readonly string[];
  /** The container's Environment plus what its image mapping needs. */
  readonly environment?: Readonly<Record<string, string>> | undefined;
  readonly startupTimeoutMs?: number | undefined;
  readonly stopGraceMs?: number | undefined;
  /** Run in a private mount namespace with the base dir at /opt/ml. @default 'auto' (when root on Linux) */
  readonly namespace?: boolean | 'auto' | undefined;
  readonly logFile?: string | undefined;
  readonly onLine?: ((line: string, stream: 'stdout' | 'stderr') => void) | undefined;
  /** Restart after a crash. @default true */
  readonly restart?: boolean | undefined;
  /** Pool connections to the container. @default 64 */
  readonly connections?: number | undefined;
  /** `/ping` checks once in service, this far apart; 0: none. @default 5000 */
  readonly healthCheckIntervalMs?: number | undefined;
  /** Failed checks in a row that restart the container. @default 3 */
  readonly unhealthyThreshold?: number | undefined;
  /** Pass pipemode's whole environment (AWS credentials included) to the container. @default true */
  readonly inheritEnvironment?: boolean | undefined;
}

export interface InvokeRequest {
  readonly method?: 'POST' | 'GET';
  readonly path?: string;
  readonly headers: Readonly<Record<string, string>>;
  /** A buffer, or chunks sent with chunked transfer encoding (batch transform's MaxPayloadInMB 0). */
  readonly body?: Uint8Array | AsyncIterable<Uint8Array> | undefined;
  readonly signal?: AbortSignal | undefined;
  /** No complete answer within this long → `timeout`. Streaming: time to the answer's headers. */
  readonly timeoutMs: number;
  /** Deliver the body as it arrives instead of buffered. */
  readonly stream?: boolean;
  /** Streaming: the whole answer must have arrived within this long of the request. @default none */
  readonly streamTimeoutMs?: number | undefined;
  /** Buffered answers: a body larger than this is not read (`too-large`). @default none */
  readonly maxBodyBytes?: number | undefined;
}

export type InvokeOutcome =
  | {
    readonly ok: true;
    readonly status: number;
    readonly headers: Readonly<Record<string, string | string[] | undefined>>;
    /** Buffered answers: the whole body. */
    readonly body: Buffer;
    /** Streamed answers: chunks as they arrive (throws when the stream breaks). */
    readonly chunks: AsyncIterable<Buffer>;
    /** After `chunks` threw: why (timeout: past streamTimeoutMs; crashed: the container broke off). */
    readonly streamFailure: () => 'crashed' | 'timeout' | 'aborted' | undefined;
  }
  | {
    readonly ok: false;
    /**
     * crashed: the container died with the request; timeout: no answer in time; unavailable: not in
     * service (never sent); too-large: the answer is over maxBodyBytes.
     */
    readonly reason: 'crashed' | 'timeout' | 'unavailable' | 'aborted' | 'too-large';
    readonly message: string;
    /** Whether the container may have received the request. */
    readonly sent: boolean;
  };

/** Whether instances run in their own mount namespace here (root on Linux with `unshare`). */
export function canUseMountNamespace(): boolean {
  return process.platform === 'linux' && process.getuid?.() === 0 && fs.existsSync('/usr/bin/unshare');
}

/** $1 base dir, $2 model folder (or ""), then the command: /opt/ml is the base dir, the model read-only. */
const NAMESPACE_SCRIPT = 'set -e; mkdir -p /opt/ml; mount --bind "$1" /opt/ml; '
  + 'if [ -n "$2" ]; then mount --bind "$2" "$2"; mount -o remount,bind,ro "$2"; fi; shift 2; exec "$@"';

/** How often the buffered calls' deadlines are checked: a call times out at most this late. */
const SWEEP_MS = 100;

/** A request body as undici takes it: a Buffer (no copy), or the chunks as a stream (sent chunked). */
function requestBody(body: InvokeRequest['body']): Buffer | Readable | null {
  if (body === undefined) return null;
  if (body instanceof Uint8Array) return Buffer.isBuffer(body) ? body : Buffer.from(body.buffer, body.byteOffset, body.byteLength);
  return Readable.from(body, { objectMode: false });
}

/** A buffered answer's `streamFailure`: a whole body never failed mid-stream (one function for every call). */
function noStreamFailure(): undefined {
  return undefined;
}

/** A buffered answer's `chunks`: its one body (a class, so that no closure is made per call). */
class OneChunk implements AsyncIterable<Buffer> {
  constructor(readonly body: Buffer) {}

  async* [Symbol.asyncIterator](): AsyncGenerator<Buffer> {
    yield this.body;
  }
}

/**
 * One call whose answer is buffered, and undici's handler for it: the answer gathered (refused past
 * `maxBodyBytes`), the outcome resolved once. Methods, not closures, so a call is one object (a
 * closure per call made each call outlive young-generation GCs and fill the old generation).
 */
class BufferedCall implements Dispatcher.DispatchHandler {
  readonly deadline: number;
  readonly #limit: number;
  #size = 0;
  #controller: Dispatcher.DispatchController | undefined;
  #why: 'timeout' | 'aborted' | 'crashed' | undefined;
  #done = false;
  #status = 0;
  #headers: Record<string, string | string[] | undefined> = {};
  readonly #parts: Buffer[] = [];
  readonly #signal: AbortSignal | undefined;
  readonly #resolve: (outcome: InvokeOutcome) => void;
  readonly #finished: () => void;

  constructor(request: InvokeRequest, resolve: (outcome: InvokeOutcome) => void, finished: () => void) {
    this.deadline = performance.now() + request.timeoutMs;
    this.#limit = request.maxBodyBytes ?? Infinity;
    this.#resolve = resolve;
    this.#finished = finished;
    this.#signal = request.signal;
    this.#signal?.addEventListener('abort', this, { once: true });
  }

  /** The caller's signal aborted. */
  handleEvent(): void {
    this.end(new Error('aborted'), 'aborted');
  }

  /** Ends the call; undici answers through onResponseError once the request has started. */
  end(err: Error, why: 'timeout' | 'aborted' | 'crashed'): void {
    if (this.#done) return;
    this.#why ??= why;
    if (this.#controller === undefined) this.#settle(this.#failed(err));
    else this.#controller.abort(err);
  }

  onRequestStart(controller: Dispatcher.DispatchController): void {
    this.#controller = controller;
    if (this.#done) controller.abort(new Error('abandoned'));
  }

  onResponseStart(controller: Dispatcher.DispatchController, statusCode: number, headers: Record<string, string | string[] | undefined>): void {
    this.#status = statusCode;
    this.#headers = headers;
    if (Number(headers['content-length'] ?? 0) > this.#limit) this.#refuse(controller);
  }

  onResponseData(controller: Dispatcher.DispatchController, chunk: Buffer): void {
    this.#size += chunk.length;
    if (this.#size > this.#limit) this.#refuse(controller);
    else this.#parts.push(chunk);
  }

  /** The answer is over maxBodyBytes: not read further. */
  #refuse(controller: Dispatcher.DispatchController): void {
    this.#settle({ ok: false, reason: 'too-large', message: `the answer is larger than ${this.#limit} bytes`, sent: true });
    controller.abort(new Error('too large'));
  }

  onResponseEnd(): void {
    const parts = this.#parts;
    const body = parts.length === 1 ? parts[0] as Buffer : Buffer.concat(parts);
    this.#settle({ ok: true, status: this.#status, headers: this.#headers, body, chunks: new OneChunk(body), streamFailure: noStreamFailure });
  }

  onResponseError(_c: Dispatcher.DispatchController, err: Error): void {
    this.#settle(this.#failed(err));
  }

  #failed(err: Error): InvokeOutcome {
    return { ok: false, reason: this.#why ?? 'crashed', message: err.message, sent: true };
  }

  #settle(outcome: InvokeOutcome): void {
    if (this.#done) return;
    this.#done = true;
    this.#signal?.removeEventListener('abort', this);
    this.#finished();
    this.#resolve(outcome);
  }
}

export class ModelInstance extends EventEmitter {
  readonly label: string;
  readonly baseDir: string;
  #state: InstanceState = 'starting';
  #process: ContainerProcess | undefined;
  #pool: Pool | undefined;
  #port = 0;
  #ports: PortBlock | undefined;
  /** Aborted by stop(): ends the health checks' waits. */
  readonly #stopped = new AbortController();
  readonly #options: ModelInstanceOptions;
  readonly #inFlight = new Set<AbortController>();
  /**
   * Buffered calls in flight, by slot (an array of reused slots, not a Set: a Set's
   * tables outlive their entries in the old generation and keep finished calls from young GCs),
   * and the timer that ends those past their deadline.
   */
  readonly #calls: (BufferedCall | undefined)[] = [];
  readonly #freeSlots: number[] = [];
  #sweep: NodeJS.Timeout | undefined;
  readonly #lastLines: string[] = [];
  readonly #log: fs.WriteStream | undefined;
  #outstanding = 0;
  #restarts = 0;
  #stopping: Promise<void> | undefined;
  readonly #namespace: boolean;

  private constructor(options: ModelInstanceOptions) {
    super();
    this.label = options.label;
    this.baseDir = path.resolve(options.baseDir);
    this.#options = options;
    this.#namespace = options.namespace === 'auto' || options.namespace === undefined ? canUseMountNamespace() : options.namespace;
    if (options.logFile !== undefined) {
      fs.mkdirSync(path.dirname(options.logFile), { recursive: true });
      this.#log = fs.createWriteStream(options.logFile, { flags: 'a' });
    }
  }

  /** Starts the instance; resolves once `/ping` answers 200, rejects with EndpointFailedError. */
  static async start(options: ModelInstanceOptions): Promise<ModelInstance> {
    const instance = new ModelInstance(options);
    instance.#layout();
    try {
      await instance.#launch();
    } catch (err) {
      await instance.stop(0);
      throw err;
    }
    return instance;
  }

  get state(): InstanceState {
    return this.#state;
  }

  /** Requests sent and not yet answered in full. */
  get outstanding(): number {
    return this.#outstanding;
  }

  get restarts(): number {
    return this.#restarts;
  }

  /** The port the container listens on (127.0.0.1). */
  get port(): number {
    return this.#port;
  }

  get usesMountNamespace(): boolean {
    return this.#namespace;
  }

  /** The last lines the container wrote. */
  lastOutput(): string {
    return this.#lastLines.join('\n');
  }

  #layout(): void {
    fs.mkdirSync(this.baseDir, { recursive: true });
    const model = path.join(this.baseDir, 'model');
    fs.rmSync(model, { recursive: true, force: true });
    if (this.#options.modelDir !== undefined) fs.symlinkSync(path.resolve(this.#options.modelDir), model);
    else fs.mkdirSync(model);
  }

  #line(line: string, stream: 'stdout' | 'stderr'): void {
    this.#lastLines.push(line);
    if (this.#lastLines.length > OUTPUT_LINES_KEPT) this.#lastLines.shift();
    this.#log?.write(`${line}\n`);
    this.#options.onLine?.(line, stream);
  }

  #pipeLines(readable: NodeJS.ReadableStream | null, stream: 'stdout' | 'stderr'): void {
    if (readable === null) return;
    let rest = '';
    readable.setEncoding('utf8');
    readable.on('data', (chunk: string) => {
      const parts = (rest + chunk).split('\n');
      rest = parts.pop() ?? '';
      for (const line of parts) this.#line(line, stream);
    });
    readable.on('end', () => {
      if (rest !== '') this.#line(rest, stream);
      rest = '';
    });
  }

  #fail(message: string): EndpointFailedError {
    const out = this.lastOutput();
    return new EndpointFailedError(`${this.label}: ${message}${out === '' ? ' (the container wrote nothing)' : `; its last output:\n${out}`}`, {
      instance: this.label,
    });
  }

  async #launch(): Promise<void> {
    this.#state = this.#restarts === 0 ? 'starting' : 'restarting';
    this.#ports?.release();
    this.#ports = await reservePortBlock();
    this.#port = this.#ports.port;
    const { argv } = this.#options;
    const inherited = this.#options.inheritEnvironment === false
      ? Object.fromEntries(BASIC_ENVIRONMENT.flatMap((k) => (process.env[k] !== undefined ? [[k, process.env[k]]] : [])))
      : process.env;
    const env: NodeJS.ProcessEnv = {
      ...inherited,
      ...this.#options.environment,
      SAGEMAKER_BIND_TO_PORT: String(this.#port),
      SAGEMAKER_BIND_TO_HOST: '127.0.0.1',
      SAGEMAKER_SAFE_PORT_RANGE: this.#ports.safeRange,
      SAGEMAKER_BASE_DIR: this.baseDir,
    };
    const command = this.#namespace
      ? ['unshare', '-m', '--propagation', 'private', 'sh', '-c', NAMESPACE_SCRIPT, 'pipemode-instance', this.baseDir,
        this.#options.modelDir === undefined ? '' : path.resolve(this.#options.modelDir), ...argv]
      : [...argv];
    let child: ContainerProcess;
    try {
      child = await ContainerProcess.start({ command, env, stdio: 'pipe' });
    } catch (err) {
      throw this.#fail(`cannot start ${JSON.stringify(argv[0])}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
    }
    this.#process = child;
    this.#pipeLines(child.process.stdout, 'stdout');
    this.#pipeLines(child.process.stderr, 'stderr');
    const pool = new Pool(`http://127.0.0.1:${this.#port}`, {
      connections: this.#options.connections ?? 64, pipelining: 1, keepAliveTimeout: 30_000, connect: { timeout: 2000 },
    });
    this.#pool = pool;
    const seen: { exit?: ContainerExit } = {};
    void child.exited.then((e) => {
      seen.exit = e;
      this.#onExit(child, e);
    });
    const timeoutMs = this.#options.startupTimeoutMs ?? DEFAULT_STARTUP_TIMEOUT_S * 1000;
    const deadline = Date.now() + timeoutMs;
    let delay = 50;
    for (;;) {
      if (this.#ending()) return;
      if (seen.exit !== undefined) throw this.#fail(`the container exited with code ${seen.exit.exitCode} before /ping answered 200`);
      if ((await this.#ping(pool)) === undefined) break;
      if (Date.now() >= deadline) {
        throw this.#fail(`/ping did not answer 200 within ${Math.round(timeoutMs / 1000)} s (ContainerStartupHealthCheckTimeoutInSeconds)`);
      }
      await sleep(delay);
      delay = Math.min(delay * 2, 500);
    }
    const gone = seen.exit as ContainerExit | undefined; // set by the exit callback meanwhile
    if (gone !== undefined) throw this.#fail(`the container exited with code ${gone.exitCode}`);
    this.#state = 'InService';
    this.emit('state', this.#state);
    void this.#watch(child, pool);
  }

  /** Health checks while `child` runs: out of rotation on a failure, restarted after a few in a row. */
  async #watch(child: ContainerProcess, pool: Pool): Promise<void> {
    const interval = this.#options.healthCheckIntervalMs ?? DEFAULT_HEALTH_CHECK_INTERVAL_MS;
    const threshold = Math.max(1, this.#options.unhealthyThreshold ?? DEFAULT_UNHEALTHY_THRESHOLD);
    if (interval <= 0) return;
    const current = (): boolean => this.#process === child && (this.#state === 'InService' || this.#state === 'unhealthy');
    let failures = 0;
    for (;;) {
      try {
        await sleep(interval, undefined, { signal: this.#stopped.signal });
      } catch {
        return;
      }
      if (!current()) return;
      const why = await this.#ping(pool);
      if (!current()) return;
      if (why === undefined) {
        failures = 0;
        if (this.#state === 'unhealthy') {
          this.#line('pipemode: /ping answers 200 again; back in service', 'stderr');
          this.#state = 'InService';
          this.emit('state', this.#state);
        }
        continue;
      }
      failures++;
      if (failures === 1) {
        this.#line(`pipemode: health check failed (${why}); out of rotation`, 'stderr');
        this.#state = 'unhealthy';
        this.emit('state', this.#state);
      }
      if (failures >= threshold) {
        this.#line(`pipemode: ${failures} health checks failed in a row; stopping the container to restart it`, 'stderr');
        await child.stop(this.#options.stopGraceMs ?? DEFAULT_STOP_GRACE_MS);
        return;
      }
    }
  }

  /** Whether stop() has begun (a method, so TypeScript does not narrow the state across awaits). */
  #ending(): boolean {
    return this.#state === 'stopping' || this.#state === 'stopped';
  }

  /** One `GET /ping`: undefined when it answered 200, else what went wrong. */
  async #ping(pool: Pool): Promise<string | undefined> {
    const signal = AbortSignal.timeout(PING_TIMEOUT_MS);
    try {
      const res = await pool.request({ method: 'GET', path: '/ping', headersTimeout: PING_TIMEOUT_MS, bodyTimeout: PING_TIMEOUT_MS, signal });
      await res.body.dump({ limit: 64 * 1024, signal });
      return res.statusCode === 200 ? undefined : `/ping answered ${res.statusCode}`;
    } catch (err) {
      return signal.aborted ? `/ping did not answer within ${PING_TIMEOUT_MS / 1000} s` : `/ping failed: ${(err as Error).message}`;
    }
  }

  #onExit(child: ContainerProcess, e: ContainerExit): void {
    if (child !== this.#process) return;
    for (const c of this.#inFlight) c.abort(new Error('crashed'));
    for (const c of this.#calls) c?.end(new Error('crashed'), 'crashed');
    const pool = this.#pool;
    this.#pool = undefined;
    void pool?.destroy().catch(() => {});
    if (this.#state === 'stopping' || this.#state === 'stopped') return;
    const wasInService = this.#state === 'InService' || this.#state === 'unhealthy';
    this.#state = 'restarting';
    if (!wasInService) return; // a failing start is reported by #launch
    this.#line(`pipemode: container exited with code ${e.exitCode}${e.signal !== null ? ` (${e.signal})` : ''}; restarting it`, 'stderr');
    this.emit('state', this.#state);
    this.emit('crash', e);
    if (this.#options.restart === false) return;
    void this.#restartLoop();
  }

  async #restartLoop(): Promise<void> {
    for (let attempt = 0; ; attempt++) {
      await sleep(Math.min(1000 * 2 ** attempt, MAX_BACKOFF_MS));
      if (this.#state !== 'restarting') return;
      this.#restarts++;
      this.emit('restart', this.#restarts);
      try {
        await this.#launch();
        return;
      } catch (err) {
        if (this.#ending()) return;
        this.#line(`pipemode: restart failed: ${(err as Error).message.split('\n')[0] ?? ''}`, 'stderr');
        const child = this.#process;
        this.#state = 'restarting';
        await child?.stop(1000);
      }
    }
  }

  /**
   * Sends one request to the container; never throws. A buffered answer (the default) is one lean
   * dispatch: a BufferedCall is undici's handler itself — no AbortController, body stream, timer or
   * closure per call (batch transform sends one per record); the calls' deadlines are checked by one
   * sweep timer per instance. A streamed answer (`stream`) has its chunks delivered as they come.
   */
  invoke(request: InvokeRequest): Promise<InvokeOutcome> {
    const pool = this.#pool;
    if (this.#state !== 'InService' || pool === undefined) {
      return Promise.resolve({ ok: false, reason: 'unavailable', message: `${this.label} is ${this.#state}`, sent: false });
    }
    if (request.signal?.aborted === true) return Promise.resolve({ ok: false, reason: 'aborted', message: 'aborted', sent: false });
    return request.stream === true ? this.#invokeStreamed(pool, request) : this.#invokeBuffered(pool, request);
  }

  #invokeBuffered(pool: Pool, request: InvokeRequest): Promise<InvokeOutcome> {
    return new Promise((resolve) => {
      const slot = this.#freeSlots.pop() ?? this.#calls.length;
      const call = new BufferedCall(request, resolve, () => {
        this.#calls[slot] = undefined;
        this.#freeSlots.push(slot);
        this.#outstanding--;
      });
      this.#calls[slot] = call;
      this.#outstanding++;
      this.#sweep ??= setInterval(() => this.#sweepCalls(), SWEEP_MS).unref();
      pool.dispatch({
        method: request.method ?? 'POST', path: request.path ?? '/invocations', headers: request.headers, body: requestBody(request.body),
        headersTimeout: 0, bodyTimeout: 0, // the sweep bounds the whole call
      }, call);
    });
  }

  /** A streamed answer: `timeoutMs` to its headers, `streamTimeoutMs` (if set) to its last byte. */
  async #invokeStreamed(pool: Pool, request: InvokeRequest): Promise<InvokeOutcome> {
    const controller = new AbortController();
    this.#inFlight.add(controller);
    this.#outstanding++;
    let timedOut = false;
    const expire = (): void => {
      timedOut = true;
      controller.abort(new Error('timeout'));
    };
    let timer = setTimeout(expire, request.timeoutMs);
    const callerAbort = (): void => controller.abort(new Error('aborted'));
    request.signal?.addEventListener('abort', callerAbort, { once: true });
    let finished = false;
    const finish = (): void => {
      if (finished) return;
      finished = true;
      clearTimeout(timer);
      request.signal?.removeEventListener('abort', callerAbort);
      this.#inFlight.delete(controller);
      this.#outstanding--;
    };
    const why = (): 'crashed' | 'timeout' | 'aborted' =>
      controller.signal.aborted ? (timedOut ? 'timeout' : (request.signal?.aborted === true ? 'aborted' : 'crashed')) : 'crashed';
    const t0 = Date.now();
    let res: Dispatcher.ResponseData;
    try {
      res = await pool.request({
        method: request.method ?? 'POST', path: request.path ?? '/invocations', headers: request.headers, body: requestBody(request.body),
        signal: controller.signal, headersTimeout: request.timeoutMs + 1000, bodyTimeout: 0,
      });
    } catch (err) {
      finish();
      return { ok: false, reason: why(), message: (err as Error).message, sent: true };
    }
    clearTimeout(timer);
    if (request.streamTimeoutMs !== undefined) timer = setTimeout(expire, Math.max(0, request.streamTimeoutMs - (Date.now() - t0)));
    const body = res.body;
    let failed: 'crashed' | 'timeout' | 'aborted' | undefined;
    const chunks = (async function* (): AsyncIterable<Buffer> {
      try {
        for await (const chunk of body) yield chunk as Buffer;
      } catch (err) {
        failed = why();
        throw err;
      } finally {
        finish();
      }
    })();
    return { ok: true, status: res.statusCode, headers: res.headers, body: Buffer.alloc(0), chunks, streamFailure: () => failed };
  }

  /** Ends the buffered calls past their deadline; stops itself when none is in flight. */
  #sweepCalls(): void {
    if (this.#freeSlots.length === this.#calls.length) { // no call in flight
      clearInterval(this.#sweep);
      this.#sweep = undefined;
      return;
    }
    const now = performance.now();
    for (const call of this.#calls) if (call !== undefined && call.deadline <= now) call.end(new Error('timeout'), 'timeout');
  }

  /** Stops the container: SIGTERM, SIGKILL after the grace period. Idempotent. */
  stop(graceMs = this.#options.stopGraceMs ?? DEFAULT_STOP_GRACE_MS): Promise<void> {
    this.#stopping ??= (async () => {
      this.#state = 'stopping';
      this.#stopped.abort();
      this.emit('state', this.#state);
      const child = this.#process;
      if (child !== undefined) await child.stop(graceMs);
      for (const c of this.#inFlight) c.abort(new Error('stopped'));
      for (const c of this.#calls) c?.end(new Error('stopped'), 'crashed');
      await this.#pool?.destroy().catch(() => {});
      this.#pool = undefined;
      this.#ports?.release();
      this.#state = 'stopped';
      this.emit('state', this.#state);
      await new Promise<void>((resolve) => (this.#log === undefined ? resolve() : this.#log.end(resolve)));
    })();
    return this.#stopping;
  }
}
