/**
 * Command-line flags → the same validated objects the library takes. Channel flags are written
 * into a SageMaker Channel object (over a spec file's, when one is given) and validated by
 * resolveChannel, so a flag and a spec-file field can never disagree about what is allowed.
 * Enum flags are matched case-insensitively (--compression gzip).
 */
import { CHANNEL_NAME, resolveChannel, type ChannelSpec } from '../channel/channel-spec.js';
import { channelsInSpec, readSpecFile } from '../channel/spec-file.js';
import { parseByteSize } from '../core/byte-size.js';
import { ConfigError } from '../core/errors.js';
import { resolveFetchOptions, type FetchOptions, type FetchSettings } from '../fetch/fetch-options.js';
import type { HostPosition } from '../stream/channel-stream.js';
import type { StoresOptions } from '../storage/stores.js';

/** Channel flags shared by `cat` and `pipe`; undefined = not given. */
export interface ChannelFlags {
  readonly s3DataType?: string;
  readonly distribution?: string;
  readonly attributeNames?: string;
  readonly compression?: string;
  readonly recordWrapper?: string;
  readonly shuffleSeed?: string;
  readonly contentType?: string;
  /** --follow, --poll-interval, --idle-timeout (written into the channel's Follow field). */
  readonly follow?: boolean;
  readonly pollInterval?: string;
  readonly idleTimeout?: string;
}

/** A duration flag in seconds: "2s", "200ms", "1.5m", "1h" or a plain number of seconds. */
export function durationFlag(text: string | undefined, flag: string): number | undefined {
  if (text === undefined) return undefined;
  const m = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)?\s*$/.exec(text);
  if (m === null) throw new ConfigError(`${flag} must be a duration such as 2s, 200ms or 1m, got "${text}"`, { field: flag });
  const scale = { ms: 0.001, s: 1, m: 60, h: 3600 }[(m[2] ?? 's') as 'ms' | 's' | 'm' | 'h'];
  return Number(m[1]) * scale;
}

export interface FetchFlags {
  readonly endpointUrl?: string;
  readonly readTimeout?: string;
  readonly memoryBudget?: string;
  readonly partSize?: string;
  readonly maxRequests?: string;
  readonly maxAttempts?: string;
}

/** A host's place among the job's hosts (ShardedByS3Key; train's one host of many). */
export interface HostFlags {
  readonly hostRank?: string;
  readonly hostCount?: string;
}

function canonical(value: string | undefined, allowed: readonly string[]): string | undefined {
  if (value === undefined) return undefined;
  return allowed.find((a) => a.toLowerCase() === value.toLowerCase()) ?? value;
}

type Json = Record<string, unknown>;

function asObject(v: unknown): Json {
  return typeof v === 'object' && v !== null && !Array.isArray(v) ? { ...(v as Json) } : {};
}

/** A copy of `channel` with the given flags (and source, and name) written into it. */
export function applyChannelFlags(channel: unknown, flags: ChannelFlags, source?: string, name?: string): Json {
  const out = asObject(channel);
  if (name !== undefined) out.ChannelName = name;
  const dataSource = asObject(out.DataSource);
  const s3 = asObject(dataSource.S3DataSource);
  if (source !== undefined) s3.S3Uri = source;
  s3.S3DataType = canonical(flags.s3DataType, ['S3Prefix', 'ManifestFile', 'AugmentedManifestFile']) ?? s3.S3DataType ?? 'S3Prefix';
  const distribution = canonical(flags.distribution, ['FullyReplicated', 'ShardedByS3Key']);
  if (distribution !== undefined) s3.S3DataDistributionType = distribution;
  if (flags.attributeNames !== undefined) s3.AttributeNames = flags.attributeNames.split(',').map((a) => a.trim()).filter((a) => a !== '');
  dataSource.S3DataSource = s3;
  out.DataSource = dataSource;
  const compression = canonical(flags.compression, ['None', 'Gzip']);
  if (compression !== undefined) out.CompressionType = compression;
  const wrapper = canonical(flags.recordWrapper, ['None', 'RecordIO']);
  if (wrapper !== undefined) out.RecordWrapperType = wrapper;
  if (flags.shuffleSeed !== undefined) out.ShuffleConfig = { Seed: flags.shuffleSeed };
  if (flags.contentType !== undefined) out.ContentType = flags.contentType;
  const poll = durationFlag(flags.pollInterval, '--poll-interval');
  const idle = durationFlag(flags.idleTimeout, '--idle-timeout');
  if (flags.follow === true || ((poll !== undefined || idle !== undefined) && out.Follow !== undefined)) {
    const follow = asObject(out.Follow);
    if (poll !== undefined) follow.PollIntervalSeconds = poll;
    if (idle !== undefined) follow.IdleTimeoutSeconds = idle;
    out.Follow = follow;
  } else if (poll !== undefined || idle !== undefined) {
    throw new ConfigError(`${poll !== undefined ? '--poll-interval' : '--idle-timeout'} applies to a followed channel: add --follow`, { field: poll !== undefined ? '--poll-interval' : '--idle-timeout' });
  }
  return out;
}

/** `cat`'s channel: SOURCE and/or --channel FILE, plus flags. */
export function catChannel(source: string | undefined, file: string | undefined, flags: ChannelFlags): ChannelSpec {
  if (source === undefined && file === undefined) {
    throw new ConfigError('a SOURCE (s3://bucket/prefix, file:///path or a local path) or --channel FILE is required', { field: 'SOURCE' });
  }
  let base: unknown = { ChannelName: 'cat' };
  if (file !== undefined) {
    const channels = channelsInSpec(readSpecFile(file), file);
    if (channels.length !== 1) throw new ConfigError(`${file} holds ${channels.length} channels; cat streams one`, { field: '--channel' });
    base = channels[0];
  }
  return resolveChannel(applyChannelFlags(base, flags, source), file !== undefined ? `channel in ${file}` : 'channel');
}

/**
 * `pipe`'s channels from repeated --channel values: `NAME=SOURCE`, or a spec FILE (one channel, a
 * list, or a CreateTrainingJob request). Prefix a file name containing "=" with "./".
 */
export function pipeChannels(values: readonly string[], flags: ChannelFlags): ChannelSpec[] {
  if (values.length === 0) throw new ConfigError('at least one --channel NAME=SOURCE or --channel FILE is required', { field: '--channel' });
  const channels: ChannelSpec[] = [];
  for (const value of values) {
    const eq = value.indexOf('=');
    const name = eq > 0 ? value.slice(0, eq) : undefined;
    if (name !== undefined && CHANNEL_NAME.test(name)) {
      channels.push(resolveChannel(applyChannelFlags({}, flags, value.slice(eq + 1), name), `channel "${name}" (--channel ${value})`));
    } else {
      for (const c of channelsInSpec(readSpecFile(value), value)) channels.push(resolveChannel(applyChannelFlags(c, flags), `channel in ${value}`));
    }
  }
  const names = new Set<string>();
  for (const c of channels) {
    if (names.has(c.name)) throw new ConfigError(`channel "${c.name}" is given twice`, { field: '--channel' });
    names.add(c.name);
  }
  if (channels.length > 20) throw new ConfigError(`${channels.length} channels given; SageMaker allows at most 20`, { field: '--channel' });
  return channels;
}

/** An integer flag within [min, max]; undefined when not given. */
export function intFlag(text: string | undefined, flag: string, min: number, max: number): number | undefined {
  if (text === undefined) return undefined;
  const n = Number(text);
  if (!/^\d+$/.test(text.trim()) || !Number.isSafeInteger(n) || n < min || n > max) {
    throw new ConfigError(`${flag} must be an integer from ${min} to ${max}, got "${text}"`, { field: flag });
  }
  return n;
}

/** A byte-size flag (64MiB, 8M, 1024); undefined when not given. */
export function sizeFlag(text: string | undefined, flag: string): number | undefined {
  if (text === undefined) return undefined;
  const n = parseByteSize(text);
  if (n === undefined) throw new ConfigError(`${flag} must be a byte size such as 64MiB or 8M, got "${text}"`, { field: flag });
  return n;
}

/** The fetch flags that were given (the mode's defaults fill in the rest when they are resolved). */
export function fetchSettings(flags: FetchFlags): FetchSettings {
  const maxAttempts = intFlag(flags.maxAttempts, '--max-attempts', 1, 100);
  return Object.freeze({
    partSize: sizeFlag(flags.partSize, '--part-size'),
    memoryBudget: sizeFlag(flags.memoryBudget, '--memory-budget'),
    maxRequests: intFlag(flags.maxRequests, '--max-requests', 1, 1024),
    ...(maxAttempts !== undefined ? { retry: { maxAttempts } } : {}),
  });
}

/** Fetch flags over the defaults of Pipe and File mode, validated and frozen. */
export function fetchOptions(flags: FetchFlags, defaults?: FetchOptions): FetchOptions {
  return resolveFetchOptions(fetchSettings(flags), defaults);
}

/** Store settings from flags: S3 endpoint, and how long a GET may go without a byte. */
export function storesOptions(flags: FetchFlags): StoresOptions {
  const seconds = intFlag(flags.readTimeout, '--read-timeout', 1, 3600);
  return {
    s3: {
      ...(flags.endpointUrl !== undefined ? { endpoint: flags.endpointUrl } : {}),
      ...(seconds !== undefined ? { idleTimeoutMs: seconds * 1000 } : {}),
    },
  };
}

export function hostPosition(flags: HostFlags): HostPosition {
  const hostCount = intFlag(flags.hostCount, '--host-count', 1, 100_000) ?? 1;
  const hostRank = intFlag(flags.hostRank, '--host-rank', 0, 100_000) ?? 0;
  if (hostRank >= hostCount) {
    throw new ConfigError(`--host-rank is 0-based and must be below --host-count (${hostCount}), got ${hostRank}`, { field: '--host-rank' });
  }
  return Object.freeze({ hostRank, hostCount });
}
