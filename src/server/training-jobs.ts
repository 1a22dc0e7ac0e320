/**
 * Create/Describe/List/StopTrainingJob. A job runs in this process through `runJob`, the code
 * `pipemode train` runs, with its folder at `<state>/jobs/<name>` (where `pipemode describe
 * --jobs-dir <state>/jobs` finds it; the default state folder `.pipemode` makes that the CLI's
 * default jobs dir). Every save of job.json is mirrored into the state store in one transaction,
 * and the trainers' output lines go to the log store as `/aws/sagemaker/TrainingJobs`
 * `<job>/algo-<i>-<epoch-s>`.
 *
 * Jobs run by `pipemode train` in the same jobs folder are listed and described too: they are
 * imported from their job.json (and re-read while they run), marked as the CLI's, and never
 * stopped or failed by the server.
 *
 * A restart loses nothing: a job the server was running when it died (SIGTERM, SIGKILL, a crash)
 * is marked Failed "interrupted: …" at the next start, in the store and in job.json, and its
 * FastFile mounts are removed (its processes died with the server: each container's guardian
 * kills its process group when the server goes). Finished records are never touched.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { Logger } from '../core/log.js';
import { isPipemodeError } from '../core/errors.js';
import { RESOURCE_NAME } from '../container/arn.js';
import { cleanStaleMount, mountAt } from '../mount/fuse-binding.js';
import { resolveJob, type JobSpec } from '../training/job-spec.js';
import { readJobRecord, trainingJobArn, type JobRecord, type Transition } from '../training/job-status.js';
import { runJob } from '../training/run-job.js';
import { resourceInUse, resourceLimitExceeded, resourceNotFound, validation } from './api-error.js';
import { isoToEpoch, listQuery, resourceName, encodeNextToken, type Body } from './api-input.js';
import { findImageMapping, isListedCommand, type ImagesMap } from '../hosting/images-file.js';
import type { LogWriter } from './log-writer.js';
import type { StateStore, StoredResource } from './state-store.js';

export const TRAINING_LOG_GROUP = '/aws/sagemaker/TrainingJobs';
const STATUSES = ['InProgress', 'Completed', 'Failed', 'Stopping', 'Stopped'] as const;
const ACTIVE = ['InProgress', 'Stopping'];

/** The stored record: job.json plus who runs the job. */
export type StoredJobRecord = JobRecord & { RunBy?: 'server' | 'cli' };

export interface TrainingJobsOptions {
  readonly store: StateStore;
  readonly jobsDir: string;
  readonly region: string;
  readonly log: Logger;
  readonly logs: LogWriter;
  readonly images?: ImagesMap | undefined;
  readonly imagesOnly: boolean;
  readonly stopGraceMs: number;
  readonly maxConcurrentJobs: number;
  /** Environment for the training processes (the server's own by default). */
  readonly env?: NodeJS.ProcessEnv;
}

interface RunningJob {
  readonly stop: AbortController;
  readonly kill: AbortController;
  done: Promise<void>;
  shutdown?: string;
}

/** The stream name of a host's output, as SageMaker names it. */
export const logStreamName = (job: string, host: string, creationIso: string): string =>
  `${job}/${host}-${Math.floor(Date.parse(creationIso) / 1000)}`;

/** A record as DescribeTrainingJob returns it: times as epoch seconds, pipemode's bookkeeping left out. */
export function describeTrainingJob(record: StoredJobRecord): Record<string, unknown> {
  const out: Record<string, unknown> = {
    ...record,
    CreationTime: isoToEpoch(record.CreationTime),
    LastModifiedTime: isoToEpoch(record.LastModifiedTime),
    SecondaryStatusTransitions: record.SecondaryStatusTransitions.map((t: Transition) => ({
      ...t, StartTime: isoToEpoch(t.StartTime), ...(t.EndTime !== undefined ? { EndTime: isoToEpoch(t.EndTime) } : {}),
    })),
  };
  delete out.RunBy;
  delete out.HostDirectories;
  if (record.TrainingStartTime !== undefined) out.TrainingStartTime = isoToEpoch(record.TrainingStartTime);
  if (record.TrainingEndTime !== undefined) out.TrainingEndTime = isoToEpoch(record.TrainingEndTime);
  if (record.TrainingTimeInSeconds !== undefined) out.BillableTimeInSeconds = record.TrainingTimeInSeconds;
  return out;
}

function summary(r: StoredResource<StoredJobRecord>): Record<string, unknown> {
  const rec = r.record;
  return {
    TrainingJobName: rec.TrainingJobName,
    TrainingJobArn: rec.TrainingJobArn,
    CreationTime: isoToEpoch(rec.CreationTime),
    ...(rec.TrainingEndTime !== undefined ? { TrainingEndTime: isoToEpoch(rec.TrainingEndTime) } : {}),
    LastModifiedTime: isoToEpoch(rec.LastModifiedTime),
    TrainingJobStatus: rec.TrainingJobStatus,
    SecondaryStatus: rec.SecondaryStatus,
  };
}

/** Marks a record Failed "interrupted: why" (closing the open transition). */
export function interruptRecord(record: StoredJobRecord, why: string): StoredJobRecord {
  const now = new Date().toISOString();
  const transitions = record.SecondaryStatusTransitions.map((t) => (t.EndTime === undefined ? { ...t, EndTime: now } : t));
  transitions.push({ Status: 'Failed', StartTime: now, EndTime: now, StatusMessage: `Training job failed: interrupted: ${why}` });
  return {
    ...record,
    TrainingJobStatus: 'Failed',
    SecondaryStatus: 'Failed',
    FailureReason: `interrupted: ${why}`,
    TrainingEndTime: now,
    LastModifiedTime: now,
    SecondaryStatusTransitions: transitions,
  };
}

function writeJobJson(jobDir: string, record: JobRecord): void {
  const file = path.join(jobDir, 'job.json');
  const tmp = `${file}.tmp`;
  fs.writeFileSync(tmp, `${JSON.stringify(record, null, 2)}\n`, { mode: 0o600 });
  fs.renameSync(tmp, file);
}

export class TrainingJobs {
  readonly #o: TrainingJobsOptions;
  readonly #running = new Map<string, RunningJob>();

  constructor(options: TrainingJobsOptions) {
    this.#o = options;
  }

  get running(): number {
    return this.#running.size;
  }

  #jobDir(name: string): string {
    return path.join(this.#o.jobsDir, name);
  }

  #put(record: StoredJobRecord): void {
    this.#o.store.put('TrainingJob', record.TrainingJobName, record.TrainingJobStatus, Date.parse(record.LastModifiedTime), record);
  }

  /** The command a request runs: ContainerEntrypoint (+ ContainerArguments), else the image's command from the images file. */
  #command(job: JobSpec, body: Body): readonly string[] {
    const algo = body.AlgorithmSpecification as { ContainerEntrypoint?: string[]; ContainerArguments?: string[] };
    const { images, imagesOnly } = this.#o;
    if (algo.ContainerEntrypoint !== undefined) {
      if (imagesOnly && (images === undefined || !isListedCommand(images, algo.ContainerEntrypoint))) {
        throw validation('AlgorithmSpecification.ContainerEntrypoint: this server runs only the commands of its images file (--images-only); name a TrainingImage from it, or an entrypoint it lists exactly');
      }
      return job.command as readonly string[];
    }
    const fromImage = job.trainingImage !== undefined && images !== undefined ? findImageMapping(images, job.trainingImage, 'train')?.argv : undefined;
    if (fromImage !== undefined) return [...fromImage, ...(algo.ContainerArguments ?? ['train'])];
    if (imagesOnly) throw validation(`AlgorithmSpecification.TrainingImage: "${job.trainingImage ?? ''}" is not in this server's images file (--images-only)`);
    throw validation(`AlgorithmSpecification.ContainerEntrypoint: no command to run: set ContainerEntrypoint (and ContainerArguments)${job.trainingImage !== undefined ? `, or map TrainingImage "${job.trainingImage}" to a command in the server's --images file (images are not pulled: pipemode runs local commands)` : ''}`);
  }

  create(body: Body): Record<string, unknown> {
    const name = resourceName(body, 'TrainingJobName');
    const job = resolveJob(body, 'CreateTrainingJob request');
    const command = this.#command(job, body);
    const { store, region, log, logs } = this.#o;
    const jobDir = this.#jobDir(job.name);
    const existing = store.get('TrainingJob', name);
    if (existing !== undefined || fs.existsSync(path.join(jobDir, 'job.json'))) {
      const arn = (existing?.record as StoredJobRecord | undefined)?.TrainingJobArn ?? name;
      throw resourceInUse(`Training job names must be unique within an AWS account and region, and a training job with this name already exists (${arn})`);
    }
    if (this.#running.size >= this.#o.maxConcurrentJobs) {
      throw resourceLimitExceeded(`The account-level service limit 'Number of concurrent training jobs' is ${this.#o.maxConcurrentJobs} jobs, with ${this.#running.size} current utilization (pipemode server --max-jobs)`);
    }
    // reserve the name (the placeholder is replaced by runJob's first record, synchronously below)
    if (!store.insert('TrainingJob', name, 'InProgress', Date.now(), { TrainingJobName: name, RunBy: 'server' })) {
      throw resourceInUse(`Training job names must be unique within an AWS account and region, and a training job with this name already exists (${name})`);
    }
    const entry: RunningJob = { stop: new AbortController(), kill: new AbortController(), done: Promise.resolve() };
    this.#running.set(name.toLowerCase(), entry);
    let streams: Record<string, string> | undefined;
    let last: StoredJobRecord | undefined;
    const onRecord = (r: JobRecord): void => {
      last = { ...r, RunBy: 'server' };
      if (streams === undefined) {
        streams = {};
        for (const host of Object.keys(r.HostDirectories)) {
          streams[host] = logStreamName(r.TrainingJobName, host, r.CreationTime);
          store.createLogStream(TRAINING_LOG_GROUP, streams[host]);
        }
      }
      if (r.TrainingJobStatus !== 'InProgress' && r.TrainingJobStatus !== 'Stopping') logs.flush();
      this.#put(last);
    };
    const outcome = runJob(job, {
      jobDir,
      hosts: { ranks: Array.from({ length: job.instanceCount }, (_, i) => i), count: job.instanceCount },
      command,
      stopGraceMs: this.#o.stopGraceMs,
      fetch: {},
      fifosPerChannel: 1,
      checkpointIntervalMs: 10_000,
      progress: false,
      region,
      log,
      signal: entry.stop.signal,
      killSignal: entry.kill.signal,
      output: (host, _stream, line) => logs.line(TRAINING_LOG_GROUP, streams?.[host] ?? logStreamName(job.name, host, new Date().toISOString()), line),
      onRecord,
      metricsIntervalMs: 1000,
    });
    entry.done = outcome.then(() => undefined, (err: unknown) => {
      // a bug in the run itself: the record must not stay InProgress
      log.error(`${name}: the run failed: ${isPipemodeError(err) ? `${err.message} [${err.code}]` : (err as Error).message}`);
      if (last !== undefined) this.#put(interruptRecord(last, 'the job\'s runner failed (see the server log)'));
      else store.delete('TrainingJob', name);
    }).then(() => {
      logs.flush();
      if (entry.shutdown !== undefined && last !== undefined) {
        const failed = interruptRecord(last, entry.shutdown);
        writeJobJson(jobDir, failed);
        this.#put(failed);
      }
      this.#running.delete(name.toLowerCase());
    });
    return { TrainingJobArn: trainingJobArn(region, name) };
  }

  /** The stored record, importing (or refreshing) a job `pipemode train` ran in the jobs folder. */
  #find(name: string): StoredResource<StoredJobRecord> | undefined {
    const { store } = this.#o;
    const found = store.get<StoredJobRecord>('TrainingJob', name);
    if (found !== undefined && found.record.RunBy === 'server') return found;
    if (found !== undefined && !ACTIVE.includes(found.status)) return found;
    // a CLI job: its job.json is the truth
    const file = path.join(this.#jobDir(found?.name ?? name), 'job.json');
    let record: StoredJobRecord;
    try {
      record = { ...readJobRecord(file), RunBy: 'cli' };
    } catch {
      return found;
    }
    if (record.TrainingJobName.toLowerCase() !== name.toLowerCase()) return found;
    if (found === undefined) store.insert('TrainingJob', record.TrainingJobName, record.TrainingJobStatus, Date.parse(record.CreationTime), record);
    else if (found.record.LastModifiedTime === record.LastModifiedTime) return found;
    this.#put(record);
    return store.get<StoredJobRecord>('TrainingJob', name);
  }

  /** Imports the CLI's jobs not in the store yet, and refreshes those still running. */
  #importCliJobs(): void {
    let names: string[];
    try {
      names = fs.readdirSync(this.#o.jobsDir);
    } catch {
      return;
    }
    for (const n of names) {
      if (!RESOURCE_NAME.test(n)) continue;
      const found = this.#o.store.get<StoredJobRecord>('TrainingJob', n);
      if (found === undefined || (found.record.RunBy === 'cli' && ACTIVE.includes(found.status))) this.#find(n);
    }
  }

  describe(body: Body): Record<string, unknown> {
    const found = this.#find(resourceName(body, 'TrainingJobName'));
    if (found === undefined || found.record.TrainingJobArn === undefined) throw resourceNotFound();
    return describeTrainingJob(found.record);
  }

  list(body: Body): Record<string, unknown> {
    this.#importCliJobs();
    const q = listQuery('TrainingJob', body, { sortKeys: ['Name', 'CreationTime', 'Status'], statuses: STATUSES, lastModified: true });
    const page = this.#o.store.list<StoredJobRecord>('TrainingJob', q);
    return {
      TrainingJobSummaries: page.items.filter((r) => r.record.TrainingJobArn !== undefined).map(summary),
      ...(page.more ? { NextToken: encodeNextToken('TrainingJob', q.offset + q.limit) } : {}),
    };
  }

  stop(body: Body): Record<string, unknown> {
    const name = resourceName(body, 'TrainingJobName');
    const found = this.#find(name);
    if (found === undefined) throw resourceNotFound();
    const running = this.#running.get(name.toLowerCase());
    if (running === undefined || found.status !== 'InProgress') {
      if (found.record.RunBy === 'cli' && ACTIVE.includes(found.status)) {
        throw validation(`The training job ${found.name} is run by "pipemode train", not by this server: stop it there (SIGINT/SIGTERM)`);
      }
      throw validation(`The request was rejected because the training job is in status ${found.status}.`);
    }
    running.stop.abort();
    return {};
  }

  /** At start: jobs this server was running when it died are Failed "interrupted", their mounts removed. */
  async recover(): Promise<string[]> {
    const { store, log } = this.#o;
    const names: string[] = [];
    for (const r of store.withStatus<StoredJobRecord>('TrainingJob', ACTIVE)) {
      if (r.record.RunBy !== 'server') continue;
      if (r.record.TrainingJobArn === undefined) {
        store.delete('TrainingJob', r.name); // died between reserving the name and the first record
        continue;
      }
      const jobDir = this.#jobDir(r.record.TrainingJobName);
      for (const base of Object.values(r.record.HostDirectories ?? {})) await removeMounts(path.join(base, 'input', 'data'), log);
      const failed = interruptRecord(r.record, `the server stopped while the job was ${r.record.SecondaryStatus} (its processes were stopped with it)`);
      try {
        writeJobJson(jobDir, failed);
      } catch {
        // the folder is gone: the store still tells
      }
      this.#put(failed);
      names.push(r.name);
      log.warn(`${r.name}: marked Failed: it was ${r.record.SecondaryStatus} when the server stopped`);
    }
    return names;
  }

  /** At SIGTERM: stops every running job (SIGTERM to its processes, SIGKILL after `graceMs`) and marks it interrupted. */
  async shutdown(why: string, graceMs: number): Promise<void> {
    const all = [...this.#running.values()];
    for (const r of all) {
      r.shutdown = why;
      r.stop.abort();
    }
    const timer = setTimeout(() => { for (const r of all) r.kill.abort(); }, graceMs);
    await Promise.all(all.map((r) => r.done));
    clearTimeout(timer);
  }
}

async function removeMounts(dataDir: string, log: Logger): Promise<void> {
  let entries: string[];
  try {
    entries = fs.readdirSync(dataDir);
  } catch {
    return;
  }
  for (const e of entries) {
    const dir = path.join(dataDir, e);
    if (mountAt(dir) === undefined) continue;
    try {
      if (await cleanStaleMount(dir)) log.info(`removed the stale FastFile mount at ${dir}`);
    } catch (err) {
      log.warn(`cannot remove the mount at ${dir}: ${(err as Error).message}`);
    }
  }
}
