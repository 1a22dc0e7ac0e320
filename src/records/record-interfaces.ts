/**
 * The shape every record format shares, so that readers, `inspect` and `convert` pick a format by
 * name and never care which one it is.
 *
 * A decoder is a push parser with no I/O: feed it the stream's bytes in chunks of any size, in
 * order, and it returns the records each chunk completes; `end()` says the stream is over (a
 * stream that stops inside a record is an error there, never a short success). Records are
 * views of the pushed chunks whenever a record lies inside one chunk (no copy), so a pushed chunk
 * must not be modified or reused afterwards. Records spanning chunks, and multi-part RecordIO
 * records, are copied once into a buffer of their own.
 *
 * An encoder frames one record as a few pieces (header, the record itself, trailer), never
 * copying the record, so a writer can hand them to writev or an upload as they are.
 *
 * Errors: RecordFormatError with `details` { format, record (0-based index), offset (byte in the
 * stream where decoding failed), source? } and a message that says the same. The records a chunk
 * completed before the fault are still returned; the error is thrown by the next push() or end(),
 * so a streaming reader delivers every good record first. A decoder that threw stays failed.
 */
import { RecordFormatError } from '../core/errors.js';

/** Record formats by name: see docs/formats/. `protobuf` is RecordIO-framed `aialgs.data.Record`. */
export type RecordFormat = 'recordio' | 'tfrecord' | 'protobuf' | 'lines';

export const RECORD_FORMATS: readonly RecordFormat[] = Object.freeze(['recordio', 'tfrecord', 'protobuf', 'lines']);

export interface RecordDecoder {
  readonly format: RecordFormat;
  /** Feeds the next bytes of the stream; returns the records they complete, in stream order. */
  push(chunk: Buffer): readonly Buffer[];
  /** The stream is over: returns its last records (a final unterminated line) or throws if it stopped inside a record. */
  end(): readonly Buffer[];
  /** Stream offsets at which the records returned by the last push() or end() begin (parallel to them). */
  readonly starts: readonly number[];
  /** Records returned so far. */
  readonly records: number;
  /** Stream offset of the first byte not yet part of a returned record. */
  readonly offset: number;
}

export interface RecordEncoder {
  readonly format: RecordFormat;
  /** The framed record as pieces to write in order; `record` itself is one of them, not a copy. */
  encode(record: Buffer): Buffer[];
  /** Length of the framed form of a record of `length` bytes. */
  framedLength(length: number): number;
}

export interface DecoderOptions {
  /** Names the stream in error messages (a file, a FIFO, an S3 URI). */
  readonly source?: string | undefined;
}

/** Nothing completed: shared, frozen, so push() allocates nothing when a chunk ends no record. */
export const NO_RECORDS: readonly Buffer[] = Object.freeze([]);

/** The error every decoder throws: "<format>: record N at byte X[ of SOURCE]: what went wrong". */
export function recordFormatError(
  format: RecordFormat, source: string | undefined, record: number, offset: number, problem: string,
): RecordFormatError {
  const where = source === undefined ? '' : ` of ${source}`;
  return new RecordFormatError(`${format}: record ${record} at byte ${offset}${where}: ${problem}`, {
    format, record, offset, ...(source === undefined ? {} : { source }),
  });
}
