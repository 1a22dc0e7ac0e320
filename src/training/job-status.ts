/**
 * A job's status as SageMaker reports it (DescribeTrainingJob): TrainingJobStatus
 * (InProgress → Completed | Failed | Stopped), SecondaryStatus (Starting, Downloading, Training,
 * Uploading, Completed, Failed, Stopped, MaxRuntimeExceeded) with the list of transitions and
 * their times, FailureReason, ModelArtifacts. Every change is written to `job.json` in the job
 * folder (temp file + rename, so readers never see half of it); `pipemode describe` reads it.
 * ChannelMetrics.WaitSeconds is how long the consumer of a channel (the FIFO writer, so the
 * trainer) waited for bytes that had not arrived yet: starvation.
 */
import fs from 'node:fs';
import path from 'node:path';
import { sagemakerArn } from '../container/arn.js';
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
  readonly #onChange: ((t: Transition) => void) | undefined;
  /** Called after every save with the record (e.g. to mirror it into a server's state store). */
  onSave: ((record: JobRecord) => void) | undefined;

  constructor(job: JobSpec, region: string, jobDir: string, hostDirs: Record<string, string>, onChange?: (t: Transition) => void) {
    const now = new Date().toISOString();
    const r = job.request as Record<string, unknown>;
    this.#file = path.join(jobDir, 'job.json');
    this.#onChange = onChange;
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
  }

  save(): void {
    const tmp = `${this.#file}.tmp`;
    fs.writeFileSync(tmp, `${JSON.stringify(this.record, null, 2)}\n`, { mode: 0o600 });
    fs.renameSync(tmp, this.#file);
    this.onSave?.(this.record);
  }
}

/** Reads a job record from a job folder (or its job.json). */
export function readJobRecord(dirOrFile: string): JobRecord {
  const file = dirOrFile.endsWith('.json') ? dirOrFile : path.join(dirOrFile, 'job.json');
  return JSON.parse(fs.readFileSync(file, 'utf8')) as JobRecord;
}
