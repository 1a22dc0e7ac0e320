/**
 * MXNet (dmlc) RecordIO framing, as SageMaker's RecordWrapperType=RecordIO writes it.
 *
 *   magic u32 LE = 0xCED7230A | lrec u32 LE = cflag << 29 | length | data | zero pad to 4 bytes
 *
 * pipemode always writes single-part records (cflag 0): every reader (dmlc, PipeModeDataset,
 * ml-io) reads those the same way. So a record holds at most 2^29 - 1 bytes.
 * Spec and test vectors: docs/formats/recordio.md.
 */

export const RECORDIO_MAGIC = 0xced7230a;
/** Largest payload of a single-part record: the length field has 29 bits. */
export const RECORDIO_MAX_LENGTH = 2 ** 29 - 1;

/** Bytes of zero padding after a payload of `length` bytes. */
export function recordioPadLength(length: number): number {
  return (4 - (length % 4)) % 4;
}

/** The 8-byte header of a single-part record of `length` bytes (caller checks the limit). */
export function recordioHeader(length: number): Buffer {
  const header = Buffer.allocUnsafe(8);
  header.writeUInt32LE(RECORDIO_MAGIC, 0);
  header.writeUInt32LE(length, 4);
  return header;
}

const ZERO_PAD = Buffer.alloc(3);

/** The zero padding after a payload of `length` bytes (possibly empty). */
export function recordioPadding(length: number): Buffer {
  return ZERO_PAD.subarray(0, recordioPadLength(length));
}
