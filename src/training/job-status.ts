/**
 * A job's status as SageMaker reports it (DescribeTrainingJob): TrainingJobStatus
 * (InProgress → Completed | Failed | Stopped), SecondaryStatus (Starting, Downloading, Training,
 * Uploading, Completed, Failed, Stopped, MaxRuntimeExceeded) with the list of transitions and
 * their times, FailureReason, ModelArtifacts. Every change is written to `job.json` in the job
 * folder (temp file + rename, so readers never see half of it); `pipemode describe` reads it.
 * ChannelMetrics.WaitSeconds is how long the consumer of a channel (the FIFO writer, so the
 * trainer) waited for bytes that had not arrived yet: starvation.
 *
 * While a job runs, `runner.json` beside it names the pipemode process running it: its pid and
 * its start time (field 22 of /proc/<pid>/stat, so a reused pid is not mistaken for it). It is
 * written before the first record and removed after the last. A record that still says
 * InProgress or Stopping while its runner is gone (pipemode was killed: SIGKILL, the OOM killer,
 * a reboot) is read as Failed, "interrupted: …"; `pipemode stop` signals the runner it names.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { sagemakerArn } from '../container/arn.js';
import { JobRecordError } from '../core/errors.js';
import type { JobSpec } from './job-spec.js';

/** Where job folders go unless --jobs-dir says otherwise. */
export const DEFAULT_JOBS_DIR = '.pipemode/jobs';

/** The job's ARN as SageMaker would give it. */
export function trainingJobArn(region: string, jobName: string): string {
  return sagemakerArn(region, 'training-job', jobName);
}

export type PrimaryStatus = 'InProgress' | 'Completed' | 'Failed' | 'Stopping' | 'Stopped';
export type SecondaryStatus = 'Starting' | 'Downloading' | 'Training' | 'Uploading' | 'Completed' | 'Failed' | 'Stopping' | 'Stopped' | 'MaxRuntimeExceeded';

export interface Transition {
  Status: SecondaryStatus;
  StartTime: string;
  EndTime?: string;
  StatusMessage: string;
}

/** The job record, shaped like a DescribeTrainingJob response (plus a few pipemode fields). */
export interface JobRecord {
  TrainingJobName: string;
  TrainingJobArn: string;
  TrainingJobStatus: PrimaryStatus;
  SecondaryStatus: SecondaryStatus;
  FailureReason?: string;
  ModelArtifacts?: { S3ModelArtifacts: string };
  OutputArtifacts?: string;
  HyperParameters: Record<string, string>;
  AlgorithmSpecification: unknown;
  InputDataConfig: unknown;
  OutputDataConfig: unknown;
  ResourceConfig: unknown;
  StoppingCondition: unknown;
  CheckpointConfig?: unknown;
  Environment?: Record<string, string>;
  CreationTime: string;
  TrainingStartTime?: string;
  TrainingEndTime?: string;
  LastModifiedTime: string;
  TrainingTimeInSeconds?: number;
  SecondaryStatusTransitions: Transition[];
  /** pipemode: what each host's Pipe channels streamed (bytes, GET requests, retries after transient failures). */
  ChannelMetrics?: Record<string, { BytesDelivered: number; GetRequests: number; Retries: number; WaitSeconds?: number }>;
  /** pipemode: the command run, the exit code of each host's training process, and where each host's base dir is. */
  Command?: readonly string[];
  ExitCodes?: Record<string, number>;
  HostDirectories: Record<string, string>;
}

export class JobStatus {
  readonly record: JobRecord;
  readonly #file: string;
  readonly #runnerFile: string;
  readonly #onChange: ((t: Transition) => void) | undefined;
  /** Called after every save with the record (e.g. to mirror it into a server's state store). */
  onSave: ((record: JobRecord) => void) | undefined;

  constructor(job: JobSpec, region: string, jobDir: string, hostDirs: Record<string, string>, onChange?: (t: Transition) => void) {
    const now = new Date().toISOString();
    const r = job.request as Record<string, unknown>;
    this.#file = path.join(jobDir, 'job.json');
    this.#runnerFile = path.join(jobDir, RUNNER_FILE);
    this.#onChange = onChange;
    writeRunner(this.#runnerFile);
    this.record = {
      TrainingJobName: job.name,
      TrainingJobArn: trainingJobArn(region, job.name),
      TrainingJobStatus: 'InProgress',
      SecondaryStatus: 'Starting',
      HyperParameters: { ...job.hyperParameters },
      AlgorithmSpecification: r.AlgorithmSpecification,
      InputDataConfig: r.InputDataConfig ?? [],
      OutputDataConfig: r.OutputDataConfig,
      ResourceConfig: r.ResourceConfig ?? { InstanceCount: job.instanceCount, InstanceType: job.instanceType },
      StoppingCondition: r.StoppingCondition ?? { MaxRuntimeInSeconds: job.maxRuntimeSeconds },
      ...(r.CheckpointConfig !== undefined ? { CheckpointConfig: r.CheckpointConfig } : {}),
      ...(Object.keys(job.environment).length > 0 ? { Environment: { ...job.environment } } : {}),
      CreationTime: now,
      LastModifiedTime: now,
      SecondaryStatusTransitions: [],
      HostDirectories: hostDirs,
    };
    this.transition('Starting', 'Preparing the instances for training');
  }

  /** Moves to a new secondary status (closing the previous one) and saves. */
  transition(status: SecondaryStatus, message: string): void {
    const now = new Date().toISOString();
    const transitions = this.record.SecondaryStatusTransitions;
    const last = transitions[transitions.length - 1];
    if (last !== undefined && last.EndTime === undefined) last.EndTime = now;
    const t: Transition = { Status: status, StartTime: now, StatusMessage: message };
    if (status === 'Completed' || status === 'Failed' || status === 'Stopped' || status === 'MaxRuntimeExceeded') t.EndTime = now;
    transitions.push(t);
    this.record.SecondaryStatus = status;
    if (status === 'Training') this.record.TrainingStartTime ??= now;
    this.record.LastModifiedTime = now;
    this.save();
    this.#onChange?.(t);
  }

  /** Sets the final primary status; the secondary one follows through transition(). */
  finish(primary: 'Completed' | 'Failed' | 'Stopped', secondary: SecondaryStatus, message: string, failureReason?: string): void {
    const now = new Date();
    this.record.TrainingJobStatus = primary;
    if (failureReason !== undefined) this.record.FailureReason = failureReason;
    this.record.TrainingEndTime = now.toISOString();
    if (this.record.TrainingStartTime !== undefined) {
      this.record.TrainingTimeInSeconds = Math.round((now.getTime() - Date.parse(this.record.TrainingStartTime)) / 1000);
    }
    this.transition(secondary, message);
    fs.rmSync(this.#runnerFile, { force: true }); // the record is final: no runner to look for
  }

  save(): void {
    const tmp = `${this.#file}.tmp`;
    fs.writeFileSync(tmp, `${JSON.stringify(this.record, null, 2)}\n`, { mode: 0o600 });
    fs.renameSync(tmp, this.#file);
    this.onSave?.(this.record);
  }
}

/** The file in the job folder naming the process that runs the job. */
export const RUNNER_FILE = 'runner.json';

/** The process running a job: pid, start time (clock ticks after boot, /proc/<pid>/stat) and host name. */
export interface Runner {
  readonly pid: number;
  readonly startTime: string;
  readonly hostname: string;
}

/** A process's start time (field 22 of /proc/<pid>/stat), or undefined if it is not running. */
export function processStartTime(pid: number): string | undefined {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    // the command name (field 2) may hold spaces and parentheses: count from the last ")"
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    if (fields[0] === 'Z') return undefined; // a zombie: it has ended
    return fields[19];
  } catch {
    return undefined;
  }
}

function writeRunner(file: string): void {
  const runner: Runner = { pid: process.pid, startTime: processStartTime(process.pid) ?? '', hostname: os.hostname() };
  fs.writeFileSync(`${file}.tmp`, `${JSON.stringify(runner)}\n`, { mode: 0o600 });
  fs.renameSync(`${file}.tmp`, file);
}

/** The job's runner, when `runner.json` names one. */
export function readRunner(jobDir: string): Runner | undefined {
  let text: string;
  try {
    text = fs.readFileSync(path.join(jobDir, RUNNER_FILE), 'utf8');
  } catch {
    return undefined;
  }
  try {
    return JSON.parse(text) as Runner;
  } catch (err) {
    throw new JobRecordError(`${path.join(jobDir, RUNNER_FILE)} is not valid JSON: ${(err as Error).message}`, { file: path.join(jobDir, RUNNER_FILE) }, { cause: err });
  }
}

/** Whether the runner still runs: same pid and start time (always true for another host's runner: it cannot be checked from here). */
export function runnerAlive(runner: Runner): boolean {
  if (runner.hostname !== os.hostname()) return true;
  const start = processStartTime(runner.pid);
  return start !== undefined && start === runner.startTime;
}

/** Reads a job record from a job folder (or its job.json); a job whose runner is gone reads as Failed, "interrupted". */
export function readJobRecord(dirOrFile: string): JobRecord {
  const file = dirOrFile.endsWith('.json') ? dirOrFile : path.join(dirOrFile, 'job.json');
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? '';
    throw new JobRecordError(`cannot read the job record ${file}: ${(err as Error).message}`, { file, errno: code }, { cause: err });
  }
  let record: JobRecord;
  try {
    record = JSON.parse(text) as JobRecord;
  } catch (err) {
    throw new JobRecordError(`the job record ${file} is not valid JSON (${(err as Error).message}): it was damaged; the job's folder still holds its outputs`, { file }, { cause: err });
  }
  if (typeof record !== 'object' || record === null || typeof record.TrainingJobStatus !== 'string') {
    throw new JobRecordError(`the job record ${file} is not a job record (no TrainingJobStatus)`, { file });
  }
  if (record.TrainingJobStatus !== 'InProgress' && record.TrainingJobStatus !== 'Stopping') return record;
  const runner = readRunner(path.dirname(file));
  if (runner !== undefined && runnerAlive(runner)) return record;
  const who = runner === undefined ? 'the pipemode process that ran it' : `the pipemode process that ran it (pid ${runner.pid})`;
  return {
    ...record,
    TrainingJobStatus: 'Failed',
    SecondaryStatus: 'Failed',
    FailureReason: `interrupted: ${who} ended while the job was ${record.SecondaryStatus} (killed, or the machine restarted); outputs were not uploaded`,
  };
}
