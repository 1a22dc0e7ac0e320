/**
 * The server's endpoint runner: endpoints run through exactly the code `pipemode serve` runs —
 * the stored CreateModel and CreateEndpointConfig records become an ENDPOINT document
 * (hosting/endpoint-spec.ts), `Endpoint.start` fetches the models and starts the instances
 * (hosting/endpoint.ts, model-instance.ts), and the Runtime API of hosting/runtime-front.ts answers
 * `/endpoints/<name>/invocations…` (its `serve`, since the API server has read and verified the
 * request already).
 *
 * - Create (and the start after a server restart): Creating → InService, or Failed with the
 *   reason of the failure (the container's last output when it never became healthy), capped at
 *   FailureReason's 1024 characters. Images are resolved before any model is fetched, so an
 *   unmapped image fails at once.
 * - Update and UpdateEndpointWeightsAndCapacities: blue/green, as SageMaker does — the new
 *   deployment (new config, or the same one with the desired weights and instance counts) starts
 *   beside the old one, which keeps answering; once the new one is healthy, requests go to it and
 *   the old one is stopped (InService). A new deployment that fails is stopped and the old one
 *   stays (RollingBack, then InService with the FailureReason).
 * - Each deployment has its own folder `<dir>/deploy-<n>` (instances, logs); models are fetched
 *   once per endpoint into `<dir>/models` and reused by later deployments and restarts.
 * - Until a deployment is InService, invocations get 429 ModelNotReadyException.
 * - Metrics for the dashboard: requests/s and p50/p99 of the time from a request's arrival to its
 *   answer, in 5-second buckets over the last 10 minutes.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from '../core/log.js';
import { newRequestId, writeRuntimeError } from '../http/aws-error-response.js';
import { Endpoint } from '../hosting/endpoint.js';
import { resolveEndpoint, type EndpointSpec } from '../hosting/endpoint-spec.js';
import { commandForImage, type ImagesMap } from '../hosting/images-file.js';
import { createRuntimeFront, type RuntimeFront } from '../hosting/runtime-front.js';
import type { Stores } from '../storage/stores.js';
import type { EndpointMetrics, EndpointPlan, EndpointRunner, EndpointStatusReport, RunningEndpoint } from './runners.js';

type Rec = Record<string, unknown>;

export interface EndpointRunnerOptions {
  readonly images: ImagesMap;
  readonly stores: Stores;
  readonly log: Logger;
  readonly region: string;
  /** SIGTERM → SIGKILL for the containers. @default 30 s (SageMaker's) */
  readonly stopGraceMs?: number | undefined;
  /** How long requests in flight may finish when a deployment is replaced or deleted. @default 30 s */
  readonly drainMs?: number | undefined;
}

const MAX_FAILURE_REASON = 1024;
const BUCKET_MS = 5000;
const WINDOW_MS = 10 * 60_000;
const MAX_SAMPLES_PER_BUCKET = 20_000;

/** Record fields that are pipemode's or the API's output, not part of the Create request. */
const MODEL_OUTPUT_FIELDS = ['ModelArn', 'CreationTime', 'DeploymentRecommendation'];
const CONFIG_OUTPUT_FIELDS = ['EndpointConfigArn', 'CreationTime'];

function without(record: Readonly<Rec>, keys: readonly string[]): Rec {
  const out = { ...record };
  for (const k of keys) delete out[k];
  return out;
}

/** The ENDPOINT document a plan stands for (what `pipemode serve ENDPOINT.json` reads). */
export function endpointDocument(plan: EndpointPlan): Rec {
  return {
    EndpointName: plan.endpointName,
    Models: Object.values(plan.models).map((m) => without(m, MODEL_OUTPUT_FIELDS)),
    EndpointConfig: without(plan.config, CONFIG_OUTPUT_FIELDS),
  };
}

function reason(err: unknown): string {
  const text = `ClientError: ${(err as Error).message}`;
  return text.length <= MAX_FAILURE_REASON ? text : `${text.slice(0, MAX_FAILURE_REASON - 1)}…`;
}

/** Rolling request counts and latencies, bucketed. */
class LatencyWindow {
  readonly #buckets = new Map<number, number[]>();

  add(latencyUs: number): void {
    const t = Math.floor(Date.now() / BUCKET_MS) * BUCKET_MS;
    let b = this.#buckets.get(t);
    if (b === undefined) {
      b = [];
      this.#buckets.set(t, b);
      for (const k of this.#buckets.keys()) if (k < t - WINDOW_MS) this.#buckets.delete(k);
    }
    if (b.length < MAX_SAMPLES_PER_BUCKET) b.push(latencyUs);
  }

  points(): EndpointMetrics['points'] {
    const now = Date.now();
    const out: { t: number; requests: number; p50Ms: number; p99Ms: number }[] = [];
    for (const [t, samples] of [...this.#buckets.entries()].sort((a, b) => a[0] - b[0])) {
      if (t < now - WINDOW_MS) continue;
      const sorted = [...samples].sort((a, b) => a - b);
      const q = (p: number): number => (sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))] ?? 0) / 1000;
      const span = Math.max(1, Math.min(BUCKET_MS, now - t)) / 1000;
      out.push({ t: t / 1000, requests: samples.length / span, p50Ms: q(0.5), p99Ms: q(0.99) });
    }
    return out;
  }
}

/** The ProductionVariants state of a running deployment, for the record. */
function variantState(spec: EndpointSpec): Rec[] {
  const now = Date.now() / 1000;
  return spec.variants.map((v) => ({
    VariantName: v.name,
    CurrentWeight: v.weight, DesiredWeight: v.weight,
    CurrentInstanceCount: v.instanceCount, DesiredInstanceCount: v.instanceCount,
    DeployedImages: [{ SpecifiedImage: v.model.image, ResolvedImage: v.model.image, ResolutionTime: now }],
  }));
}

/** The spec with the desired weights and instance counts applied. */
function withCapacities(spec: EndpointSpec, desired: Parameters<RunningEndpoint['updateWeightsAndCapacities']>[0]): EndpointSpec {
  return Object.freeze({
    ...spec,
    variants: Object.freeze(spec.variants.map((v) => {
      const d = desired.find((x) => x.VariantName === v.name);
      return d === undefined ? v : Object.freeze({ ...v, weight: d.DesiredWeight ?? v.weight, instanceCount: d.DesiredInstanceCount ?? v.instanceCount });
    })),
  });
}

class ServerEndpoint implements RunningEndpoint {
  readonly #o: EndpointRunnerOptions;
  readonly #onStatus: (report: EndpointStatusReport) => void;
  readonly #live = new Map<string, Endpoint>();
  readonly #front: RuntimeFront;
  readonly #window = new LatencyWindow();
  readonly #stop = new AbortController();
  #plan: EndpointPlan;
  #current: Endpoint | undefined;
  #generation = 0;
  /** The deployment being started or replaced; deployments run one after another. */
  #work: Promise<void> = Promise.resolve();

  constructor(plan: EndpointPlan, onStatus: (report: EndpointStatusReport) => void, options: EndpointRunnerOptions) {
    this.#o = options;
    this.#plan = plan;
    this.#onStatus = onStatus;
    this.#front = createRuntimeFront({ endpoints: this.#live, stores: options.stores, region: options.region, logger: options.log });
  }

  /** Resolves the plan into a spec (errors are the endpoint's FailureReason). */
  #spec(plan: EndpointPlan): EndpointSpec {
    const spec = resolveEndpoint(endpointDocument(plan), `endpoint ${plan.endpointName}`);
    for (const v of spec.variants) commandForImage(this.#o.images, v.model.image, 'serve', `model ${v.model.name} PrimaryContainer.Image`);
    return spec;
  }

  async #deploy(spec: EndpointSpec): Promise<Endpoint> {
    const dir = path.join(this.#plan.dir, `deploy-${++this.#generation}`);
    fs.rmSync(dir, { recursive: true, force: true });
    return Endpoint.start(spec, {
      stores: this.#o.stores, images: this.#o.images, workDir: dir, modelsDir: path.join(this.#plan.dir, 'models'),
      onLine: (label, line) => this.#plan.output(label, line),
      onInvocation: (_status, us) => this.#window.add(us),
      stopGraceMs: this.#o.stopGraceMs, signal: this.#stop.signal,
    });
  }

  /** Makes `next` the deployment that answers, then stops the one before it (after its requests drain). */
  async #switchTo(next: Endpoint): Promise<void> {
    const previous = this.#current;
    this.#current = next;
    this.#live.clear();
    this.#live.set(next.name, next);
    if (previous !== undefined) {
      const drainMs = this.#o.drainMs ?? 30_000;
      await Promise.race([this.#front.idle(), new Promise((r) => setTimeout(r, drainMs).unref())]);
      await previous.stop();
    }
  }

  #run(what: (previous: Endpoint | undefined) => Promise<EndpointSpec>, failed: (err: unknown) => EndpointStatusReport): void {
    this.#work = this.#work.then(async () => {
      if (this.#stop.signal.aborted) return;
      let spec: EndpointSpec;
      let next: Endpoint;
      try {
        spec = await what(this.#current);
        next = await this.#deploy(spec);
      } catch (err) {
        if (!this.#stop.signal.aborted) this.#onStatus(failed(err));
        return;
      }
      if (this.#stop.signal.aborted) {
        await next.stop();
        return;
      }
      await this.#switchTo(next);
      this.#onStatus({ status: 'InService', variants: variantState(spec) });
    });
  }

  /** Creating → InService | Failed. */
  begin(): void {
    this.#run(() => Promise.resolve(this.#spec(this.#plan)), (err) => ({ status: 'Failed', failureReason: reason(err) }));
  }

  /** The failure of a new deployment while the old one keeps serving: RollingBack, then InService with the reason. */
  #rollback(err: unknown): EndpointStatusReport {
    if (this.#current === undefined) return { status: 'Failed', failureReason: reason(err) };
    this.#onStatus({ status: 'RollingBack', failureReason: reason(err) });
    return { status: 'InService', failureReason: reason(err), variants: variantState(this.#current.spec) };
  }

  update(plan: EndpointPlan): void {
    this.#run(() => {
      this.#plan = plan;
      return Promise.resolve(this.#spec(plan));
    }, (err) => this.#rollback(err));
  }

  updateWeightsAndCapacities(desired: Parameters<RunningEndpoint['updateWeightsAndCapacities']>[0]): void {
    this.#run((previous) => Promise.resolve(withCapacities(previous?.spec ?? this.#spec(this.#plan), desired)), (err) => this.#rollback(err));
  }

  async stop(): Promise<void> {
    this.#stop.abort();
    await this.#work;
    const drainMs = this.#o.drainMs ?? 30_000;
    await Promise.race([this.#front.idle(), new Promise((r) => setTimeout(r, drainMs).unref())]);
    const current = this.#current;
    this.#current = undefined;
    this.#live.clear();
    await current?.stop();
  }

  invoke(req: IncomingMessage, res: ServerResponse, body: Buffer): void {
    if (this.#current === undefined) {
      writeRuntimeError(res, 'ModelNotReadyException', `Endpoint ${this.#plan.endpointName} is not in service yet: its containers are starting.`, { requestId: newRequestId() });
      return;
    }
    this.#front.serve(req, res, body);
  }

  metrics(): EndpointMetrics {
    return { points: this.#window.points() };
  }
}

/** The EndpointRunner of `pipemode server`. */
export function createEndpointRunner(options: EndpointRunnerOptions): EndpointRunner {
  return {
    start(plan, onStatus): RunningEndpoint {
      const running = new ServerEndpoint(plan, onStatus, options);
      running.begin();
      return running;
    },
  };
}
