/**
 * A channel is SageMaker's `Channel` object (CreateTrainingJob.InputDataConfig[i]), validated
 * once against the API's own limits and turned into a frozen `ChannelSpec`.
 *
 * Accepted exactly as in the API: ChannelName, InputMode, ContentType, CompressionType,
 * RecordWrapperType, ShuffleConfig.Seed and DataSource.S3DataSource {S3DataType, S3Uri,
 * S3DataDistributionType, AttributeNames, InstanceGroupNames}. Unknown keys are errors with a
 * did-you-mean hint. Extensions: S3Uri may also be file:///path or a local path.
 * Not supported (clear error): FileSystemDataSource, S3DataType Converse.
 * Extension `Follow` {PollIntervalSeconds, IdleTimeoutSeconds, RescanEvery}: an S3Prefix channel
 * that keeps streaming the objects landing under its prefix (manifest/follow-prefix.ts).
 */
import * as v from 'valibot';
import { ConfigError } from '../core/errors.js';
import { validate } from '../core/validate.js';
import { parseSourceUri, type SourceUri } from '../storage/source-uri.js';

export type InputMode = 'Pipe' | 'File' | 'FastFile';
export type S3DataType = 'S3Prefix' | 'ManifestFile' | 'AugmentedManifestFile';
export type Distribution = 'FullyReplicated' | 'ShardedByS3Key';
export type Compression = 'None' | 'Gzip';
export type RecordWrapper = 'None' | 'RecordIO';

/** A channel that follows its prefix (pipemode extension `Follow`). */
export interface FollowSpec {
  readonly pollIntervalMs: number;
  /** The stream ends when nothing new has landed for this long; undefined = never. */
  readonly idleTimeoutMs: number | undefined;
  /** S3: list the whole prefix every this many polls (late keys); the others start after the last key. */
  readonly rescanEvery: number;
}

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
  /** Follow the prefix as objects land (pipemode extension); undefined = a fixed data set. */
  readonly follow?: FollowSpec | undefined;
}

export const CHANNEL_NAME = /^[A-Za-z0-9.\-_]+$/;
export const MAX_CHANNELS = 20;

/**
 * Whether a channel name can become a folder or file name (input/data/<name>, <name>_<epoch>):
 * one path segment, not `.` or `..`. SageMaker's pattern allows both, but as folder names they
 * would put a channel's files into input/data/ itself or into input/ (over the config files).
 */
export function isSafeChannelName(name: string): boolean {
  return name !== '' && name !== '.' && name !== '..' && !name.includes('/') && !name.includes('\0');
}
const LONG_MIN = -(2n ** 63n);
const LONG_MAX = 2n ** 63n - 1n;

/** ShuffleConfig.Seed is a Java long: accept a safe-integer number or a decimal string. */
const seedSchema = v.pipe(
  v.union([v.number(), v.string()]),
  v.check((value) => typeof value === 'string' || Number.isSafeInteger(value), 'must be an integer; write seeds beyond 2^53 as a string'),
  v.check((value) => typeof value === 'number' || /^-?\d{1,19}$/.test(value), 'must be a decimal integer'),
  v.transform((value) => BigInt(value)),
  v.check((seed) => seed >= LONG_MIN && seed <= LONG_MAX, 'must fit in a signed 64-bit integer'),
);

const s3DataSourceSchema = v.strictObject({
  S3DataType: v.picklist(['S3Prefix', 'ManifestFile', 'AugmentedManifestFile', 'Converse']),
  S3Uri: v.pipe(v.string(), v.minLength(1), v.maxLength(1024)),
  S3DataDistributionType: v.optional(v.picklist(['FullyReplicated', 'ShardedByS3Key'])),
  AttributeNames: v.optional(v.pipe(v.array(v.pipe(v.string(), v.minLength(1), v.maxLength(256))), v.maxLength(16, 'at most 16 attribute names'))),
  InstanceGroupNames: v.optional(v.pipe(v.array(v.pipe(v.string(), v.minLength(1), v.maxLength(64))), v.maxLength(5, 'at most 5 instance groups'))),
});

const secondsSchema = (max: number): v.GenericSchema<number> => v.pipe(v.number(), v.minValue(0.01, 'must be at least 0.01 s'), v.maxValue(max, `must be at most ${max} s`));

const followSchema = v.strictObject({
  PollIntervalSeconds: v.optional(secondsSchema(3600)),
  IdleTimeoutSeconds: v.optional(secondsSchema(30 * 86_400)),
  RescanEvery: v.optional(v.pipe(v.number(), v.integer('must be an integer'), v.minValue(1), v.maxValue(10_000))),
});

export const channelSchema = v.strictObject({
  ChannelName: v.pipe(v.string(), v.minLength(1), v.maxLength(64, 'at most 64 characters'), v.regex(CHANNEL_NAME, 'must match [A-Za-z0-9.-_]+'), v.check(isSafeChannelName, 'must not be "." or "..": a channel name becomes a folder name')),
  DataSource: v.strictObject({
    S3DataSource: v.optional(s3DataSourceSchema),
    FileSystemDataSource: v.optional(v.unknown()),
  }),
  ContentType: v.optional(v.pipe(v.string(), v.maxLength(256))),
  CompressionType: v.optional(v.picklist(['None', 'Gzip'])),
  RecordWrapperType: v.optional(v.picklist(['None', 'RecordIO'])),
  InputMode: v.optional(v.picklist(['Pipe', 'File', 'FastFile'])),
  ShuffleConfig: v.optional(v.strictObject({ Seed: seedSchema })),
  Follow: v.optional(followSchema),
});

export type ChannelInput = v.InferInput<typeof channelSchema>;

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
  if (raw.Follow !== undefined && s3.S3DataType !== 'S3Prefix') {
    throw new ConfigError(`invalid ${label}: Follow applies only to S3DataType S3Prefix (a manifest names a fixed set of objects), got ${s3.S3DataType}`, {
      field: 'Follow',
    });
  }
  const follow: FollowSpec | undefined = raw.Follow === undefined ? undefined : Object.freeze({
    pollIntervalMs: Math.round((raw.Follow.PollIntervalSeconds ?? 2) * 1000),
    idleTimeoutMs: raw.Follow.IdleTimeoutSeconds === undefined ? undefined : Math.round(raw.Follow.IdleTimeoutSeconds * 1000),
    rescanEvery: raw.Follow.RescanEvery ?? 10,
  });
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
    ...(follow !== undefined ? { follow } : {}),
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
