/**
 * SplitType: how one input file (its bytes already inflated, as chunks) becomes what is sent to
 * the model. Three modes, chosen by `payloadMode(splitType, maxPayloadInMB)`:
 *
 * - `records` (SplitType Line, RecordIO, TFRecord): `splitRecords()` yields the file's records one
 *   by one, decoded by src/records/ (LinesDecoder, RecordioDecoder, TfrecordDecoder). A record is
 *   its payload: a line without its "\n" (a "\r" before it stays: bytes, not text), a RecordIO or
 *   TFRecord record without its header, padding or checksums. mini-batcher.ts frames them again
 *   for the request as SageMaker does (padding removed for SingleRecord, kept for MultiRecord).
 *   Memory: the decoder's partial record only; records are views of the pushed chunks.
 * - `whole` (SplitType None, MaxPayloadInMB > 0): `wholeObject()` gathers the file into one
 *   payload, failing with PayloadTooLargeError as soon as it grows past the limit (it never holds
 *   more than limit + one chunk).
 * - `stream` (SplitType None, MaxPayloadInMB 0: "arbitrarily large ... transmitted using HTTP
 *   chunked encoding"): the chunks themselves are the request body; nothing here holds them.
 *
 * Errors: RecordFormatError from the decoders (file, record index, byte offset), after every
 * complete record before the fault; PayloadTooLargeError from wholeObject().
 */
import { PayloadTooLargeError } from '../core/errors.js';
import { decodeRecords } from '../records/decode-records.js';
import { createRecordDecoder } from '../records/record-registry.js';
import type { RecordFormat } from '../records/record-interfaces.js';
import type { SplitType } from './transform-job-spec.js';

export type PayloadMode = 'records' | 'whole' | 'stream';

/** Bytes in one MB of MaxPayloadInMB: 1 MiB, as SageMaker's local mode counts (`size * 1024 * 1024`). */
export const BYTES_PER_MB = 1_048_576;

export function payloadMode(splitType: SplitType, maxPayloadInMB: number): PayloadMode {
  if (splitType !== 'None') return 'records';
  return maxPayloadInMB === 0 ? 'stream' : 'whole';
}

const FORMAT: Readonly<Record<Exclude<SplitType, 'None'>, RecordFormat>> = {
  Line: 'lines',
  RecordIO: 'recordio',
  TFRecord: 'tfrecord',
};

/** The src/records/ format that decodes a SplitType's records. */
export function recordFormatFor(splitType: Exclude<SplitType, 'None'>): RecordFormat {
  return FORMAT[splitType];
}

/**
 * The records of one file, in order. Pulls only as fast as the consumer takes them, and closes
 * `chunks` if the consumer stops early. `source` names the file in errors.
 */
export function splitRecords(chunks: AsyncIterable<Buffer>, splitType: Exclude<SplitType, 'None'>, source?: string): AsyncGenerator<Buffer, void, undefined> {
  return decodeRecords(chunks, createRecordDecoder(FORMAT[splitType], { source }));
}

/**
 * The whole file as one payload (SplitType None). `maxPayloadBytes` > 0; a file larger than it is
 * a PayloadTooLargeError, thrown once the bytes read pass the limit (the rest is not read).
 */
export async function wholeObject(chunks: AsyncIterable<Buffer>, maxPayloadBytes: number, source?: string): Promise<Buffer> {
  const parts: Buffer[] = [];
  let size = 0;
  for await (const chunk of chunks) {
    size += chunk.length;
    if (size > maxPayloadBytes) {
      const where = source === undefined ? 'the object' : source;
      throw new PayloadTooLargeError(
        `SplitType None: ${where} is at least ${size} bytes, more than MaxPayloadInMB allows (${maxPayloadBytes} bytes); split it with SplitType Line, RecordIO or TFRecord, or raise MaxPayloadInMB`,
        { ...(source === undefined ? {} : { source }), size, limit: maxPayloadBytes },
      );
    }
    parts.push(chunk);
  }
  return parts.length === 1 ? parts[0] as Buffer : Buffer.concat(parts, size);
}
