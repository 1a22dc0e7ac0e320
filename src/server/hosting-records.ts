/**
 * Models, endpoint configs, endpoints and transform jobs: their API operations over the state
 * store, with SageMaker's statuses and transitions; the running itself goes through the runner
 * interface (runners.ts). Records are stored in their Describe shape (times as epoch seconds),
 * plus `Deployed` on an endpoint: the config and models it runs, captured at Create/Update, so a
 * restart can bring it back even if those were deleted since (SageMaker allows that).
 *
 * Endpoint statuses: Creating → InService (runner) | Failed; Updating → InService | Failed;
 * Deleting → gone. Only DeleteEndpoint is allowed on a Failed endpoint; Update needs InService.
 * Transform job statuses: InProgress → Completed | Failed | Stopping → Stopped.
 * With no runner registered, endpoints and transform jobs end Failed with a FailureReason that
 * says hosting (or batch transform) is not available in this build.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { sagemakerArn } from '../container/arn.js';
import type { Logger } from '../core/log.js';
import { validate } from '../core/validate.js';
import { resolveTransformJob } from '../transform/transform-job-spec.js';
import { alreadyExists, couldNotFind, resourceInUse, resourceNotFound, validation } from './api-error.js';
import { encodeNextToken, epochSeconds, listQuery, resourceName, type Body } from './api-input.js';
import { createEndpointConfigSchema, createEndpointSchema, createModelSchema, updateEndpointSchema, updateWeightsSchema } from './hosting-schemas.js';
import { findImageMapping, type ImagesMap } from '../hosting/images-file.js';
import type { LogWriter } from './log-writer.js';
import {
  HOSTING_UNAVAILABLE, TRANSFORM_UNAVAILABLE,
  type EndpointPlan, type EndpointStatusReport, type Runners, type RunningEndpoint, type TransformStatusReport,
} from './runners.js';
import type { ResourceKind, StateStore, StoredResource } from './state-store.js';

type Rec = Record<string, unknown>;

export const endpointLogGroup = (name: string): string => `/aws/sagemaker/Endpoints/${name}`;
export const TRANSFORM_LOG_GROUP = '/aws/sagemaker/TransformJobs';

const ENDPOINT_STATUSES = ['OutOfService', 'Creating', 'Updating', 'SystemUpdating', 'RollingBack', 'InService', 'Deleting', 'Failed', 'UpdateRollbackFailed'] as const;
const TRANSFORM_STATUSES = ['InProgress', 'Completed', 'Failed', 'Stopping', 'Stopped'] as const;

export interface HostingOptions {
  readonly store: StateStore;
  readonly stateDir: string;
  readonly region: string;
  readonly log: Logger;
  readonly logs: LogWriter;
  readonly runners: Runners;
  readonly images?: ImagesMap | undefined;
  readonly imagesOnly: boolean;
}

const nowS = (): number => epochSeconds(Date.now());

/** Drops pipemode's bookkeeping from a stored record. */
function shown(record: Rec): Rec {
  const rest = { ...record };
  delete rest.Deployed;
  return rest;
}

export class Hosting {
  readonly #o: HostingOptions;
  readonly #endpoints = new Map<string, RunningEndpoint>();
  /** The config an endpoint ran before its UpdateEndpoint, put back if the runner rolls back. */
  readonly #beforeUpdate = new Map<string, Rec>();
  readonly #transforms = new Map<string, { stop: AbortController; done: Promise<void> }>();

  constructor(options: HostingOptions) {
    this.#o = options;
  }

  #arn(kind: 'model' | 'endpoint-config' | 'endpoint' | 'transform-job', name: string): string {
    return sagemakerArn(this.#o.region, kind, name);
  }

  #page(kind: ResourceKind, body: Body, key: string, sortKeys: readonly ('Name' | 'CreationTime' | 'Status')[], statuses: readonly string[] | undefined,
    lastModified: boolean, summary: (r: Rec) => Rec): Rec {
    const q = listQuery(kind, body, { sortKeys, ...(statuses !== undefined ? { statuses } : {}), lastModified });
    const page = this.#o.store.list<Rec>(kind, q);
    return { [key]: page.items.map((r) => summary(r.record)), ...(page.more ? { NextToken: encodeNextToken(kind, q.offset + q.limit) } : {}) };
  }

  #set(kind: ResourceKind, name: string, status: string, change: (r: Rec) => Rec): StoredResource<Rec> | undefined {
    return this.#o.store.update<Rec>(kind, name, (cur) => ({ status, record: change(cur.record) }));
  }

  // ---- models ----

  createModel(body: Body): Rec {
    const raw = validate(createModelSchema, body, 'CreateModel request');
    const arn = this.#arn('model', raw.ModelName);
    if (this.#o.imagesOnly) {
      for (const c of [raw.PrimaryContainer, ...(raw.Containers ?? [])]) {
        if (c?.Image !== undefined && (this.#o.images === undefined || findImageMapping(this.#o.images, c.Image, 'serve') === undefined)) {
          throw validation(`Image "${c.Image}" is not in this server's images file (--images-only)`);
        }
      }
    }
    const record = { ...body, ModelArn: arn, CreationTime: nowS() };
    if (!this.#o.store.insert('Model', raw.ModelName, 'Created', Date.now(), record)) throw alreadyExists('model', arn);
    return { ModelArn: arn };
  }

  describeModel(body: Body): Rec {
    const name = resourceName(body, 'ModelName');
    const found = this.#o.store.get<Rec>('Model', name);
    if (found === undefined) throw couldNotFind('model', this.#arn('model', name));
    return shown(found.record);
  }

  listModels(body: Body): Rec {
    return this.#page('Model', body, 'Models', ['Name', 'CreationTime'], undefined, false,
      (r) => ({ ModelName: r.ModelName, ModelArn: r.ModelArn, CreationTime: r.CreationTime }));
  }

  deleteModel(body: Body): Rec {
    const name = resourceName(body, 'ModelName');
    if (!this.#o.store.delete('Model', name)) throw couldNotFind('model', this.#arn('model', name));
    return {};
  }

  // ---- endpoint configs ----

  createEndpointConfig(body: Body): Rec {
    const raw = validate(createEndpointConfigSchema, body, 'CreateEndpointConfig request');
    const arn = this.#arn('endpoint-config', raw.EndpointConfigName);
    const variants = raw.ProductionVariants.map((p) => ({ ...p, InitialVariantWeight: p.InitialVariantWeight ?? 1 }));
    const record = { ...body, ProductionVariants: variants, EndpointConfigArn: arn, CreationTime: nowS() };
    if (!this.#o.store.insert('EndpointConfig', raw.EndpointConfigName, 'Created', Date.now(), record)) throw alreadyExists('endpoint configuration', arn);
    return { EndpointConfigArn: arn };
  }

  describeEndpointConfig(body: Body): Rec {
    const name = resourceName(body, 'EndpointConfigName');
    const found = this.#o.store.get<Rec>('EndpointConfig', name);
    if (found === undefined) throw couldNotFind('endpoint configuration', this.#arn('endpoint-config', name));
    return shown(found.record);
  }

  listEndpointConfigs(body: Body): Rec {
    return this.#page('EndpointConfig', body, 'EndpointConfigs', ['Name', 'CreationTime'], undefined, false,
      (r) => ({ EndpointConfigName: r.EndpointConfigName, EndpointConfigArn: r.EndpointConfigArn, CreationTime: r.CreationTime }));
  }

  deleteEndpointConfig(body: Body): Rec {
    const name = resourceName(body, 'EndpointConfigName');
    if (!this.#o.store.delete('EndpointConfig', name)) throw couldNotFind('endpoint configuration', this.#arn('endpoint-config', name));
    return {};
  }

  // ---- endpoints ----

  /** The config and the models an endpoint would deploy, checked to exist. */
  #deployment(configName: string): { config: Rec; models: Record<string, Rec> } {
    const config = this.#o.store.get<Rec>('EndpointConfig', configName);
    if (config === undefined) throw couldNotFind('endpoint configuration', this.#arn('endpoint-config', configName));
    const models: Record<string, Rec> = {};
    for (const v of config.record.ProductionVariants as Rec[]) {
      const m = v.ModelName as string | undefined;
      if (m === undefined) continue;
      const model = this.#o.store.get<Rec>('Model', m);
      if (model === undefined) throw couldNotFind('model', this.#arn('model', m));
      models[m] = shown(model.record);
    }
    return { config: shown(config.record), models };
  }

  #plan(name: string, record: Rec): EndpointPlan {
    const deployed = record.Deployed as { config: Rec; models: Record<string, Rec> };
    const dir = path.join(this.#o.stateDir, 'endpoints', name);
    fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
    const group = endpointLogGroup(name);
    return {
      endpointName: name, endpointArn: record.EndpointArn as string, config: deployed.config, models: deployed.models, dir,
      output: (stream, line) => this.#o.logs.line(group, stream, line),
    };
  }

  #variants(config: Rec, status: string): Rec[] {
    return (config.ProductionVariants as Rec[]).map((p) => ({
      VariantName: p.VariantName,
      DesiredWeight: p.InitialVariantWeight ?? 1,
      DesiredInstanceCount: p.InitialInstanceCount ?? 1,
      VariantStatus: [{ Status: status, StartTime: nowS() }],
    }));
  }

  #onEndpointStatus(name: string): (r: EndpointStatusReport) => void {
    return (report) => {
      const previous = this.#beforeUpdate.get(name.toLowerCase());
      if (report.status !== 'Updating') this.#beforeUpdate.delete(name.toLowerCase());
      this.#set('Endpoint', name, report.status, (given) => {
        const rec = report.status === 'RollingBack' && previous !== undefined ? { ...given, ...previous } : given;
        const now = nowS();
        const variants = (rec.ProductionVariants as Rec[]).map((v) => {
          const update = report.variants?.find((u) => u.VariantName === v.VariantName) ?? {};
          const merged: Rec = { ...v, ...update };
          if (report.status === 'InService') {
            merged.CurrentWeight ??= v.DesiredWeight;
            merged.CurrentInstanceCount ??= v.DesiredInstanceCount;
            delete merged.VariantStatus;
          }
          return merged;
        });
        const next: Rec = { ...rec, EndpointStatus: report.status, LastModifiedTime: now, ProductionVariants: variants };
        if (report.failureReason !== undefined) next.FailureReason = report.failureReason;
        else if (report.status === 'InService') delete next.FailureReason;
        return next;
      });
      if (report.status === 'Failed') this.#o.log.warn(`endpoint ${name}: Failed: ${report.failureReason ?? ''}`);
    };
  }

  /** Hands an endpoint to the runner, or fails it when there is none. */
  #startEndpoint(name: string, record: Rec): void {
    const runner = this.#o.runners.endpoints;
    const report = this.#onEndpointStatus(name);
    if (runner === undefined) {
      setImmediate(() => report({ status: 'Failed', failureReason: HOSTING_UNAVAILABLE }));
      return;
    }
    try {
      this.#endpoints.set(name.toLowerCase(), runner.start(this.#plan(name, record), report));
    } catch (err) {
      report({ status: 'Failed', failureReason: `ClientError: ${(err as Error).message}` });
    }
  }

  createEndpoint(body: Body): Rec {
    const raw = validate(createEndpointSchema, body, 'CreateEndpoint request');
    const arn = this.#arn('endpoint', raw.EndpointName);
    if (this.#o.store.get('Endpoint', raw.EndpointName) !== undefined) throw alreadyExists('endpoint', arn);
    const deployed = this.#deployment(raw.EndpointConfigName);
    const now = nowS();
    const record: Rec = {
      EndpointName: raw.EndpointName, EndpointArn: arn, EndpointConfigName: raw.EndpointConfigName,
      ProductionVariants: this.#variants(deployed.config, 'Creating'),
      EndpointStatus: 'Creating', CreationTime: now, LastModifiedTime: now, Deployed: deployed,
    };
    if (!this.#o.store.insert('Endpoint', raw.EndpointName, 'Creating', Date.now(), record)) throw alreadyExists('endpoint', arn);
    this.#startEndpoint(raw.EndpointName, record);
    return { EndpointArn: arn };
  }

  #endpoint(name: string): StoredResource<Rec> {
    const found = this.#o.store.get<Rec>('Endpoint', name);
    if (found === undefined) throw couldNotFind('endpoint', this.#arn('endpoint', name));
    return found;
  }

  describeEndpoint(body: Body): Rec {
    return shown(this.#endpoint(resourceName(body, 'EndpointName')).record);
  }

  listEndpoints(body: Body): Rec {
    return this.#page('Endpoint', body, 'Endpoints', ['Name', 'CreationTime', 'Status'], ENDPOINT_STATUSES, true,
      (r) => ({ EndpointName: r.EndpointName, EndpointArn: r.EndpointArn, CreationTime: r.CreationTime, LastModifiedTime: r.LastModifiedTime, EndpointStatus: r.EndpointStatus }));
  }

  updateEndpoint(body: Body): Rec {
    const raw = validate(updateEndpointSchema, body, 'UpdateEndpoint request');
    const found = this.#endpoint(raw.EndpointName);
    if (found.status !== 'InService') throw validation(`Cannot update in-progress endpoint "${found.record.EndpointArn as string}".`);
    const deployed = this.#deployment(raw.EndpointConfigName);
    const running = this.#endpoints.get(raw.EndpointName.toLowerCase());
    const previous = { EndpointConfigName: found.record.EndpointConfigName, Deployed: found.record.Deployed, ProductionVariants: found.record.ProductionVariants };
    const updated = this.#set('Endpoint', raw.EndpointName, 'Updating', (rec) => ({
      ...rec, EndpointStatus: 'Updating', EndpointConfigName: raw.EndpointConfigName, LastModifiedTime: nowS(), Deployed: deployed,
      ProductionVariants: this.#variants(deployed.config, 'Updating'),
    }));
    this.#beforeUpdate.set(raw.EndpointName.toLowerCase(), previous);
    const report = this.#onEndpointStatus(raw.EndpointName);
    if (running === undefined || updated === undefined) setImmediate(() => report({ status: 'Failed', failureReason: HOSTING_UNAVAILABLE }));
    else running.update(this.#plan(raw.EndpointName, updated.record));
    return { EndpointArn: found.record.EndpointArn };
  }

  updateEndpointWeightsAndCapacities(body: Body): Rec {
    const raw = validate(updateWeightsSchema, body, 'UpdateEndpointWeightsAndCapacities request');
    const found = this.#endpoint(raw.EndpointName);
    if (found.status !== 'InService') throw validation(`Cannot update in-progress endpoint "${found.record.EndpointArn as string}".`);
    const variants = found.record.ProductionVariants as Rec[];
    for (const d of raw.DesiredWeightsAndCapacities) {
      if (!variants.some((v) => v.VariantName === d.VariantName)) {
        throw validation(`The variant name(s) [${d.VariantName}] is/are not present in the endpoint "${found.record.EndpointArn as string}".`);
      }
    }
    this.#set('Endpoint', raw.EndpointName, 'Updating', (rec) => ({
      ...rec, EndpointStatus: 'Updating', LastModifiedTime: nowS(),
      ProductionVariants: (rec.ProductionVariants as Rec[]).map((v) => {
        const d = raw.DesiredWeightsAndCapacities.find((x) => x.VariantName === v.VariantName);
        return d === undefined ? v : {
          ...v, ...(d.DesiredWeight !== undefined ? { DesiredWeight: d.DesiredWeight } : {}),
          ...(d.DesiredInstanceCount !== undefined ? { DesiredInstanceCount: d.DesiredInstanceCount } : {}),
        };
      }),
    }));
    const running = this.#endpoints.get(raw.EndpointName.toLowerCase());
    const report = this.#onEndpointStatus(raw.EndpointName);
    if (running === undefined) setImmediate(() => report({ status: 'Failed', failureReason: HOSTING_UNAVAILABLE }));
    else running.updateWeightsAndCapacities(raw.DesiredWeightsAndCapacities);
    return { EndpointArn: found.record.EndpointArn };
  }

  deleteEndpoint(body: Body): Rec {
    const name = resourceName(body, 'EndpointName');
    const found = this.#endpoint(name);
    if (found.status === 'Deleting') return {};
    const running = this.#endpoints.get(name.toLowerCase());
    this.#endpoints.delete(name.toLowerCase());
    if (running === undefined) {
      this.#o.store.delete('Endpoint', name);
      return {};
    }
    this.#set('Endpoint', name, 'Deleting', (rec) => ({ ...rec, EndpointStatus: 'Deleting', LastModifiedTime: nowS() }));
    void running.stop().catch((err: unknown) => this.#o.log.warn(`endpoint ${name}: stopping failed: ${(err as Error).message}`))
      .finally(() => this.#o.store.delete('Endpoint', name));
    return {};
  }

  /** The Runtime API for `/endpoints/<name>/…`: the running endpoint's handler, or undefined if none serves it. */
  runtimeFor(name: string): ((req: IncomingMessage, res: ServerResponse, body: Buffer) => void) | undefined {
    const running = this.#endpoints.get(name.toLowerCase());
    return running === undefined ? undefined : (req, res, body) => running.invoke(req, res, body);
  }

  endpointMetrics(name: string): ReturnType<NonNullable<RunningEndpoint['metrics']>> | undefined {
    return this.#endpoints.get(name.toLowerCase())?.metrics?.();
  }

  // ---- transform jobs ----

  createTransformJob(body: Body): Rec {
    const spec = resolveTransformJob(body, 'CreateTransformJob request');
    const name = spec.name;
    const arn = this.#arn('transform-job', name);
    if (this.#o.store.get('TransformJob', name) !== undefined) {
      throw resourceInUse(`Transform job names must be unique within an AWS account and region, and a transform job with this name already exists (${arn})`);
    }
    const model = this.#o.store.get<Rec>('Model', body.ModelName as string);
    if (model === undefined) throw couldNotFind('model', this.#arn('model', body.ModelName as string));
    const now = nowS();
    const record: Rec = {
      ...body, TransformJobArn: arn, TransformJobStatus: 'InProgress', CreationTime: now, LastModifiedTime: now,
      TransformResources: body.TransformResources ?? { InstanceType: 'local', InstanceCount: 1 },
    };
    if (!this.#o.store.insert('TransformJob', name, 'InProgress', Date.now(), record)) {
      throw resourceInUse(`Transform job names must be unique within an AWS account and region, and a transform job with this name already exists (${arn})`);
    }
    this.#runTransform(name, record, shown(model.record));
    return { TransformJobArn: arn };
  }

  #onTransformStatus(name: string): (r: TransformStatusReport) => void {
    return (report) => {
      this.#set('TransformJob', name, report.status, (rec) => {
        const now = nowS();
        const next: Rec = { ...rec, TransformJobStatus: report.status, LastModifiedTime: now };
        if (report.status === 'InProgress') next.TransformStartTime ??= now;
        else next.TransformEndTime = now;
        if (report.failureReason !== undefined) next.FailureReason = report.failureReason;
        return next;
      });
    };
  }

  #runTransform(name: string, record: Rec, model: Rec): void {
    const runner = this.#o.runners.transforms;
    const report = this.#onTransformStatus(name);
    if (runner === undefined) {
      setImmediate(() => report({ status: 'Failed', failureReason: TRANSFORM_UNAVAILABLE }));
      return;
    }
    const stop = new AbortController();
    const dir = path.join(this.#o.stateDir, 'transform-jobs', name);
    fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
    const plan = {
      transformJobName: name, request: shown(record), model, dir, signal: stop.signal,
      output: (stream: string, line: string) => this.#o.logs.line(TRANSFORM_LOG_GROUP, `${name}/${stream}`, line),
    };
    const done = runner.run(plan, report)
      .then((final) => report(final), (err: unknown) => report({ status: 'Failed', failureReason: `InternalServerError: ${(err as Error).message}` }))
      .finally(() => {
        this.#o.logs.flush();
        this.#transforms.delete(name.toLowerCase());
      });
    this.#transforms.set(name.toLowerCase(), { stop, done });
  }

  describeTransformJob(body: Body): Rec {
    const found = this.#o.store.get<Rec>('TransformJob', resourceName(body, 'TransformJobName'));
    if (found === undefined) throw resourceNotFound();
    return shown(found.record);
  }

  listTransformJobs(body: Body): Rec {
    return this.#page('TransformJob', body, 'TransformJobSummaries', ['Name', 'CreationTime', 'Status'], TRANSFORM_STATUSES, true, (r) => ({
      TransformJobName: r.TransformJobName, TransformJobArn: r.TransformJobArn, CreationTime: r.CreationTime,
      ...(r.TransformEndTime !== undefined ? { TransformEndTime: r.TransformEndTime } : {}),
      LastModifiedTime: r.LastModifiedTime, TransformJobStatus: r.TransformJobStatus,
      ...(r.FailureReason !== undefined ? { FailureReason: r.FailureReason } : {}),
    }));
  }

  stopTransformJob(body: Body): Rec {
    const name = resourceName(body, 'TransformJobName');
    const found = this.#o.store.get<Rec>('TransformJob', name);
    if (found === undefined) throw resourceNotFound();
    const running = this.#transforms.get(name.toLowerCase());
    if (found.status !== 'InProgress' || running === undefined) {
      throw validation(`The request was rejected because the transform job is in status ${found.status}.`);
    }
    this.#set('TransformJob', name, 'Stopping', (rec) => ({ ...rec, TransformJobStatus: 'Stopping', LastModifiedTime: nowS() }));
    running.stop.abort();
    return {};
  }

  // ---- restart and shutdown ----

  /** At start: endpoints that were serving come back through the runner; transforms that were running are Failed "interrupted". */
  recover(): void {
    const { store, log } = this.#o;
    for (const r of store.withStatus<Rec>('Endpoint', ['Deleting'])) store.delete('Endpoint', r.name);
    for (const r of store.withStatus<Rec>('Endpoint', ['Creating', 'Updating', 'InService', 'SystemUpdating', 'RollingBack'])) {
      log.info(`endpoint ${r.name}: ${r.status} when the server stopped: starting it again`);
      const updated = this.#set('Endpoint', r.name, 'Creating', (rec) => ({
        ...rec, EndpointStatus: 'Creating', LastModifiedTime: nowS(),
        ProductionVariants: this.#variants((rec.Deployed as { config: Rec }).config, 'Creating'),
      }));
      if (updated !== undefined) this.#startEndpoint(r.name, updated.record);
    }
    for (const r of store.withStatus<Rec>('TransformJob', ['InProgress', 'Stopping'])) {
      this.#set('TransformJob', r.name, 'Failed', (rec) => ({
        ...rec, TransformJobStatus: 'Failed', TransformEndTime: nowS(), LastModifiedTime: nowS(),
        FailureReason: `interrupted: the server stopped while the job was ${r.status}`,
      }));
      log.warn(`transform job ${r.name}: marked Failed: it was ${r.status} when the server stopped`);
    }
  }

  /** At SIGTERM: stops transforms (recorded Failed "interrupted") and endpoints' containers (records stay InService, to come back at the next start). */
  async shutdown(): Promise<void> {
    const transforms = [...this.#transforms.entries()];
    for (const [, t] of transforms) t.stop.abort();
    await Promise.all([
      ...[...this.#endpoints.values()].map((e) => e.stop().catch(() => {})),
      ...transforms.map(([, t]) => t.done),
    ]);
    for (const [name] of transforms) {
      this.#set('TransformJob', name, 'Failed', (rec) => ({
        ...rec, TransformJobStatus: 'Failed', TransformEndTime: nowS(), LastModifiedTime: nowS(),
        FailureReason: 'interrupted: the server was stopped while the job ran',
      }));
    }
    this.#endpoints.clear();
  }
}
