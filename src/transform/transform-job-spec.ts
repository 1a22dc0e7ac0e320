/**
 * A batch transform job is SageMaker's `CreateTransformJob` request, pasted as it is (JSON or
 * YAML), validated once against the API's own limits (botocore sagemaker 2017-07-24 shapes
 * CreateTransformJobRequest, TransformInput, TransformOutput, TransformResources, DataProcessing,
 * ModelClientConfig) into a frozen `TransformJobSpec`.
 *
 * Used: TransformJobName, ModelName, MaxConcurrentTransforms, MaxPayloadInMB, BatchStrategy,
 * Environment, TransformInput, TransformOutput (S3OutputPath, Accept, AssembleWith),
 * TransformResources.InstanceCount / InstanceType, DataProcessing, ModelClientConfig. Accepted and
 * ignored, so requests work unchanged: Tags, ExperimentConfig, DataCaptureConfig,
 * TransformOutput.KmsKeyId, TransformResources.VolumeKmsKeyId / TransformAmiVersion. A key the API
 * does not have is an error with a did-you-mean hint. URIs may be s3://, file:// or local paths.
 * As in `train`, TransformResources may be left out locally (one instance).
 *
 * Three settings are not defaulted in the spec, because the container may choose them: a
 * request that leaves out MaxConcurrentTransforms (or sets 0), MaxPayloadInMB or BatchStrategy
 * defers to the container's GET /execution-parameters answer, then to SageMaker's defaults.
 * `effectiveParameters()` applies that precedence (your-algorithms-batch-code: request →
 * /execution-parameters → defaults).
 */
import * as v from 'valibot';
import { parseSourceUri, type SourceUri } from '../storage/source-uri.js';
import { ConfigError } from '../core/errors.js';
import { validate } from '../core/validate.js';
import { compileJsonPath, type JsonPath } from './json-path.js';

export type SplitType = 'None' | 'Line' | 'RecordIO' | 'TFRecord';
export type BatchStrategy = 'MultiRecord' | 'SingleRecord';
export type AssembleWith = 'None' | 'Line';
export type JoinSource = 'None' | 'Input';
export type TransformDataType = 'S3Prefix' | 'ManifestFile';

/** TransformJobName (botocore TransformJobName) and ModelName (botocore ModelName). */
export const TRANSFORM_JOB_NAME = /^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$/;
export const MODEL_NAME = /^[a-zA-Z0-9]([-a-zA-Z0-9]*[a-zA-Z0-9])?$/;
/** MaxPayloadInMB's ceiling, and the ceiling of MaxConcurrentTransforms × MaxPayloadInMB (botocore doc). */
export const MAX_PAYLOAD_MB = 100;
/** TransformResources.InstanceCount: "the maximum is 100" (botocore doc). */
const MAX_INSTANCES = 100;
const ENV_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

/** SageMaker's defaults when neither the request nor the container chooses (API reference; BatchStrategy: see README). */
export const DEFAULT_PARAMETERS: Readonly<{ maxConcurrentTransforms: number; maxPayloadInMB: number; batchStrategy: BatchStrategy }> = Object.freeze({
  maxConcurrentTransforms: 1,
  maxPayloadInMB: 6,
  batchStrategy: 'MultiRecord',
});
/** ModelClientConfig defaults (botocore doc). */
export const DEFAULT_INVOCATIONS_TIMEOUT_S = 600;
export const DEFAULT_INVOCATIONS_MAX_RETRIES = 3;

/** DataProcessing requires these ContentType and Accept values (data-processing guide). */
export const DATA_PROCESSING_TYPES = Object.freeze(['text/csv', 'application/json', 'application/jsonlines']);

const ignored = v.optional(v.unknown());
const int = (min: number, max?: number) =>
  max === undefined ? v.pipe(v.number(), v.integer(), v.minValue(min)) : v.pipe(v.number(), v.integer(), v.minValue(min), v.maxValue(max));
const jsonPathField = v.optional(v.pipe(v.string(), v.maxLength(63, 'at most 63 characters')));

export const transformJobSchema = v.strictObject({
  TransformJobName: v.pipe(v.string(), v.regex(TRANSFORM_JOB_NAME, '1-63 letters, digits and hyphens, starting and ending with a letter or digit')),
  ModelName: v.pipe(v.string(), v.maxLength(63), v.regex(MODEL_NAME, 'letters, digits and hyphens, starting and ending with a letter or digit')),
  MaxConcurrentTransforms: v.optional(int(0)),
  MaxPayloadInMB: v.optional(int(0, MAX_PAYLOAD_MB)),
  BatchStrategy: v.optional(v.picklist(['MultiRecord', 'SingleRecord'])),
  Environment: v.optional(v.pipe(
    v.record(v.pipe(v.string(), v.maxLength(1024), v.regex(ENV_NAME, 'must match [a-zA-Z_][a-zA-Z0-9_]*')), v.pipe(v.string(), v.maxLength(10240))),
    v.check((m) => Object.keys(m).length <= 16, 'at most 16 environment variables'),
  )),
  TransformInput: v.strictObject({
    DataSource: v.strictObject({
      S3DataSource: v.strictObject({
        S3DataType: v.picklist(['S3Prefix', 'ManifestFile', 'AugmentedManifestFile', 'Converse']),
        S3Uri: v.pipe(v.string(), v.minLength(1), v.maxLength(1024)),
      }),
    }),
    ContentType: v.optional(v.pipe(v.string(), v.maxLength(256))),
    CompressionType: v.optional(v.picklist(['None', 'Gzip'])),
    SplitType: v.optional(v.picklist(['None', 'Line', 'RecordIO', 'TFRecord'])),
  }),
  TransformOutput: v.strictObject({
    S3OutputPath: v.pipe(v.string(), v.minLength(1), v.maxLength(1024)),
    Accept: v.optional(v.pipe(v.string(), v.maxLength(256))),
    AssembleWith: v.optional(v.picklist(['None', 'Line'])),
    KmsKeyId: ignored,
  }),
  TransformResources: v.optional(v.strictObject({
    InstanceType: v.optional(v.string()),
    InstanceCount: v.optional(int(1, MAX_INSTANCES)),
    VolumeKmsKeyId: ignored,
    TransformAmiVersion: ignored,
  })),
  DataProcessing: v.optional(v.strictObject({
    InputFilter: jsonPathField,
    OutputFilter: jsonPathField,
    JoinSource: v.optional(v.picklist(['None', 'Input'])),
  })),
  ModelClientConfig: v.optional(v.strictObject({
    InvocationsTimeoutInSeconds: v.optional(int(1, 3600)),
    InvocationsMaxRetries: v.optional(int(0, 3)),
  })),
  DataCaptureConfig: ignored,
  Tags: ignored,
  ExperimentConfig: ignored,
});

export interface DataProcessingSpec {
  readonly inputFilter: JsonPath;
  readonly outputFilter: JsonPath;
  readonly joinSource: JoinSource;
  /** `$`, `$`, None: nothing to do (the default). */
  readonly identity: boolean;
}

export interface TransformJobSpec {
  readonly name: string;
  readonly modelName: string;
  /** As requested; undefined when left out (or, for MaxConcurrentTransforms, 0): see effectiveParameters(). */
  readonly maxConcurrentTransforms: number | undefined;
  readonly maxPayloadInMB: number | undefined;
  readonly batchStrategy: BatchStrategy | undefined;
  readonly environment: Readonly<Record<string, string>>;
  readonly input: {
    readonly dataType: TransformDataType;
    /** S3Uri as written. */
    readonly uri: string;
    readonly source: SourceUri;
    readonly contentType: string | undefined;
    readonly compression: 'None' | 'Gzip';
    readonly splitType: SplitType;
  };
  readonly output: {
    readonly uri: string;
    readonly path: SourceUri;
    readonly accept: string | undefined;
    readonly assembleWith: AssembleWith;
  };
  readonly instanceType: string;
  readonly instanceCount: number;
  readonly dataProcessing: DataProcessingSpec;
  readonly invocationsTimeoutSeconds: number;
  readonly invocationsMaxRetries: number;
  /** The request as given, for job.json. */
  readonly request: Readonly<Record<string, unknown>>;
}

/** The media type without parameters, lower case: "text/csv; charset=utf-8" → "text/csv". */
export function mediaType(contentType: string | undefined): string | undefined {
  return contentType?.split(';')[0]?.trim().toLowerCase();
}

function uriField(text: string, field: string, label: string, cwd: string | undefined): SourceUri {
  try {
    return parseSourceUri(text, cwd);
  } catch (err) {
    throw new ConfigError(`invalid ${label}: ${field}: ${(err as Error).message}`, { field }, { cause: err });
  }
}

function pathField(text: string | undefined, field: string, label: string): JsonPath {
  try {
    return compileJsonPath(text ?? '$');
  } catch (err) {
    throw new ConfigError(`invalid ${label}: ${field}: ${(err as Error).message}`, { field }, { cause: err });
  }
}

/** Validates a CreateTransformJob request; `what` names it in errors (e.g. the file name). */
export function resolveTransformJob(input: unknown, what = 'transform job', cwd?: string): TransformJobSpec {
  const raw = validate(transformJobSchema, input, what);
  const label = `${what} "${raw.TransformJobName}"`;
  const fail = (field: string, problem: string): never => {
    throw new ConfigError(`invalid ${label}: ${field}: ${problem}`, { field });
  };
  const s3 = raw.TransformInput.DataSource.S3DataSource;
  if (s3.S3DataType !== 'S3Prefix' && s3.S3DataType !== 'ManifestFile') {
    fail('TransformInput.DataSource.S3DataSource.S3DataType', `"${s3.S3DataType}" is not compatible with batch transform (use S3Prefix or ManifestFile)`);
  }
  const concurrency = raw.MaxConcurrentTransforms === 0 ? undefined : raw.MaxConcurrentTransforms;
  const payload = raw.MaxPayloadInMB;
  if (concurrency !== undefined && payload !== undefined && concurrency * payload > MAX_PAYLOAD_MB) {
    fail('MaxConcurrentTransforms', `MaxConcurrentTransforms × MaxPayloadInMB must be at most ${MAX_PAYLOAD_MB} MB, got ${concurrency} × ${payload} = ${concurrency * payload}`);
  }
  const splitType = raw.TransformInput.SplitType ?? 'None';
  const assembleWith = raw.TransformOutput.AssembleWith ?? 'None';
  const dp = raw.DataProcessing;
  const inputFilter = pathField(dp?.InputFilter, 'DataProcessing.InputFilter', label);
  const outputFilter = pathField(dp?.OutputFilter, 'DataProcessing.OutputFilter', label);
  const joinSource = dp?.JoinSource ?? 'None';
  const identity = inputFilter.isRoot && outputFilter.isRoot && joinSource === 'None';
  const contentType = raw.TransformInput.ContentType;
  const accept = raw.TransformOutput.Accept;
  if (!identity) {
    for (const [field, value] of [['TransformInput.ContentType', contentType], ['TransformOutput.Accept', accept]] as const) {
      const type = mediaType(value);
      if (type === undefined || !DATA_PROCESSING_TYPES.includes(type)) {
        fail(field, `DataProcessing needs one of ${DATA_PROCESSING_TYPES.join(', ')}, got ${value === undefined ? 'none' : `"${value}"`}`);
      }
    }
    if (mediaType(contentType) === 'text/csv') {
      if (splitType !== 'Line') fail('TransformInput.SplitType', `DataProcessing with text/csv needs SplitType Line, got ${splitType}`);
      if (assembleWith !== 'Line') fail('TransformOutput.AssembleWith', `DataProcessing with text/csv needs AssembleWith Line, got ${assembleWith}`);
      for (const [field, path] of [['DataProcessing.InputFilter', inputFilter], ['DataProcessing.OutputFilter', outputFilter]] as const) {
        if (path.usesNames) fail(field, `"${path.expression}" selects by key, but CSV rows are arrays: only index paths such as $[0] or $[1:] apply`);
      }
    }
  }
  const source = uriField(s3.S3Uri, 'TransformInput.DataSource.S3DataSource.S3Uri', label, cwd);
  const outputPath = uriField(raw.TransformOutput.S3OutputPath, 'TransformOutput.S3OutputPath', label, cwd);
  return Object.freeze({
    name: raw.TransformJobName,
    modelName: raw.ModelName,
    maxConcurrentTransforms: concurrency,
    maxPayloadInMB: payload,
    batchStrategy: raw.BatchStrategy,
    environment: Object.freeze({ ...(raw.Environment ?? {}) }),
    input: Object.freeze({
      dataType: s3.S3DataType as TransformDataType,
      uri: s3.S3Uri,
      source,
      contentType,
      compression: raw.TransformInput.CompressionType ?? 'None',
      splitType,
    }),
    output: Object.freeze({ uri: raw.TransformOutput.S3OutputPath, path: outputPath, accept, assembleWith }),
    instanceType: raw.TransformResources?.InstanceType ?? 'local',
    instanceCount: raw.TransformResources?.InstanceCount ?? 1,
    dataProcessing: Object.freeze({ inputFilter, outputFilter, joinSource, identity }),
    invocationsTimeoutSeconds: raw.ModelClientConfig?.InvocationsTimeoutInSeconds ?? DEFAULT_INVOCATIONS_TIMEOUT_S,
    invocationsMaxRetries: raw.ModelClientConfig?.InvocationsMaxRetries ?? DEFAULT_INVOCATIONS_MAX_RETRIES,
    request: Object.freeze({ ...(input as Record<string, unknown>) }),
  });
}

/** Where an effective parameter came from. */
export type ParameterSource = 'request' | 'container' | 'default';

export interface EffectiveParameters {
  readonly maxConcurrentTransforms: number;
  /** 0 means unlimited: SplitType None objects stream with chunked encoding. */
  readonly maxPayloadInMB: number;
  readonly batchStrategy: BatchStrategy;
  readonly sources: {
    readonly maxConcurrentTransforms: ParameterSource;
    readonly maxPayloadInMB: ParameterSource;
    readonly batchStrategy: ParameterSource;
  };
}

/**
 * A container's GET /execution-parameters answer. BatchStrategy comes in the environment style
 * (`MULTI_RECORD`, `SINGLE_RECORD`) the batch-code guide shows; the API's spelling is accepted too.
 * Other keys are ignored.
 */
const executionParametersSchema = v.looseObject({
  MaxConcurrentTransforms: v.optional(int(0)),
  MaxPayloadInMB: v.optional(int(0, MAX_PAYLOAD_MB)),
  BatchStrategy: v.optional(v.picklist(['MULTI_RECORD', 'SINGLE_RECORD', 'MultiRecord', 'SingleRecord'])),
});

const FROM_ENV_STYLE: Readonly<Record<string, BatchStrategy>> = {
  MULTI_RECORD: 'MultiRecord', SINGLE_RECORD: 'SingleRecord', MultiRecord: 'MultiRecord', SingleRecord: 'SingleRecord',
};

/** `MultiRecord` → `MULTI_RECORD`, as SAGEMAKER_BATCH_STRATEGY and the job log spell it. */
export function envStyleStrategy(strategy: BatchStrategy): 'MULTI_RECORD' | 'SINGLE_RECORD' {
  return strategy === 'MultiRecord' ? 'MULTI_RECORD' : 'SINGLE_RECORD';
}

/**
 * The parameters a job runs with: each from the request if it set it, else from the container's
 * /execution-parameters answer (`executionParameters`, parsed JSON; undefined when the container
 * has no such endpoint), else SageMaker's default. A malformed answer is a ConfigError naming the
 * key. MaxConcurrentTransforms 0 (request or container) counts as not set.
 */
export function effectiveParameters(spec: TransformJobSpec, executionParameters?: unknown): EffectiveParameters {
  const exec = executionParameters === undefined ? {} : validate(executionParametersSchema, executionParameters, 'GET /execution-parameters answer');
  const pick = <T>(request: T | undefined, container: T | undefined, fallback: T): [T, ParameterSource] =>
    request !== undefined ? [request, 'request'] : container !== undefined ? [container, 'container'] : [fallback, 'default'];
  const [maxConcurrentTransforms, c] = pick(spec.maxConcurrentTransforms, exec.MaxConcurrentTransforms === 0 ? undefined : exec.MaxConcurrentTransforms, DEFAULT_PARAMETERS.maxConcurrentTransforms);
  const [maxPayloadInMB, p] = pick(spec.maxPayloadInMB, exec.MaxPayloadInMB, DEFAULT_PARAMETERS.maxPayloadInMB);
  const [batchStrategy, b] = pick(spec.batchStrategy, exec.BatchStrategy === undefined ? undefined : FROM_ENV_STYLE[exec.BatchStrategy], DEFAULT_PARAMETERS.batchStrategy);
  return Object.freeze({
    maxConcurrentTransforms, maxPayloadInMB, batchStrategy,
    sources: Object.freeze({ maxConcurrentTransforms: c, maxPayloadInMB: p, batchStrategy: b }),
  });
}

/** The job log's first line, as SageMaker writes it: "MaxConcurrentTransforms=1, MaxPayloadInMB=6, BatchStrategy=MULTI_RECORD". */
export function parametersLogLine(p: EffectiveParameters): string {
  return `MaxConcurrentTransforms=${p.maxConcurrentTransforms}, MaxPayloadInMB=${p.maxPayloadInMB}, BatchStrategy=${envStyleStrategy(p.batchStrategy)}`;
}

/**
 * The variables SageMaker adds to the container for batch (batch-code guide): SAGEMAKER_BATCH=true
 * always; the other three only when the request set them. The request's Environment comes first,
 * so these win over it.
 */
export function batchEnvironment(spec: TransformJobSpec): Readonly<Record<string, string>> {
  const env: Record<string, string> = { ...spec.environment, SAGEMAKER_BATCH: 'true' };
  if (spec.maxPayloadInMB !== undefined) env.SAGEMAKER_MAX_PAYLOAD_IN_MB = String(spec.maxPayloadInMB);
  if (spec.batchStrategy !== undefined) env.SAGEMAKER_BATCH_STRATEGY = envStyleStrategy(spec.batchStrategy);
  if (spec.maxConcurrentTransforms !== undefined) env.SAGEMAKER_MAX_CONCURRENT_TRANSFORMS = String(spec.maxConcurrentTransforms);
  return Object.freeze(env);
}
