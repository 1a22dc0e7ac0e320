/**
 * pipemode's library API: everything not exported here is internal.
 *
 * @example Serve a channel's Pipe-mode FIFOs from code
 * ```ts
 * import { ChannelStream, DEFAULT_FETCH_OPTIONS, Stores, resolveChannel, servePipes } from 'pipemode';
 * const spec = resolveChannel({ ChannelName: 'train', DataSource: { S3DataSource: { S3DataType: 'S3Prefix', S3Uri: 's3://bucket/train/' } } });
 * const stores = new Stores();
 * const stream = await ChannelStream.open(spec, stores, DEFAULT_FETCH_OPTIONS, { hostRank: 0, hostCount: 1 });
 * await servePipes([stream], { dir: '/opt/ml/input/data', epochs: 3 });
 * stores.close();
 * ```
 */
export * from './core/errors.js';
export { parseByteSize, formatBytes } from './core/byte-size.js';
export { createLogger, silentLogger, type Logger, type LogLevel } from './core/log.js';
export {
  resolveChannel, resolveChannels, channelSchema, CHANNEL_NAME, MAX_CHANNELS,
  type ChannelSpec, type ChannelInput, type InputMode, type S3DataType, type Distribution, type Compression, type RecordWrapper,
} from './channel/channel-spec.js';
export { parseSourceUri, formatSourceUri, type SourceUri } from './channel/source-uri.js';
export { readSpecFile, channelsInSpec } from './channel/spec-file.js';
export { compareKeys, type ObjectInfo, type ObjectStore } from './storage/object-store.js';
export { Stores, type StoresOptions } from './storage/stores.js';
export { FileStore } from './storage/file/file-store.js';
export { MemoryStore, ramp, type MemoryStoreOptions, type ReadFault, type ReadRequest } from './storage/memory/memory-store.js';
export type { Item, Unit, ObjectUnit, InlineUnit } from './manifest/unit.js';
export { planEpoch, type EpochPlanOptions } from './plan/epoch-plan.js';
export { Prng } from './plan/prng.js';
export { Prefetcher, FetchStats, DEFAULT_FETCH_OPTIONS, type FetchOptions, type UnitData } from './fetch/prefetcher.js';
export { DEFAULT_RETRY_POLICY, type RetryPolicy } from './fetch/retry.js';
export { RECORDIO_MAGIC, RECORDIO_MAX_LENGTH, recordioHeader, recordioPadding } from './records/recordio.js';
export { RECORD_FORMATS, type RecordFormat, type RecordDecoder, type RecordEncoder } from './records/record-codec.js';
export { createRecordDecoder, recordEncoderFor } from './records/record-format.js';
export { decodeProtobufRecord, encodeProtobufRecord, type ProtobufRecord } from './records/protobuf-record.js';
export { resolveJob, type JobSpec } from './runner/job-spec.js';
export { runJob, type RunJobOptions, type JobOutcome } from './runner/run-job.js';
export { readJobRecord, type JobRecord } from './runner/job-status.js';
export { ChannelStream, type EpochBytes, type HostPosition, type Split } from './stream/channel-stream.js';
export { servePipes, fifoPath, errorMarkerPath, type PipeServerOptions, type EpochEvent, type EpochDoneEvent } from './pipe/channel-pipes.js';
export { writeToPipe, type WriteResult, type WriteOutcome } from './pipe/pipe-writer.js';
export {
  mountChannel, cleanStaleMount, fuseUnavailableReason, MountStats, DEFAULT_MOUNT_BUDGET, DEFAULT_MOUNT_REQUESTS,
  type ChannelMount, type MountOptions,
} from './mount/index.js';
