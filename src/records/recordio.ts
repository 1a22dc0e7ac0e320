/**
 * MXNet (dmlc) RecordIO framing, as SageMaker's RecordWrapperType=RecordIO writes it.
 *
 *   magic u32 LE = 0xCED7230A | lrec u32 LE = cflag << 29 | length | data | zero pad to 4 bytes
 *
 * pipemode always writes single-part records (cflag 0): every reader (dmlc, PipeModeDataset,
 * ml-io) reads those the same way. So a record holds at most 2^29 - 1 bytes. Reading multi-part
 * records is recordio-decoder.ts's job. Spec and test vectors: docs/formats/recordio.md.
 */
import { RecordTooLargeError } from '../core/errors.js';
import type { RecordEncoder } from './record-interfaces.js';

export const RECORDIO_MAGIC = 0xced7230a;
/** Largest payload of a single-part record: the length field has 29 bits. */
export const RECORDIO_MAX_LENGTH = 2 ** 29 - 1;

/** Part flags (`cflag`, the top 3 bits of lrec). */
export const RECORDIO_CFLAG = Object.freeze({ WHOLE: 0, FIRST: 1, MIDDLE: 2, LAST: 3 });

/** Bytes of zero padding after a payload of `length` bytes. */
export function recordioPadLength(length: number): number {
  return (4 - (length % 4)) % 4;
}

/** The 8-byte header of a single-part record of `length` bytes (caller checks the limit). */
export function recordioHeader(length: number): Buffer {
  return recordioPartHeader(length, RECORDIO_CFLAG.WHOLE);
}

/** The 8-byte header of one part of a record (cflag 0-3; length < 2^29, caller checks). */
export function recordioPartHeader(length: number, cflag: number): Buffer {
  const header = Buffer.allocUnsafe(8);
  header.writeUInt32LE(RECORDIO_MAGIC, 0);
  header.writeUInt32LE(((cflag << 29) | length) >>> 0, 4);
  return header;
}

const ZERO_PAD = Buffer.alloc(3);

/** The zero padding after a payload of `length` bytes (possibly empty). */
export function recordioPadding(length: number): Buffer {
  return ZERO_PAD.subarray(0, recordioPadLength(length));
}

/** Frames records as single-part RecordIO records; RecordTooLargeError for 2^29 bytes or more. */
export const recordioEncoder: RecordEncoder = Object.freeze({
  format: 'recordio',
  encode(record: Buffer): Buffer[] {
    if (record.length > RECORDIO_MAX_LENGTH) {
      throw new RecordTooLargeError(`a record of ${record.length} bytes cannot be one RecordIO record (at most ${RECORDIO_MAX_LENGTH} bytes)`, { size: record.length });
    }
    const pad = recordioPadLength(record.length);
    return pad === 0 ? [recordioHeader(record.length), record] : [recordioHeader(record.length), record, ZERO_PAD.subarray(0, pad)];
  },
  framedLength(length: number): number {
    return 8 + length + recordioPadLength(length);
  },
});
