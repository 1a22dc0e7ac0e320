/**
 * A channel is SageMaker's `Channel` object (CreateTrainingJob.InputDataConfig[i]), validated
 * once against the API's own limits and turned into a frozen `ChannelSpec`.
 *
 * Accepted exactly as in the API: ChannelName, InputMode, ContentType, CompressionType,
 * RecordWrapperType, ShuffleConfig.Seed and DataSource.S3DataSource {S3DataType, S3Uri,
 * S3DataDistributionType, AttributeNames, InstanceGroupNames}. Unknown keys are errors with a
 * did-you-mean hint. Extensions: S3Uri may also be file:///path or a local path.
 * Not supported (clear error): FileSystemDataSource, S3DataType Converse.
 */
import { z } from 'zod';
import { ConfigError } from '../core/errors.js';
import { validate } from '../core/validate.js';
import { parseSourceUri, type SourceUri } from './source-uri.js';

export type InputMode = 'Pipe' | 'File' | 'FastFile';
export type S3DataType = 'S3Prefix' | 'ManifestFile' | 'AugmentedManifestFile';
export type Distribution = 'FullyReplicated' | 'ShardedByS3Key';
export type Compression = 'None' | 'Gzip';
export type RecordWrapper = 'None' | 'RecordIO';

/** The resolved, frozen channel every other module works from. */
export interface ChannelSpec {
  readonly name: string;
  /** Per-channel override of the job's TrainingInputMode, when given. */
  readonly inputMode: InputMode | undefined;
  readonly contentType: string | undefined;
  readonly compression: Compression;
  readonly recordWrapper: RecordWrapper;
  /** ShuffleConfig.Seed; undefined means no shuffling. */
  readonly shuffleSeed: bigint | undefined;
  readonly dataType: S3DataType;
  /** S3Uri as written. */
  readonly uri: string;
  readonly source: SourceUri;
  readonly distribution: Distribution;
  /** AugmentedManifestFile attribute names, in order. */
  readonly attributeNames: readonly string[];
}

export const CHANNEL_NAME = /^[A-Za-z0-9.\-_]+$/;
export const MAX_CHANNELS = 20;
const LONG_MIN = -(2n ** 63n);
const LONG_MAX = 2n ** 63n - 1n;

/** ShuffleConfig.Seed is a Java long: accept a safe-integer number or a decimal string. */
const seedSchema = z.union([z.number(), z.string()]).transform((value, ctx) => {
  if (typeof value === 'number' && !Number.isSafeInteger(value)) {
    ctx.addIssue({ code: 'custom', message: 'must be an integer; write seeds beyond 2^53 as a string' });
    return z.NEVER;
  }
  if (typeof value === 'string' && !/^-?\d{1,19}$/.test(value)) {
    ctx.addIssue({ code: 'custom', message: 'must be a decimal integer' });
    return z.NEVER;
  }
  const seed = BigInt(value);
  if (seed < LONG_MIN || seed > LONG_MAX) {
    ctx.addIssue({ code: 'custom', message: 'must fit in a signed 64-bit integer' });
    return z.NEVER;
  }
  return seed;
});

const s3DataSourceSchema = z.strictObject({
  S3DataType: z.enum(['S3Prefix', 'ManifestFile', 'AugmentedManifestFile', 'Converse']),
  S3Uri: z.string().min(1).max(1024),
  S3DataDistributionType: z.enum(['FullyReplicated', 'ShardedByS3Key']).optional(),
  AttributeNames: z.array(z.string().min(1).max(256)).max(16).optional(),
  InstanceGroupNames: z.array(z.string().min(1).max(64)).max(5).optional(),
});

export const channelSchema = z.strictObject({
  ChannelName: z.string().min(1).max(64).regex(CHANNEL_NAME, 'must match [A-Za-z0-9.-_]+'),
  DataSource: z.strictObject({
    S3DataSource: s3DataSourceSchema.optional(),
    FileSystemDataSource: z.unknown().optional(),
  }),
  ContentType: z.string().max(256).optional(),
  CompressionType: z.enum(['None', 'Gzip']).optional(),
  RecordWrapperType: z.enum(['None', 'RecordIO']).optional(),
  InputMode: z.enum(['Pipe', 'File', 'FastFile']).optional(),
  ShuffleConfig: z.strictObject({ Seed: seedSchema }).optional(),
});

export type ChannelInput = z.input<typeof channelSchema>;

/** Validates one Channel object; `what` names it in errors (e.g. a file name). */
export function resolveChannel(input: unknown, what = 'channel', cwd?: string): ChannelSpec {
  const name = typeof input === 'object' && input !== null ? (input as { ChannelName?: unknown }).ChannelName : undefined;
  const label = typeof name === 'string' ? `${what} "${name}"` : what;
  const raw = validate(channelSchema, input, label);
  if (raw.DataSource.FileSystemDataSource !== undefined) {
    throw new ConfigError(`invalid ${label}: DataSource.FileSystemDataSource is not supported; use S3DataSource with a file:// or local S3Uri`, {
      field: 'DataSource.FileSystemDataSource',
    });
  }
  const s3 = raw.DataSource.S3DataSource;
  if (s3 === undefined) {
    throw new ConfigError(`invalid ${label}: DataSource.S3DataSource is required`, { field: 'DataSource.S3DataSource' });
  }
  if (s3.S3DataType === 'Converse') {
    throw new ConfigError(`invalid ${label}: DataSource.S3DataSource.S3DataType "Converse" is not supported`, {
      field: 'DataSource.S3DataSource.S3DataType',
    });
  }
  const attributeNames = s3.AttributeNames ?? [];
  if (s3.S3DataType === 'AugmentedManifestFile' && attributeNames.length === 0) {
    throw new ConfigError(`invalid ${label}: DataSource.S3DataSource.AttributeNames is required for S3DataType AugmentedManifestFile`, {
      field: 'DataSource.S3DataSource.AttributeNames',
    });
  }
  if (s3.S3DataType !== 'AugmentedManifestFile' && attributeNames.length > 0) {
    throw new ConfigError(`invalid ${label}: DataSource.S3DataSource.AttributeNames applies only to S3DataType AugmentedManifestFile`, {
      field: 'DataSource.S3DataSource.AttributeNames',
    });
  }
  let source: SourceUri;
  try {
    source = parseSourceUri(s3.S3Uri, cwd);
  } catch (err) {
    throw new ConfigError(`invalid ${label}: DataSource.S3DataSource.S3Uri: ${(err as Error).message}`, {
      field: 'DataSource.S3DataSource.S3Uri',
    }, { cause: err });
  }
  return Object.freeze({
    name: raw.ChannelName,
    inputMode: raw.InputMode,
    contentType: raw.ContentType,
    compression: raw.CompressionType ?? 'None',
    recordWrapper: raw.RecordWrapperType ?? 'None',
    shuffleSeed: raw.ShuffleConfig?.Seed,
    dataType: s3.S3DataType,
    uri: s3.S3Uri,
    source,
    distribution: s3.S3DataDistributionType ?? 'FullyReplicated',
    attributeNames: Object.freeze([...attributeNames]),
  });
}

/** Validates a list of channels: 1-20 of them, unique names. */
export function resolveChannels(inputs: readonly unknown[], what = 'InputDataConfig', cwd?: string): ChannelSpec[] {
  if (inputs.length === 0) throw new ConfigError(`invalid ${what}: at least one channel is required`, { field: what });
  if (inputs.length > MAX_CHANNELS) {
    throw new ConfigError(`invalid ${what}: ${inputs.length} channels given, SageMaker allows at most ${MAX_CHANNELS}`, { field: what });
  }
  const channels = inputs.map((input, i) => resolveChannel(input, `${what}[${i}]`, cwd));
  const seen = new Set<string>();
  for (const [i, c] of channels.entries()) {
    if (seen.has(c.name)) {
      throw new ConfigError(`invalid ${what}[${i}]: ChannelName "${c.name}" is used twice`, { field: `${what}[${i}].ChannelName` });
    }
    seen.add(c.name);
  }
  return channels;
}
