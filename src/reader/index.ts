/**
 * pipemode's reader library for training code in Node.js: `import { openChannel } from
 * 'pipemode/reader'`. A channel's records, epoch by epoch, the same way in Pipe, File and
 * FastFile mode (open-channel.ts), in the formats of docs/formats/: MXNet RecordIO (multi-part
 * records read as SageMaker reads them), TFRecord (both CRCs checked), RecordIO-protobuf
 * (`aialgs.data.Record`; decodeProtobufRecord turns a record into plain JSON-able data) and text
 * lines.
 *
 * Design: FIFOs are read through epoll, never a blocked threadpool thread (fifo-chunks.ts);
 * decoding is pull-driven, so a slow trainer slows the FIFO and pipemode's fetching, and memory
 * stays bounded; a pipemode epoch that ended early is an error (its `.error` marker), as is any
 * corrupt record (RecordFormatError: record index and byte offset). Errors are pipemode's typed
 * errors (`err.code`, docs/errors.md).
 */
export { openChannel, type ChannelEpoch, type ChannelReader, type OpenChannelOptions, type ReaderFormat } from './open-channel.js';
export { channelInputConfig, channelInputMode, inputDataConfigPath, type ChannelInputConfig } from './input-data-config.js';
export type { InputMode } from '../channel/channel-spec.js';
export { RECORD_FORMATS, type RecordFormat, type RecordDecoder, type RecordEncoder } from '../records/record-interfaces.js';
export { createRecordDecoder, recordEncoderFor } from '../records/record-registry.js';
export { decodeRecords } from '../records/decode-records.js';
export { encodeProtobufRecord, type ProtobufRecord, type ProtobufValue, type ProtobufTensor, type ProtobufBytes } from '../records/protobuf-record.js';
export { decodeProtobufRecord } from '../records/protobuf-record-decoder.js';
export { protobufRecordFromJson, protobufRecordToJson } from '../records/protobuf-json.js';
export {
  PipemodeError, RecordFormatError, FifoError, ConfigError, AbortedError, isPipemodeError, type ErrorDetails,
} from '../core/errors.js';
