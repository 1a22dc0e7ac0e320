/**
 * pipemode's library API: everything not exported here is internal and may change.
 * `test/types/public-api.test-d.ts` pins this surface at compile time.
 *
 * @example Serve a channel's Pipe-mode FIFOs from code
 * ```ts
 * import { ChannelStream, Stores, resolveChannel, servePipes } from 'pipemode';
 * const spec = resolveChannel({ ChannelName: 'train', DataSource: { S3DataSource: { S3DataType: 'S3Prefix', S3Uri: 's3://bucket/train/' } } });
 * const stores = new Stores();
 * const stream = await ChannelStream.open(spec, stores, {}, { hostRank: 0, hostCount: 1 });
 * await servePipes([stream], { dir: '/opt/ml/input/data', epochs: 3 });
 * stores.close();
 * ```
 */
export {
  PipemodeError, isPipemodeError, HTTP, type HttpMapping, type ErrorDetails,
  ConfigError, SpecFileError, SourceUriError, EmptySourceError, ManifestError, NoSuchKeyError, NoSuchBucketError,
  AccessDeniedError, ObjectChangedError, TransientStoreError, RetriesExhaustedError, StoreProtocolError,
  RecordTooLargeError, GzipError, MemoryBudgetError, FifoError, AbortedError, RecordFormatError, InputFormatError,
  UnsafeKeyError, MountError, InternalError,
} from './core/errors.js';
export { EXIT } from './core/exit-status.js';
export { parseByteSize, formatBytes } from './core/byte-size.js';
export { createLogger, silentLogger, type Logger, type LogLevel } from './core/log.js';
export {
  resolveChannel, resolveChannels, CHANNEL_NAME, MAX_CHANNELS,
  type ChannelSpec, type ChannelInput, type InputMode, type S3DataType, type Distribution, type Compression, type RecordWrapper,
} from './channel/channel-spec.js';
export { readSpecFile, channelsInSpec } from './channel/spec-file.js';
export { parseSourceUri, formatSourceUri, type SourceUri } from './storage/source-uri.js';
export type { ObjectInfo, ObjectStore } from './storage/object-store.js';
export { Stores, type StoresOptions } from './storage/stores.js';
export { DEFAULT_RETRY_POLICY, type RetryPolicy } from './storage/retry.js';
export { DEFAULT_FETCH_OPTIONS, MOUNT_FETCH_OPTIONS, resolveFetchOptions, type FetchOptions, type FetchSettings } from './fetch/fetch-options.js';
export type { FetchStats } from './fetch/prefetcher.js';
export { ChannelStream, type EpochBytes, type HostPosition, type Split } from './stream/channel-stream.js';
export { servePipes, fifoPath, errorMarkerPath, type PipeServerOptions, type EpochEvent, type EpochDoneEvent } from './pipe/channel-pipes.js';
export { downloadChannel, type DownloadOptions, type DownloadResult } from './download/download-channel.js';
export { mountChannel, type ChannelMount, type MountOptions } from './mount/index.js';
export * from './reader/index.js';
export { resolveJob, type JobSpec } from './training/job-spec.js';
export { runJob, type RunJobOptions, type JobOutcome } from './training/run-job.js';
export { readJobRecord, type JobRecord } from './training/job-status.js';
