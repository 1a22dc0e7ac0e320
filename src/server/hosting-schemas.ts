/**
 * CreateModel, CreateEndpointConfig, CreateEndpoint / UpdateEndpoint and
 * UpdateEndpointWeightsAndCapacities requests, validated with the API's own limits (botocore's
 * sagemaker model) through core/validate.ts, so a bad field gets the same field-path message with
 * a did-you-mean hint as a job file. Members pipemode does not act on are accepted and kept.
 */
import * as v from 'valibot';
import { RESOURCE_NAME, RESOURCE_NAME_RULE } from '../container/arn.js';

const name = v.pipe(v.string(), v.regex(RESOURCE_NAME, RESOURCE_NAME_RULE));
const ignored = v.optional(v.unknown());
const envMap = v.pipe(
  v.record(v.pipe(v.string(), v.maxLength(1024), v.regex(/^[a-zA-Z_][a-zA-Z0-9_]*$/, 'must match [a-zA-Z_][a-zA-Z0-9_]*')), v.pipe(v.string(), v.maxLength(1024))),
  v.check((m) => Object.keys(m).length <= 100, 'at most 100 environment variables'));

export const containerSchema = v.strictObject({
  ContainerHostname: v.optional(v.pipe(v.string(), v.maxLength(63))),
  Image: v.optional(v.pipe(v.string(), v.maxLength(255))),
  ImageConfig: ignored,
  Mode: v.optional(v.picklist(['SingleModel', 'MultiModel'])),
  ModelDataUrl: v.optional(v.pipe(v.string(), v.maxLength(1024))),
  ModelDataSource: ignored,
  AdditionalModelDataSources: ignored,
  Environment: v.optional(envMap),
  ModelPackageName: ignored,
  InferenceSpecificationName: ignored,
  MultiModelConfig: ignored,
});

export const createModelSchema = v.pipe(v.strictObject({
  ModelName: name,
  PrimaryContainer: v.optional(containerSchema),
  Containers: v.optional(v.pipe(v.array(containerSchema), v.maxLength(15))),
  InferenceExecutionConfig: v.optional(v.strictObject({ Mode: v.picklist(['Serial', 'Direct']) })),
  ExecutionRoleArn: ignored,
  Tags: ignored,
  VpcConfig: ignored,
  EnableNetworkIsolation: v.optional(v.boolean()),
}), v.check((m) => (m.PrimaryContainer === undefined) !== (m.Containers === undefined || m.Containers.length === 0),
  'exactly one of PrimaryContainer and Containers is required'));

export const productionVariantSchema = v.strictObject({
  VariantName: name,
  ModelName: v.optional(name),
  InitialInstanceCount: v.optional(v.pipe(v.number(), v.integer(), v.minValue(1))),
  InstanceType: v.optional(v.string()),
  InitialVariantWeight: v.optional(v.pipe(v.number(), v.minValue(0))),
  ServerlessConfig: ignored,
  ContainerStartupHealthCheckTimeoutInSeconds: v.optional(v.pipe(v.number(), v.integer(), v.minValue(60), v.maxValue(3600))),
  ModelDataDownloadTimeoutInSeconds: v.optional(v.pipe(v.number(), v.integer(), v.minValue(60), v.maxValue(3600))),
  RoutingConfig: v.optional(v.strictObject({ RoutingStrategy: v.picklist(['LEAST_OUTSTANDING_REQUESTS', 'RANDOM']) })),
  InstancePools: ignored,
  VariantInstanceProvisionTimeoutInSeconds: ignored,
  AcceleratorType: ignored,
  CoreDumpConfig: ignored,
  VolumeSizeInGB: ignored,
  EnableSSMAccess: ignored,
  ManagedInstanceScaling: ignored,
  InferenceAmiVersion: ignored,
  CapacityReservationConfig: ignored,
});

export const createEndpointConfigSchema = v.strictObject({
  EndpointConfigName: name,
  ProductionVariants: v.pipe(v.array(productionVariantSchema), v.minLength(1), v.maxLength(10),
    v.check((list) => new Set(list.map((p) => p.VariantName)).size === list.length, 'variant names must be unique')),
  DataCaptureConfig: ignored,
  Tags: ignored,
  KmsKeyId: ignored,
  AsyncInferenceConfig: ignored,
  ExplainerConfig: ignored,
  ShadowProductionVariants: ignored,
  ExecutionRoleArn: ignored,
  VpcConfig: ignored,
  EnableNetworkIsolation: ignored,
  MetricsConfig: ignored,
});

export const createEndpointSchema = v.strictObject({
  EndpointName: name,
  EndpointConfigName: name,
  DeploymentConfig: ignored,
  Tags: ignored,
});

export const updateEndpointSchema = v.strictObject({
  EndpointName: name,
  EndpointConfigName: name,
  RetainAllVariantProperties: ignored,
  ExcludeRetainedVariantProperties: ignored,
  DeploymentConfig: ignored,
  RetainDeploymentConfig: ignored,
});

export const updateWeightsSchema = v.strictObject({
  EndpointName: name,
  DesiredWeightsAndCapacities: v.pipe(v.array(v.strictObject({
    VariantName: name,
    DesiredWeight: v.optional(v.pipe(v.number(), v.minValue(0))),
    DesiredInstanceCount: v.optional(v.pipe(v.number(), v.integer(), v.minValue(0))),
    ServerlessUpdateConfig: ignored,
  })), v.minLength(1), v.maxLength(10)),
});
