/**
 * Record formats by name: the decoder and encoder for each, and the name parser the CLI and the
 * readers share. `protobuf` is RecordIO framing whose payloads are `aialgs.data.Record`s: its
 * decoder and encoder deal in payload bytes (decodeProtobufRecord / encodeProtobufRecord turn
 * them into objects), so every format's records are plain Buffers.
 */
import { ConfigError } from '../core/errors.js';
import { closest } from '../core/did-you-mean.js';
import { LinesDecoder, linesEncoder } from './lines.js';
import { RECORD_FORMATS, type DecoderOptions, type RecordDecoder, type RecordEncoder, type RecordFormat } from './record-interfaces.js';
import { recordioEncoder } from './recordio.js';
import { RecordioDecoder } from './recordio-decoder.js';
import { TfrecordDecoder, tfrecordEncoder } from './tfrecord.js';

export function createRecordDecoder(format: RecordFormat, options: DecoderOptions = {}): RecordDecoder {
  switch (format) {
    case 'recordio':
    case 'protobuf':
      return new RecordioDecoder({ ...options, format });
    case 'tfrecord':
      return new TfrecordDecoder(options);
    case 'lines':
      return new LinesDecoder(options);
  }
}

const protobufEncoder: RecordEncoder = Object.freeze({ ...recordioEncoder, format: 'protobuf' });

export function recordEncoderFor(format: RecordFormat): RecordEncoder {
  switch (format) {
    case 'recordio': return recordioEncoder;
    case 'protobuf': return protobufEncoder;
    case 'tfrecord': return tfrecordEncoder;
    case 'lines': return linesEncoder;
  }
}

/** A format name (case-insensitive) as given by a user, one of `allowed`; ConfigError naming `field` otherwise. */
export function parseRecordFormat(text: string, field: string): RecordFormat;
export function parseRecordFormat<T extends string>(text: string, field: string, allowed: readonly T[]): T;
export function parseRecordFormat(text: string, field: string, allowed: readonly string[] = RECORD_FORMATS): string {
  const found = allowed.find((f) => f === text.toLowerCase());
  if (found !== undefined) return found;
  const hint = closest(text, allowed);
  throw new ConfigError(`${field} must be one of ${allowed.join(', ')}, got "${text}"${hint === undefined ? '' : ` (did you mean "${hint}"?)`}`, { field });
}

/** File name extension of shards in a format (what `convert` writes). */
export const SHARD_EXTENSION: Readonly<Record<RecordFormat, string>> = Object.freeze({
  recordio: 'rec',
  tfrecord: 'tfrecord',
  protobuf: 'pbr',
  lines: 'txt',
});
