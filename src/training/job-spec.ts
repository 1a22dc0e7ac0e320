/**
 * A training job is SageMaker's `CreateTrainingJob` request, pasted as it is (JSON or YAML), and
 * validated once against the API's own limits into a frozen `JobSpec`.
 *
 * Used: TrainingJobName, AlgorithmSpecification (TrainingInputMode; ContainerEntrypoint and
 * ContainerArguments name the local command; TrainingImage / AlgorithmName are reported, not
 * pulled), HyperParameters, Environment, InputDataConfig (channels exactly as `pipemode pipe`
 * takes them), OutputDataConfig, CheckpointConfig, ResourceConfig.InstanceCount / InstanceType,
 * StoppingCondition.MaxRuntimeInSeconds. Every other field of the API (RoleArn, VpcConfig, Tags,
 * DebugHookConfig, …) is accepted and ignored, so requests work unchanged; a key the API does not
 * have is an error with a did-you-mean hint. URIs may be s3://, file:// or local paths.
 */
import * as v from 'valibot';
import { resolveChannels, type ChannelSpec, type InputMode } from '../channel/channel-spec.js';
import { parseSourceUri, type SourceUri } from '../storage/source-uri.js';
import { ConfigError } from '../core/errors.js';
import { validate } from '../core/validate.js';

/** TrainingJobName as the API allows it. */
export const JOB_NAME = /^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$/;
const ENV_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;
const DEFAULT_MAX_RUNTIME_S = 86_400;

const ignored = v.optional(v.unknown());

const stringMap = (maxEntries: number, key: v.GenericSchema<string>, value: v.GenericSchema<string>, what: string) =>
  v.pipe(v.record(key, value), v.check((m) => Object.keys(m).length <= maxEntries, `at most ${maxEntries} ${what}`));

export const jobSchema = v.strictObject({
  TrainingJobName: v.pipe(v.string(), v.regex(JOB_NAME, '1-63 letters, digits and hyphens, starting and ending with a letter or digit')),
  AlgorithmSpecification: v.strictObject({
    TrainingInputMode: v.picklist(['Pipe', 'File', 'FastFile']),
    TrainingImage: v.optional(v.pipe(v.string(), v.maxLength(255))),
    AlgorithmName: v.optional(v.pipe(v.string(), v.minLength(1), v.maxLength(170))),
    ContainerEntrypoint: v.optional(v.pipe(v.array(v.pipe(v.string(), v.maxLength(256))), v.minLength(1), v.maxLength(100))),
    ContainerArguments: v.optional(v.pipe(v.array(v.pipe(v.string(), v.maxLength(256))), v.minLength(1), v.maxLength(100))),
    MetricDefinitions: ignored,
    EnableSageMakerMetricsTimeSeries: ignored,
    TrainingImageConfig: ignored,
    TrainingPlanArn: ignored,
  }),
  HyperParameters: v.optional(stringMap(100, v.pipe(v.string(), v.maxLength(256)), v.pipe(v.string(), v.maxLength(2500)), 'hyperparameters')),
  Environment: v.optional(stringMap(100, v.pipe(v.string(), v.maxLength(512), v.regex(ENV_NAME, 'must match [a-zA-Z_][a-zA-Z0-9_]*')), v.pipe(v.string(), v.maxLength(512)), 'environment variables')),
  InputDataConfig: v.optional(v.array(v.unknown())),
  OutputDataConfig: v.strictObject({
    S3OutputPath: v.pipe(v.string(), v.minLength(1), v.maxLength(1024)),
    CompressionType: v.optional(v.picklist(['GZIP', 'NONE'])),
    KmsKeyId: ignored,
  }),
  ResourceConfig: v.optional(v.strictObject({
    InstanceType: v.optional(v.string()),
    InstanceCount: v.optional(v.pipe(v.number(), v.integer(), v.minValue(1))),
    VolumeSizeInGB: ignored,
    VolumeKmsKeyId: ignored,
    KeepAlivePeriodInSeconds: ignored,
    InstanceGroups: ignored,
    TrainingPlanArn: ignored,
    InstancePlacementConfig: ignored,
  })),
  StoppingCondition: v.optional(v.strictObject({
    MaxRuntimeInSeconds: v.optional(v.pipe(v.number(), v.integer(), v.minValue(1), v.maxValue(2_419_200))),
    MaxWaitTimeInSeconds: ignored,
    MaxPendingTimeInSeconds: ignored,
  })),
  CheckpointConfig: v.optional(v.strictObject({
    S3Uri: v.pipe(v.string(), v.minLength(1), v.maxLength(1024)),
    LocalPath: v.optional(v.pipe(v.string(), v.maxLength(4096))),
  })),
  RoleArn: ignored,
  VpcConfig: ignored,
  Tags: ignored,
  EnableNetworkIsolation: ignored,
  EnableInterContainerTrafficEncryption: ignored,
  EnableManagedSpotTraining: ignored,
  DebugHookConfig: ignored,
  DebugRuleConfigurations: ignored,
  TensorBoardOutputConfig: ignored,
  ExperimentConfig: ignored,
  ProfilerConfig: ignored,
  ProfilerRuleConfigurations: ignored,
  RetryStrategy: ignored,
  RemoteDebugConfig: ignored,
  InfraCheckConfig: ignored,
  SessionChainingConfig: ignored,
  ModelPackageConfig: ignored,
  MlflowConfig: ignored,
  ServerlessJobConfig: ignored,
});

/** A channel's input mode: its own InputMode, else the job's TrainingInputMode. */
export function inputModeOf(job: JobSpec, channel: ChannelSpec): InputMode {
  return channel.inputMode ?? job.inputMode;
}

export interface JobSpec {
  readonly name: string;
  readonly inputMode: InputMode;
  /** The command to run (entrypoint + arguments), if the request names one. */
  readonly command: readonly string[] | undefined;
  readonly trainingImage: string | undefined;
  /** As given (strings). */
  readonly hyperParameters: Readonly<Record<string, string>>;
  readonly environment: Readonly<Record<string, string>>;
  readonly channels: readonly ChannelSpec[];
  readonly outputPath: SourceUri;
  readonly outputUri: string;
  readonly compressModel: boolean;
  readonly checkpoint: { readonly uri: SourceUri; readonly text: string; readonly localPath: string | undefined } | undefined;
  readonly instanceCount: number;
  readonly instanceType: string;
  readonly maxRuntimeSeconds: number;
  /** The request as validated, for job.json. */
  readonly request: Readonly<Record<string, unknown>>;
}

function uriField(text: string, field: string, label: string): SourceUri {
  try {
    return parseSourceUri(text);
  } catch (err) {
    throw new ConfigError(`invalid ${label}: ${field}: ${(err as Error).message}`, { field }, { cause: err });
  }
}

/** Validates a CreateTrainingJob request; `what` names it in errors (e.g. the file name). */
export function resolveJob(input: unknown, what = 'training job'): JobSpec {
  const raw = validate(jobSchema, input, what);
  const algo = raw.AlgorithmSpecification;
  const label = `${what} "${raw.TrainingJobName}"`;
  if (algo.TrainingImage !== undefined && algo.AlgorithmName !== undefined) {
    throw new ConfigError(`invalid ${label}: AlgorithmSpecification.TrainingImage and AlgorithmName are mutually exclusive`, { field: 'AlgorithmSpecification' });
  }
  const channels = raw.InputDataConfig === undefined || raw.InputDataConfig.length === 0 ? [] : resolveChannels(raw.InputDataConfig, 'InputDataConfig');
  for (const c of channels) {
    const mode = c.inputMode ?? algo.TrainingInputMode;
    if (mode !== 'Pipe' && (c.compression !== 'None' || c.recordWrapper !== 'None')) {
      throw new ConfigError(`invalid ${label}: channel "${c.name}" is in ${mode} mode, where CompressionType and RecordWrapperType must be None (SageMaker's rule)`, {
        field: `InputDataConfig.${c.name}`,
      });
    }
    if (c.follow !== undefined && mode !== 'Pipe') {
      throw new ConfigError(`invalid ${label}: channel "${c.name}" has Follow, which needs Pipe mode (a ${mode}-mode channel is complete before training starts)`, {
        field: `InputDataConfig.${c.name}.Follow`,
      });
    }
    if (mode === 'FastFile' && c.dataType !== 'S3Prefix') {
      throw new ConfigError(`invalid ${label}: channel "${c.name}": FastFile mode supports S3DataType S3Prefix only`, { field: `InputDataConfig.${c.name}` });
    }
  }
  const command = algo.ContainerEntrypoint !== undefined || algo.ContainerArguments !== undefined
    ? [...(algo.ContainerEntrypoint ?? []), ...(algo.ContainerArguments ?? [])]
    : undefined;
  const checkpoint = raw.CheckpointConfig;
  return Object.freeze({
    name: raw.TrainingJobName,
    inputMode: algo.TrainingInputMode,
    command: command === undefined ? undefined : Object.freeze(command),
    trainingImage: algo.TrainingImage,
    hyperParameters: Object.freeze({ ...(raw.HyperParameters ?? {}) }),
    environment: Object.freeze({ ...(raw.Environment ?? {}) }),
    channels: Object.freeze(channels),
    outputPath: uriField(raw.OutputDataConfig.S3OutputPath, 'OutputDataConfig.S3OutputPath', label),
    outputUri: raw.OutputDataConfig.S3OutputPath,
    compressModel: raw.OutputDataConfig.CompressionType !== 'NONE',
    checkpoint: checkpoint === undefined ? undefined : Object.freeze({
      uri: uriField(checkpoint.S3Uri, 'CheckpointConfig.S3Uri', label),
      text: checkpoint.S3Uri,
      localPath: checkpoint.LocalPath,
    }),
    instanceCount: raw.ResourceConfig?.InstanceCount ?? 1,
    instanceType: raw.ResourceConfig?.InstanceType ?? 'local',
    maxRuntimeSeconds: raw.StoppingCondition?.MaxRuntimeInSeconds ?? DEFAULT_MAX_RUNTIME_S,
    request: Object.freeze({ ...(input as Record<string, unknown>) }),
  });
}
