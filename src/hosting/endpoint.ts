/**
 * A real-time endpoint: its models fetched once each, its variants' instances started and kept in
 * service, and the choice of where each request goes.
 *
 * - Start: every model's data is prepared (within the variant's ModelDataDownloadTimeoutInSeconds)
 *   into `<workDir>/models/<model>`, then every instance starts at once, each in
 *   `<workDir>/instances/<variant>/instance-<i>` with its output in `<workDir>/logs/`. The endpoint
 *   is InService when all are healthy; any failure stops what started and rejects with
 *   EndpointFailedError (the endpoint is Failed, the reason in the message).
 * - Routing: `TargetVariant` picks a variant by name; otherwise a variant is drawn with
 *   probability weight / Σ weights among variants that have an instance in service. Within the
 *   variant, LEAST_OUTSTANDING_REQUESTS picks the in-service instance with the fewest requests in
 *   flight (ties broken round-robin), RANDOM any in-service one. An instance that is restarting
 *   or failing its health checks is never picked.
 * - Metrics per variant and instance, in CloudWatch's names: Invocations, Invocation4XXErrors,
 *   Invocation5XXErrors, ModelLatency and OverheadLatency (µs), instance restarts; `prometheus()`
 *   renders them with InvocationsPerInstance per variant.
 */
import fs from 'node:fs';
import path from 'node:path';
import crypto from 'node:crypto';
import { EndpointFailedError } from '../core/errors.js';
import { Prng } from '../plan/prng.js';
import type { Stores } from '../storage/stores.js';
import type { EndpointSpec, VariantSpec } from './endpoint-spec.js';
import { commandForImage, type ImagesMap } from './images-file.js';
import { prepareModelData } from './model-data.js';
import { ModelInstance } from './model-instance.js';

export type EndpointStatus = 'Creating' | 'InService' | 'Failed' | 'Deleting' | 'OutOfService';

export interface InstanceMetrics {
  invocations: number;
  errors4xx: number;
  errors5xx: number;
  modelLatencyUs: number;
  overheadLatencyUs: number;
  latencyCount: number;
}

export interface Variant {
  readonly spec: VariantSpec;
  readonly name: string;
  readonly instances: readonly ModelInstance[];
  readonly metrics: ReadonlyMap<ModelInstance, InstanceMetrics>;
}

export interface StartEndpointOptions {
  readonly stores: Stores;
  readonly images: ImagesMap;
  /** Folder for models, instances and logs (created). */
  readonly workDir: string;
  /** Where models are fetched (each once; an existing one is reused). @default `<workDir>/models` */
  readonly modelsDir?: string | undefined;
  /** Called for every answered invocation with its status and its time from arrival to answer (µs). */
  readonly onInvocation?: ((status: number, latencyUs: number) => void) | undefined;
  readonly onLine?: ((label: string, line: string) => void) | undefined;
  /** Overrides every variant's startup health-check timeout (pipemode extension, for quick failures). */
  readonly startupTimeoutS?: number | undefined;
  readonly stopGraceMs?: number | undefined;
  readonly namespace?: boolean | 'auto' | undefined;
  readonly signal?: AbortSignal | undefined;
  /** `/ping` checks of instances in service, this far apart (model-instance.ts; 0: none). @default 5000 */
  readonly healthCheckIntervalMs?: number | undefined;
  /** Containers see pipemode's whole environment, AWS credentials included. @default true */
  readonly inheritEnvironment?: boolean | undefined;
}

const DEFAULT_DOWNLOAD_TIMEOUT_S = 3600;

function safeName(name: string): string {
  // names are validated (letters, digits, hyphens), so they never leave their folder
  if (!/^[a-zA-Z0-9-]+$/.test(name)) throw new EndpointFailedError(`unexpected name "${name}"`);
  return name;
}

function newMetrics(): InstanceMetrics {
  return { invocations: 0, errors4xx: 0, errors5xx: 0, modelLatencyUs: 0, overheadLatencyUs: 0, latencyCount: 0 };
}

export class Endpoint {
  readonly name: string;
  readonly spec: EndpointSpec;
  readonly variants: readonly Variant[];
  #status: EndpointStatus = 'InService';
  #rr = 0;
  /** Routing draws need no reproducibility: seeded from the OS per endpoint. */
  readonly #prng = new Prng(crypto.randomBytes(8).readBigUInt64BE(), 0);

  readonly #onInvocation: ((status: number, latencyUs: number) => void) | undefined;

  private constructor(spec: EndpointSpec, variants: Variant[], onInvocation?: (status: number, latencyUs: number) => void) {
    this.name = spec.name;
    this.spec = spec;
    this.variants = variants;
    this.#onInvocation = onInvocation;
  }

  get status(): EndpointStatus {
    return this.#status;
  }

  /** Prepares the models and starts every instance; resolves when all are healthy. */
  static async start(spec: EndpointSpec, options: StartEndpointOptions): Promise<Endpoint> {
    const work = path.resolve(options.workDir);
    fs.mkdirSync(work, { recursive: true });
    const modelDirs = new Map<string, string | undefined>();
    for (const variant of spec.variants) {
      const model = variant.model;
      if (modelDirs.has(model.name)) continue;
      if (model.modelData === undefined) {
        modelDirs.set(model.name, undefined);
        continue;
      }
      const dir = path.join(options.modelsDir !== undefined ? path.resolve(options.modelsDir) : path.join(work, 'models'), safeName(model.name));
      const timeoutS = variant.downloadTimeoutS ?? DEFAULT_DOWNLOAD_TIMEOUT_S;
      const signal = AbortSignal.any([AbortSignal.timeout(timeoutS * 1000), ...(options.signal !== undefined ? [options.signal] : [])]);
      try {
        await prepareModelData(model.modelData, dir, { stores: options.stores, signal });
      } catch (err) {
        const why = signal.aborted && options.signal?.aborted !== true ? `not fetched within ${timeoutS} s (ModelDataDownloadTimeoutInSeconds)` : (err as Error).message;
        throw new EndpointFailedError(`endpoint ${spec.name}: model ${model.name}: ${why}`, { endpoint: spec.name }, { cause: err });
      }
      modelDirs.set(model.name, dir);
    }
    const started: ModelInstance[] = [];
    const variants: Variant[] = [];
    const starts: Promise<void>[] = [];
    for (const variant of spec.variants) {
      const command = commandForImage(options.images, variant.model.image, 'serve', `model ${variant.model.name} Image`);
      const instances: ModelInstance[] = [];
      const metrics = new Map<ModelInstance, InstanceMetrics>();
      variants.push({ spec: variant, name: variant.name, instances, metrics });
      for (let i = 1; i <= variant.instanceCount; i++) {
        const label = `${variant.name}/instance-${i}`;
        const startupS = options.startupTimeoutS ?? variant.startupTimeoutS;
        starts.push(ModelInstance.start({
          label,
          baseDir: path.join(work, 'instances', safeName(variant.name), `instance-${i}`),
          modelDir: modelDirs.get(variant.model.name),
          argv: command.argv,
          environment: { ...command.env, ...variant.model.environment },
          startupTimeoutMs: startupS !== undefined ? startupS * 1000 : undefined,
          stopGraceMs: options.stopGraceMs,
          namespace: options.namespace,
          healthCheckIntervalMs: options.healthCheckIntervalMs,
          inheritEnvironment: options.inheritEnvironment,
          logFile: path.join(work, 'logs', `${safeName(variant.name)}-instance-${i}.log`),
          onLine: (line) => options.onLine?.(label, line),
        }).then((instance) => {
          started.push(instance);
          instances[i - 1] = instance;
          metrics.set(instance, newMetrics());
        }));
      }
    }
    const results = await Promise.allSettled(starts);
    const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed !== undefined) {
      await Promise.all(started.map((s) => s.stop()));
      const err = failed.reason as Error;
      throw new EndpointFailedError(`endpoint ${spec.name} Failed: ${err.message}`, { endpoint: spec.name }, { cause: err });
    }
    return new Endpoint(spec, variants, options.onInvocation);
  }

  /** The variant a request goes to: the named one, or a weighted draw among those in service. */
  pickVariant(target?: string): Variant | undefined {
    if (target !== undefined) return this.variants.find((v) => v.name === target);
    const live = this.variants.filter((v) => v.spec.weight > 0 && v.instances.some((i) => i.state === 'InService'));
    const pool = live.length > 0 ? live : this.variants.filter((v) => v.spec.weight > 0);
    const total = pool.reduce((s, v) => s + v.spec.weight, 0);
    let x = (this.#prng.nextUint32() / 2 ** 32) * total;
    for (const v of pool) {
      x -= v.spec.weight;
      if (x < 0) return v;
    }
    return pool[pool.length - 1];
  }

  /** The in-service instance of `variant` a request goes to, or undefined when none is. */
  pickInstance(variant: Variant): ModelInstance | undefined {
    const list = variant.instances;
    const n = list.length;
    if (variant.spec.routing === 'RANDOM') {
      const live = list.filter((i) => i.state === 'InService');
      return live.length === 0 ? undefined : live[this.#prng.below(live.length)];
    }
    let best: ModelInstance | undefined;
    const start = this.#rr++ % n;
    for (let k = 0; k < n; k++) {
      const inst = list[(start + k) % n] as ModelInstance;
      if (inst.state !== 'InService') continue;
      if (best === undefined || inst.outstanding < best.outstanding) best = inst;
    }
    return best;
  }

  /** Records one answered invocation. */
  record(variant: Variant, instance: ModelInstance, status: number, modelUs: number, overheadUs: number): void {
    const m = variant.metrics.get(instance);
    if (m === undefined) return;
    m.invocations++;
    if (status >= 400 && status < 500) m.errors4xx++;
    else if (status >= 500 || status === 0) m.errors5xx++;
    m.modelLatencyUs += modelUs;
    m.overheadLatencyUs += overheadUs;
    m.latencyCount++;
    this.#onInvocation?.(status, modelUs + overheadUs);
  }

  /** The metrics in the Prometheus text format. */
  prometheus(): string {
    const lines: string[] = [];
    const family = (name: string, type: string, help: string, rows: [string, number][]): void => {
      lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);
      for (const [labels, value] of rows) lines.push(`${name}{${labels}} ${value}`);
    };
    const per = (f: (m: InstanceMetrics, i: ModelInstance) => number): [string, number][] =>
      this.variants.flatMap((v) => v.instances.map((i): [string, number] => [
        `endpoint="${this.name}",variant="${v.name}",instance="${i.label.split('/')[1] ?? ''}"`, f(v.metrics.get(i) ?? newMetrics(), i)]));
    family('Invocations', 'counter', 'requests answered by the model (any status)', per((m) => m.invocations));
    family('Invocation4XXErrors', 'counter', 'requests the model answered with 4xx', per((m) => m.errors4xx));
    family('Invocation5XXErrors', 'counter', 'requests the model answered with 5xx, or did not answer', per((m) => m.errors5xx));
    family('ModelLatency_sum', 'counter', 'microseconds spent waiting for the model', per((m) => m.modelLatencyUs));
    family('ModelLatency_count', 'counter', 'requests measured', per((m) => m.latencyCount));
    family('OverheadLatency_sum', 'counter', 'microseconds added by pipemode', per((m) => m.overheadLatencyUs));
    family('OverheadLatency_count', 'counter', 'requests measured', per((m) => m.latencyCount));
    family('InstanceRestarts', 'counter', 'times the container was restarted after exiting', per((_m, i) => i.restarts));
    family('InstanceInService', 'gauge', '1 while the instance answers /ping and takes requests', per((_m, i) => (i.state === 'InService' ? 1 : 0)));
    family('InvocationsPerInstance', 'gauge', 'invocations of the variant divided by its instances',
      this.variants.map((v) => [`endpoint="${this.name}",variant="${v.name}"`,
        [...v.metrics.values()].reduce((s, m) => s + m.invocations, 0) / Math.max(1, v.instances.length)]));
    return `${lines.join('\n')}\n`;
  }

  /** One status line: per variant, instances in service, invocations and mean model latency. */
  statusLine(): string {
    return this.variants.map((v) => {
      const ms = [...v.metrics.values()];
      const inv = ms.reduce((s, m) => s + m.invocations, 0);
      const n = ms.reduce((s, m) => s + m.latencyCount, 0);
      const lat = n === 0 ? 0 : ms.reduce((s, m) => s + m.modelLatencyUs, 0) / n / 1000;
      const err = ms.reduce((s, m) => s + m.errors4xx + m.errors5xx, 0);
      const up = v.instances.filter((i) => i.state === 'InService').length;
      const restarts = v.instances.reduce((s, i) => s + i.restarts, 0);
      return `${v.name}: ${up}/${v.instances.length} in service, ${inv} invocations, ${err} errors, model ${lat.toFixed(1)} ms avg, ${restarts} restarts`;
    }).join('; ');
  }

  /** Stops every instance (SIGTERM, SIGKILL after the grace period). */
  async stop(): Promise<void> {
    this.#status = 'Deleting';
    await Promise.all(this.variants.flatMap((v) => v.instances.map((i) => i.stop())));
    this.#status = 'OutOfService';
  }
}
