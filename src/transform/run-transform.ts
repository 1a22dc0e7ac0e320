/**
 * A batch transform job run here, in named steps with one typed outcome:
 *
 * 1. list the input files (transform-input.ts) and deal them to instances (instance-deal.ts): all
 *    `InstanceCount` instances in this process, or the one of `--instance-rank/--instance-count`;
 * 2. fetch the model's data once (hosting/model-data.ts) and start each instance's container
 *    (hosting/model-instance.ts) with the image's command (`serve`), the model's Environment, the
 *    job's Environment and the batch variables (`batchEnvironment`);
 * 3. ask each container `GET /execution-parameters` once (404 or no JSON: none) and settle its
 *    parameters (request → container → defaults), logged as SageMaker's job log line;
 * 4. transform each instance's files (transform-file.ts), up to MaxConcurrentTransforms files and
 *    requests at once per instance; a failed file does not stop the others;
 * 5. stop the containers and write the record.
 *
 * The record (`transform.json` in the job folder, replaced atomically at every change, read by
 * `pipemode describe`) is shaped like DescribeTransformJob: TransformJobStatus InProgress →
 * Completed | Failed | Stopped, FailureReason (at most 1024 characters, naming the failed files),
 * CreationTime, TransformStartTime, TransformEndTime, the request's fields; plus pipemode's own:
 * the parameters each instance ran with and where they came from, and one entry per input file
 * (status, output, records, bytes, retries, failure).
 *
 * Exit status: 0 Completed; 11 Stopped; 14 Failed because the model failed files
 * (ModelInvocationError); a Failed job whose files failed for other reasons (data, store) exits
 * with the first such error's status; a job that could not start (listing, model data, containers)
 * exits with its error's.
 */
import fs from 'node:fs';
import path from 'node:path';
import { sagemakerArn } from '../container/arn.js';
import { EXIT } from '../core/exit-status.js';
import { AbortedError, ConfigError, InternalError, ModelInvocationError, isPipemodeError, type PipemodeError } from '../core/errors.js';
import type { Logger } from '../core/log.js';
import { commandForImage, type ImagesMap } from '../hosting/images-file.js';
import { prepareModelData } from '../hosting/model-data.js';
import { DEFAULT_STARTUP_TIMEOUT_S, ModelInstance } from '../hosting/model-instance.js';
import type { ObjectWriter } from '../storage/object-writer.js';
import { DEFAULT_RETRY_POLICY, type RetryPolicy } from '../storage/retry.js';
import type { Stores } from '../storage/stores.js';
import { dealFiles, filesForInstance } from './instance-deal.js';
import { Slots, transformFile, type FileResult } from './transform-file.js';
import { listTransformInputs, outputKey, type TransformInputFile } from './transform-input.js';
import type { TransformJobFile } from './transform-job-file.js';
import { batchEnvironment, effectiveParameters, parametersLogLine, type EffectiveParameters } from './transform-job-spec.js';

export const TRANSFORM_RECORD_FILE = 'transform.json';
const FAILURE_REASON_MAX = 1024;
const EXECUTION_PARAMETERS_TIMEOUT_MS = 10_000;

export type TransformStatus = 'InProgress' | 'Completed' | 'Failed' | 'Stopped';

export interface FileRecord {
  Input: string;
  Output?: string;
  Instance: number;
  Status: 'Completed' | 'Failed';
  Records: number;
  Batches: number;
  InputBytes: number;
  OutputBytes: number;
  Retries: number;
  FailureReason?: string;
  ErrorCode?: string;
}

/** DescribeTransformJob's shape, plus pipemode's per-instance parameters and per-file results. */
export interface TransformRecord {
  TransformJobName: string;
  TransformJobArn: string;
  TransformJobStatus: TransformStatus;
  FailureReason?: string;
  ModelName: string;
  MaxConcurrentTransforms?: number;
  MaxPayloadInMB?: number;
  BatchStrategy?: string;
  Environment?: Record<string, string>;
  TransformInput: unknown;
  TransformOutput: unknown;
  TransformResources: unknown;
  DataProcessing?: unknown;
  ModelClientConfig?: unknown;
  CreationTime: string;
  TransformStartTime?: string;
  TransformEndTime?: string;
  LastModifiedTime: string;
  /** pipemode: which instances ran here (0-based ranks of how many). */
  InstanceRanks: { Ranks: number[]; Count: number };
  /** pipemode: per instance, the parameters settled and where each came from. */
  ExecutionParameters?: Record<string, { MaxConcurrentTransforms: number; MaxPayloadInMB: number; BatchStrategy: string; Sources: Record<string, string> }>;
  FilesTotal: number;
  FilesCompleted: number;
  FilesFailed: number;
  Files: FileRecord[];
}

export interface TransformProgress {
  filesTotal: number;
  filesDone: number;
  records: number;
  bytes: number;
}

export interface RunTransformOptions {
  /** The job folder (created): transform.json, model/, instances/, logs/. */
  readonly jobDir: string;
  readonly stores: Stores;
  readonly images: ImagesMap;
  /** Run only this instance of a job spread over machines; default: every instance here. */
  readonly rank?: { readonly rank: number; readonly count: number } | undefined;
  readonly region?: string | undefined;
  readonly retry?: RetryPolicy | undefined;
  readonly log: Logger;
  readonly signal?: AbortSignal | undefined;
  /** Container output lines. */
  readonly onLine?: ((label: string, line: string) => void) | undefined;
  /** Called when counters change (a progress display). */
  readonly onProgress?: ((p: Readonly<TransformProgress>) => void) | undefined;
  readonly startupTimeoutS?: number | undefined;
  readonly stopGraceMs?: number | undefined;
  readonly namespace?: boolean | 'auto' | undefined;
}

export interface TransformOutcome {
  readonly status: Exclude<TransformStatus, 'InProgress'>;
  readonly exitCode: number;
  readonly failureReason: string | undefined;
  readonly record: TransformRecord;
}

function saveRecord(file: string, record: TransformRecord): void {
  const tmp = `${file}.tmp`;
  fs.writeFileSync(tmp, `${JSON.stringify(record, null, 2)}\n`, { mode: 0o600 });
  fs.renameSync(tmp, file);
}

/** Reads a transform record from a job folder (or its transform.json). */
export function readTransformRecord(dirOrFile: string): TransformRecord {
  const file = dirOrFile.endsWith('.json') ? dirOrFile : path.join(dirOrFile, TRANSFORM_RECORD_FILE);
  return JSON.parse(fs.readFileSync(file, 'utf8')) as TransformRecord;
}

function clip(text: string): string {
  return text.length <= FAILURE_REASON_MAX ? text : `${text.slice(0, FAILURE_REASON_MAX - 1)}…`;
}

async function executionParameters(instance: ModelInstance, log: Logger): Promise<unknown> {
  const outcome = await instance.invoke({ method: 'GET', path: '/execution-parameters', headers: {}, timeoutMs: EXECUTION_PARAMETERS_TIMEOUT_MS });
  if (!outcome.ok || outcome.status !== 200) return undefined;
  try {
    return JSON.parse(outcome.body.toString('utf8')) as unknown;
  } catch {
    log.warn(`${instance.label}: GET /execution-parameters answered 200 without JSON; ignored`);
    return undefined;
  }
}

/** Runs the job; resolves with its outcome (failures included), rejects only on pipemode bugs. */
export async function runTransform(jobFile: TransformJobFile, options: RunTransformOptions): Promise<TransformOutcome> {
  const { job, model } = jobFile;
  const { log, stores } = options;
  const retry = options.retry ?? DEFAULT_RETRY_POLICY;
  const jobDir = path.resolve(options.jobDir);
  fs.mkdirSync(jobDir, { recursive: true });
  const recordFile = path.join(jobDir, TRANSFORM_RECORD_FILE);
  const r = job.request as Record<string, unknown>;
  const now = new Date().toISOString();
  const count = options.rank?.count ?? job.instanceCount;
  const ranks = options.rank !== undefined ? [options.rank.rank] : Array.from({ length: count }, (_, i) => i);
  const record: TransformRecord = {
    TransformJobName: job.name,
    TransformJobArn: sagemakerArn(options.region ?? 'us-east-1', 'transform-job', job.name),
    TransformJobStatus: 'InProgress',
    ModelName: job.modelName,
    ...(job.maxConcurrentTransforms !== undefined ? { MaxConcurrentTransforms: job.maxConcurrentTransforms } : {}),
    ...(job.maxPayloadInMB !== undefined ? { MaxPayloadInMB: job.maxPayloadInMB } : {}),
    ...(job.batchStrategy !== undefined ? { BatchStrategy: job.batchStrategy } : {}),
    ...(Object.keys(job.environment).length > 0 ? { Environment: { ...job.environment } } : {}),
    TransformInput: r.TransformInput,
    TransformOutput: r.TransformOutput,
    TransformResources: r.TransformResources ?? { InstanceType: job.instanceType, InstanceCount: job.instanceCount },
    ...(r.DataProcessing !== undefined ? { DataProcessing: r.DataProcessing } : {}),
    ...(r.ModelClientConfig !== undefined ? { ModelClientConfig: r.ModelClientConfig } : {}),
    CreationTime: now,
    LastModifiedTime: now,
    InstanceRanks: { Ranks: ranks, Count: count },
    FilesTotal: 0,
    FilesCompleted: 0,
    FilesFailed: 0,
    Files: [],
  };
  const save = (): void => {
    record.LastModifiedTime = new Date().toISOString();
    saveRecord(recordFile, record);
  };
  save();
  const finish = (status: Exclude<TransformStatus, 'InProgress'>, exitCode: number, reason?: string): TransformOutcome => {
    record.TransformJobStatus = status;
    if (reason !== undefined) record.FailureReason = clip(reason);
    record.TransformEndTime = new Date().toISOString();
    save();
    return Object.freeze({ status, exitCode, failureReason: record.FailureReason, record });
  };
  const failedWith = (err: unknown): TransformOutcome => {
    if (options.signal?.aborted === true) return finish('Stopped', EXIT.STOPPED, 'stopped before it ran');
    if (!isPipemodeError(err)) throw err;
    return finish('Failed', err.exitCode, `ClientError: ${err.message}`);
  };

  // 1. inputs and their deal
  let hands: TransformInputFile[][];
  let writer: ObjectWriter;
  try {
    const files = await listTransformInputs(job, stores, retry, options.signal);
    const byKey = new Map(files.map((f) => [f.key, f]));
    const pick = (keys: string[]): TransformInputFile[] => keys.map((k) => byKey.get(k) as TransformInputFile);
    const keys = files.map((f) => f.key);
    hands = options.rank !== undefined ? [pick(filesForInstance(keys, options.rank.rank, options.rank.count))] : dealFiles(keys, count).map(pick);
    writer = await stores.writerFor(job.output.path);
  } catch (err) {
    return failedWith(err);
  }
  const total = hands.reduce((n, h) => n + h.length, 0);
  record.FilesTotal = total;
  log.info(`${job.name}: ${total} input file${total === 1 ? '' : 's'} on ${hands.length} instance${hands.length === 1 ? '' : 's'}${options.rank !== undefined ? ` (rank ${options.rank.rank} of ${options.rank.count})` : ''}`);

  // 2. model data and containers
  const instances: ModelInstance[] = [];
  const stopAll = async (): Promise<void> => {
    await Promise.all(instances.map((i) => i.stop(options.stopGraceMs)));
  };
  const startupTimeoutS = options.startupTimeoutS ?? DEFAULT_STARTUP_TIMEOUT_S;
  try {
    let modelDir: string | undefined;
    if (model.modelData !== undefined) {
      modelDir = path.join(jobDir, 'model');
      await prepareModelData(model.modelData, modelDir, { stores, signal: options.signal, retry });
    }
    const command = commandForImage(options.images, model.image, 'serve', `model ${model.name} Image`);
    const environment = { ...command.env, ...model.environment, ...batchEnvironment(job) };
    const started = await Promise.allSettled(ranks.map((rank) => {
      const label = `instance-${rank + 1}`;
      return ModelInstance.start({
        label,
        baseDir: path.join(jobDir, 'instances', label),
        modelDir,
        argv: command.argv,
        environment,
        startupTimeoutMs: startupTimeoutS * 1000,
        stopGraceMs: options.stopGraceMs,
        namespace: options.namespace,
        logFile: path.join(jobDir, 'logs', `${label}.log`),
        onLine: (line) => options.onLine?.(label, line),
      });
    }));
    for (const s of started) if (s.status === 'fulfilled') instances.push(s.value);
    const bad = started.find((s): s is PromiseRejectedResult => s.status === 'rejected');
    if (bad !== undefined) throw bad.reason;
  } catch (err) {
    await stopAll();
    return failedWith(err);
  }

  // 3. parameters per container
  const params: EffectiveParameters[] = [];
  try {
    record.ExecutionParameters = {};
    for (const instance of instances) {
      const p = effectiveParameters(job, await executionParameters(instance, log));
      params.push(p);
      log.info(`[sagemaker logs] ${instance.label}: ${parametersLogLine(p)}`);
      record.ExecutionParameters[instance.label] = {
        MaxConcurrentTransforms: p.maxConcurrentTransforms, MaxPayloadInMB: p.maxPayloadInMB, BatchStrategy: p.batchStrategy,
        Sources: { ...p.sources },
      };
    }
  } catch (err) {
    await stopAll();
    return failedWith(err);
  }
  record.TransformStartTime = new Date().toISOString();
  save();

  // 4. the files
  const progress: TransformProgress = { filesTotal: total, filesDone: 0, records: 0, bytes: 0 };
  const results: { result: FileResult; instance: number }[] = [];
  const onProgress = (records: number, bytes: number): void => {
    progress.records += records;
    progress.bytes += bytes;
    options.onProgress?.(progress);
  };
  options.onProgress?.(progress);
  await Promise.all(instances.map(async (instance, i) => {
    const p = params[i] as EffectiveParameters;
    const queue = [...(hands[i] ?? [])];
    const slots = new Slots(p.maxConcurrentTransforms);
    const worker = async (): Promise<void> => {
      for (let file = queue.shift(); file !== undefined; file = queue.shift()) {
        if (options.signal?.aborted === true) return; // stopped: files not begun are not begun
        const result = await transformFile(file, {
          spec: job, params: p, instance, slots, writer, outputKey: outputKey(job.output.path, file.outputName), retry,
          restartWaitMs: startupTimeoutS * 1000 + 60_000, signal: options.signal, onProgress,
        });
        results.push({ result, instance: ranks[i] as number });
        progress.filesDone++;
        options.onProgress?.(progress);
        if (result.error !== undefined && !(result.error instanceof AbortedError)) log.error(`${result.error.message} [${result.error.code}]`);
        record.Files.push(fileRecord(result, ranks[i] as number));
        record.FilesCompleted = record.Files.filter((f) => f.Status === 'Completed').length;
        record.FilesFailed = record.Files.length - record.FilesCompleted;
        save();
      }
    };
    await Promise.all(Array.from({ length: Math.max(1, Math.min(p.maxConcurrentTransforms, queue.length)) }, worker));
  }));

  // 5. stop and record
  await stopAll();
  record.Files.sort((a, b) => (a.Input < b.Input ? -1 : a.Input > b.Input ? 1 : 0));
  if (options.signal?.aborted === true) return finish('Stopped', EXIT.STOPPED);
  const failed = results.filter((x) => x.result.status === 'Failed');
  if (failed.length === 0) return finish('Completed', EXIT.OK);
  const errors = failed.map((x) => x.result.error as PipemodeError);
  const modelFailed = errors.some((e) => e instanceof ModelInvocationError);
  const first = errors[0];
  if (first === undefined) throw new InternalError('a failed file without an error');
  const exitCode = modelFailed ? EXIT.TRANSFORM_FAILED : first.exitCode;
  const kind = modelFailed ? 'AlgorithmError' : 'ClientError';
  const names = failed.map((x) => x.result.input).join(', ');
  return finish('Failed', exitCode, `${kind}: ${failed.length} of ${total} input files failed (${names}): ${first.message}`);
}

function fileRecord(result: FileResult, instance: number): FileRecord {
  return {
    Input: result.input,
    ...(result.output !== undefined ? { Output: result.output } : {}),
    Instance: instance,
    Status: result.status,
    Records: result.records,
    Batches: result.batches,
    InputBytes: result.inputBytes,
    OutputBytes: result.outputBytes,
    Retries: result.retries,
    ...(result.error !== undefined ? { FailureReason: result.error.message, ErrorCode: result.error.code } : {}),
  };
}

/** The job folder may not hold a record yet: names are unique, as on SageMaker. */
export function checkNewJob(jobDir: string, name: string): void {
  if (fs.existsSync(path.join(jobDir, TRANSFORM_RECORD_FILE))) {
    throw new ConfigError(`a transform job named "${name}" already ran here (${jobDir}); job names are unique, as on SageMaker: pick another name or remove that folder`, {
      field: 'TransformJobName',
    });
  }
}
