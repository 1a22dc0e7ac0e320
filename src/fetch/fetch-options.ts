/**
 * How a channel's bytes are fetched, resolved once: every reader of a channel — the Pipe-mode
 * prefetcher, File-mode downloads and FastFile mounts — takes the same frozen `FetchOptions`,
 * checked by the one validator here, so the memory budget has one meaning everywhere: the bytes
 * fetched ahead of the consumer (in flight or buffered) for one channel, or one mount, never
 * exceeded. Modes differ only in their defaults (a mount's budget also holds prefetched files).
 */
import { ConfigError } from '../core/errors.js';
import { DEFAULT_RETRY_POLICY, type RetryPolicy } from '../storage/retry.js';

export interface FetchOptions {
  /** Bytes per ranged GET. @default 16 MiB (8 MiB for a mount) */
  readonly partSize: number;
  /** Concurrent GETs (and, separately, HEADs). @default 16 (32 for a mount) */
  readonly maxRequests: number;
  /** Bytes fetched ahead of the consumer, in flight or buffered. @default 128 MiB (256 MiB for a mount) */
  readonly memoryBudget: number;
  readonly retry: RetryPolicy;
}

/** What a caller may set; the rest comes from the mode's defaults. */
export interface FetchSettings {
  readonly partSize?: number | undefined;
  readonly maxRequests?: number | undefined;
  readonly memoryBudget?: number | undefined;
  readonly retry?: Partial<RetryPolicy> | undefined;
}

/**
 * 16 MiB parts: the store's cost is mostly per request, so halving the requests for the same bytes
 * gave the server back CPU and the channel ~3 % more throughput against 8 MiB on a loopback Ceph
 * (docs/benchmarks.md); the first GET of a channel asks for 1 MiB or less either way. 16 requests
 * keep many small objects in flight; for large objects the budget allows 8 parts ahead, enough to
 * hide S3's first-byte latency.
 */
export const DEFAULT_FETCH_OPTIONS: FetchOptions = Object.freeze({
  partSize: 16 * 1024 * 1024,
  maxRequests: 16,
  memoryBudget: 128 * 1024 * 1024,
  retry: DEFAULT_RETRY_POLICY,
});

/**
 * A FastFile mount serves many files read at once by the kernel, and its budget also holds the
 * files prefetched ahead of the reader: 32 GETs (small files need many in flight to hide each
 * request's latency), 256 MiB, and 8 MiB parts (its read-ahead grows a file's window part by part).
 */
export const MOUNT_FETCH_OPTIONS: FetchOptions = Object.freeze({
  ...DEFAULT_FETCH_OPTIONS,
  partSize: 8 * 1024 * 1024,
  maxRequests: 32,
  memoryBudget: 256 * 1024 * 1024,
});

const MIN_PART = 64 * 1024;
const resolved = new WeakSet<FetchOptions>();

function check(o: FetchOptions): void {
  if (!Number.isSafeInteger(o.partSize) || o.partSize < MIN_PART) throw new ConfigError(`part size must be at least 64 KiB, got ${o.partSize}`, { field: 'partSize' });
  if (!Number.isSafeInteger(o.maxRequests) || o.maxRequests < 1 || o.maxRequests > 1024) throw new ConfigError(`max requests must be 1-1024, got ${o.maxRequests}`, { field: 'maxRequests' });
  if (!Number.isSafeInteger(o.memoryBudget) || o.memoryBudget < o.partSize) {
    throw new ConfigError(`memory budget (${o.memoryBudget}) must be at least the part size (${o.partSize})`, { field: 'memoryBudget' });
  }
  const r = o.retry;
  if (!Number.isSafeInteger(r.maxAttempts) || r.maxAttempts < 1 || r.maxAttempts > 100) throw new ConfigError(`max attempts must be 1-100, got ${r.maxAttempts}`, { field: 'maxAttempts' });
  if (!(r.baseDelayMs >= 0 && r.maxDelayMs >= r.baseDelayMs)) throw new ConfigError(`retry delays must satisfy 0 <= base (${r.baseDelayMs}) <= max (${r.maxDelayMs})`, { field: 'retry' });
}

/**
 * The options of one of `parts` readers that share a channel (several FIFOs per channel): the
 * memory budget is divided among them, never below one part.
 */
export function shareOf(options: FetchOptions, parts: number): FetchOptions {
  if (parts <= 1) return options;
  return resolveFetchOptions({ ...options, memoryBudget: Math.max(options.partSize, Math.floor(options.memoryBudget / parts)) });
}

/**
 * Settings over a mode's defaults → validated, frozen options (ConfigError naming the field).
 * Options that are already resolved come back as they are.
 */
export function resolveFetchOptions(settings: FetchSettings | FetchOptions = {}, defaults: FetchOptions = DEFAULT_FETCH_OPTIONS): FetchOptions {
  if (resolved.has(settings as FetchOptions)) return settings as FetchOptions;
  const options: FetchOptions = Object.freeze({
    partSize: settings.partSize ?? defaults.partSize,
    maxRequests: settings.maxRequests ?? defaults.maxRequests,
    memoryBudget: settings.memoryBudget ?? defaults.memoryBudget,
    retry: Object.freeze({ ...defaults.retry, ...settings.retry }),
  });
  check(options);
  resolved.add(options);
  return options;
}
