/**
 * An ENDPOINT file: what `CreateModel`, `CreateEndpointConfig` and `CreateEndpoint` would be sent,
 * in one JSON or YAML document —
 *
 *   EndpointName: my-endpoint
 *   Models: [ <CreateModel request>, … ]
 *   EndpointConfig: <CreateEndpointConfig request>
 *
 * — validated against the API's shapes (botocore sagemaker 2017-07-24: CreateModelInput,
 * ContainerDefinition, S3ModelDataSource, CreateEndpointConfigInput, ProductionVariant,
 * AsyncInferenceConfig) into a frozen `EndpointSpec`. Keys the API has but pipemode does not use
 * (Tags, VpcConfig, InstanceType, KmsKeyId, DataCaptureConfig, …) are accepted and ignored so
 * requests work unchanged; a key the API does not have is an error with a did-you-mean hint.
 * Cross-checks: variant names unique, each variant's ModelName among Models, one container per model
 * (inference pipelines are not supported), an image or model data per container.
 */
import * as v from 'valibot';
import { RESOURCE_NAME, RESOURCE_NAME_RULE } from '../container/arn.js';
import { ConfigError } from '../core/errors.js';
import { validate } from '../core/validate.js';
import { modelDataSource, type ModelDataSource } from './model-data.js';

export const MODEL_NAME = /^[a-zA-Z0-9]([-a-zA-Z0-9]*[a-zA-Z0-9])?$/;
const ENV_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;
const NAME_RULE = RESOURCE_NAME_RULE;

const ignored = v.optional(v.unknown());
const int = (min: number, max: number) => v.pipe(v.number(), v.integer(), v.minValue(min), v.maxValue(max));

const containerSchema = v.strictObject({
  Image: v.optional(v.pipe(v.string(), v.maxLength(255))),
  ModelDataUrl: v.optional(v.pipe(v.string(), v.minLength(1), v.maxLength(1024))),
  ModelDataSource: v.optional(v.strictObject({
    S3DataSource: v.strictObject({
      S3Uri: v.pipe(v.string(), v.minLength(1), v.maxLength(1024)),
      S3DataType: v.picklist(['S3Prefix', 'S3Object']),
      CompressionType: v.picklist(['None', 'Gzip']),
      ModelAccessConfig: ignored,
      HubAccessConfig: ignored,
      ManifestS3Uri: ignored,
      ETag: ignored,
      ManifestEtag: ignored,
    }),
  })),
  Environment: v.optional(v.pipe(
    v.record(v.pipe(v.string(), v.maxLength(1024), v.regex(ENV_NAME, 'must match [a-zA-Z_][a-zA-Z0-9_]*')), v.pipe(v.string(), v.maxLength(1024))),
    v.check((m) => Object.keys(m).length <= 100, 'at most 100 environment variables'),
  )),
  ContainerHostname: ignored,
  Mode: v.optional(v.picklist(['SingleModel'])),
  ImageConfig: ignored,
  ModelPackageName: ignored,
  InferenceSpecificationName: ignored,
  MultiModelConfig: ignored,
  AdditionalModelDataSources: ignored,
});

const modelSchema = v.strictObject({
  ModelName: v.pipe(v.string(), v.maxLength(63), v.regex(MODEL_NAME, NAME_RULE)),
  PrimaryContainer: v.optional(containerSchema),
  Containers: v.optional(v.pipe(v.array(containerSchema), v.minLength(1), v.maxLength(15))),
  ExecutionRoleArn: ignored,
  InferenceExecutionConfig: ignored,
  Tags: ignored,
  VpcConfig: ignored,
  EnableNetworkIsolation: ignored,
});

const variantSchema = v.strictObject({
  VariantName: v.pipe(v.string(), v.regex(RESOURCE_NAME, NAME_RULE)),
  ModelName: v.pipe(v.string(), v.maxLength(63), v.regex(MODEL_NAME, NAME_RULE)),
  InitialInstanceCount: v.optional(int(1, 64)),
  InitialVariantWeight: v.optional(v.pipe(v.number(), v.minValue(0))),
  ContainerStartupHealthCheckTimeoutInSeconds: v.optional(int(60, 3600)),
  ModelDataDownloadTimeoutInSeconds: v.optional(int(60, 3600)),
  RoutingConfig: v.optional(v.strictObject({ RoutingStrategy: v.picklist(['LEAST_OUTSTANDING_REQUESTS', 'RANDOM']) })),
  InstanceType: ignored,
  AcceleratorType: ignored,
  CoreDumpConfig: ignored,
  ServerlessConfig: ignored,
  VolumeSizeInGB: ignored,
  EnableSSMAccess: ignored,
  ManagedInstanceScaling: ignored,
  InferenceAmiVersion: ignored,
  CapacityReservationConfig: ignored,
});

export const endpointSchema = v.strictObject({
  EndpointName: v.pipe(v.string(), v.regex(RESOURCE_NAME, NAME_RULE)),
  Models: v.pipe(v.array(modelSchema), v.minLength(1, 'at least one model')),
  EndpointConfig: v.strictObject({
    EndpointConfigName: v.optional(v.pipe(v.string(), v.regex(RESOURCE_NAME, NAME_RULE))),
    ProductionVariants: v.pipe(v.array(variantSchema), v.minLength(1, 'at least one variant'), v.maxLength(10, 'at most 10 variants')),
    AsyncInferenceConfig: v.optional(v.strictObject({
      OutputConfig: v.strictObject({
        S3OutputPath: v.optional(v.pipe(v.string(), v.minLength(1), v.maxLength(512))),
        S3FailurePath: v.optional(v.pipe(v.string(), v.minLength(1), v.maxLength(512))),
        KmsKeyId: ignored,
        NotificationConfig: ignored,
      }),
      ClientConfig: v.optional(v.strictObject({ MaxConcurrentInvocationsPerInstance: v.optional(int(1, 1000)) })),
    })),
    DataCaptureConfig: ignored,
    KmsKeyId: ignored,
    Tags: ignored,
    ShadowProductionVariants: ignored,
    ExplainerConfig: ignored,
    ExecutionRoleArn: ignored,
    VpcConfig: ignored,
    EnableNetworkIsolation: ignored,
  }),
  Tags: ignored,
  DeploymentConfig: ignored,
});

export interface ModelSpec {
  readonly name: string;
  readonly image: string;
  readonly modelData: ModelDataSource | undefined;
  readonly environment: Readonly<Record<string, string>>;
}

export interface VariantSpec {
  readonly name: string;
  readonly model: ModelSpec;
  readonly instanceCount: number;
  readonly weight: number;
  readonly startupTimeoutS: number | undefined;
  readonly downloadTimeoutS: number | undefined;
  readonly routing: 'LEAST_OUTSTANDING_REQUESTS' | 'RANDOM';
}

export interface EndpointSpec {
  readonly name: string;
  readonly variants: readonly VariantSpec[];
  readonly asyncOutputPath: string | undefined;
  readonly asyncFailurePath: string | undefined;
}

/** Validates an ENDPOINT document; `what` names it in errors (the file name). */
export function resolveEndpoint(input: unknown, what = 'endpoint file'): EndpointSpec {
  const raw = validate(endpointSchema, input, what);
  const fail = (field: string, text: string): never => {
    throw new ConfigError(`invalid ${what}: ${field}: ${text}`, { field });
  };
  const models = new Map<string, ModelSpec>();
  raw.Models.forEach((m, i) => {
    const field = `Models[${i}]`;
    if (models.has(m.ModelName)) fail(`${field}.ModelName`, `"${m.ModelName}" appears twice`);
    if ((m.PrimaryContainer === undefined) === (m.Containers === undefined)) fail(field, 'give PrimaryContainer or Containers (one of them)');
    if (m.Containers !== undefined && m.Containers.length > 1) fail(`${field}.Containers`, 'inference pipelines (several containers) are not supported; give one container');
    const c = m.PrimaryContainer ?? m.Containers?.[0];
    const cField = m.PrimaryContainer !== undefined ? `${field}.PrimaryContainer` : `${field}.Containers[0]`;
    if (c === undefined) return;
    if (c.Image === undefined) fail(`${cField}.Image`, 'is required (an image name mapped in the images file, or a framework image name)');
    let modelData: ModelDataSource | undefined;
    try {
      modelData = modelDataSource(c, cField);
    } catch (err) {
      fail(cField, (err as Error).message);
    }
    models.set(m.ModelName, Object.freeze({ name: m.ModelName, image: c.Image ?? '', modelData, environment: Object.freeze({ ...c.Environment }) }));
  });
  const names = new Set<string>();
  const variants = raw.EndpointConfig.ProductionVariants.map((p, i) => {
    const field = `EndpointConfig.ProductionVariants[${i}]`;
    if (names.has(p.VariantName)) fail(`${field}.VariantName`, `"${p.VariantName}" appears twice`);
    names.add(p.VariantName);
    const model = models.get(p.ModelName);
    if (model === undefined) fail(`${field}.ModelName`, `no model "${p.ModelName}" in Models (have: ${[...models.keys()].join(', ')})`);
    return Object.freeze({
      name: p.VariantName,
      model: model as ModelSpec,
      instanceCount: p.InitialInstanceCount ?? 1,
      weight: p.InitialVariantWeight ?? 1,
      startupTimeoutS: p.ContainerStartupHealthCheckTimeoutInSeconds,
      downloadTimeoutS: p.ModelDataDownloadTimeoutInSeconds,
      routing: p.RoutingConfig?.RoutingStrategy ?? 'LEAST_OUTSTANDING_REQUESTS',
    });
  });
  if (variants.every((x) => x.weight === 0)) fail('EndpointConfig.ProductionVariants', 'every InitialVariantWeight is 0: no variant would get traffic');
  const out = raw.EndpointConfig.AsyncInferenceConfig?.OutputConfig;
  return Object.freeze({
    name: raw.EndpointName, variants: Object.freeze(variants), asyncOutputPath: out?.S3OutputPath, asyncFailurePath: out?.S3FailurePath,
  });
}

/** The document `pipemode serve --model-data URI --image IMAGE` stands for. */
export function quickEndpointDocument(options: { name: string; modelData?: string | undefined; image: string; instances: number }): unknown {
  return {
    EndpointName: options.name,
    Models: [{ ModelName: options.name, PrimaryContainer: { Image: options.image, ...(options.modelData !== undefined ? { ModelDataUrl: options.modelData } : {}) } }],
    EndpointConfig: { ProductionVariants: [{ VariantName: 'AllTraffic', ModelName: options.name, InitialInstanceCount: options.instances }] },
  };
}
