/**
 * TFRecord framing (TensorFlow's record_writer / PipeModeDataset's TFRecordReader):
 *
 *   length u64 LE | masked_crc32c(length bytes) u32 LE | data[length] | masked_crc32c(data) u32 LE
 *
 * Both checksums are verified on read: a mismatch is a RecordFormatError naming the record and
 * the byte offset of its length field (PipeModeDataset's option to skip bad records is not
 * offered: a reader that skips data silently is what pipemode exists to avoid). Records larger
 * than a Node.js Buffer can hold are refused. A record inside one pushed chunk is returned as a
 * view of it. Spec and test vectors: docs/formats/tfrecord.md.
 */
import { constants } from 'node:buffer';
import { crc32c, maskCrc, maskedCrc32c } from './crc32c.js';
import { FramedDecoder } from './framed-decoder.js';
import { NO_RECORDS, recordFormatError, type DecoderOptions, type RecordEncoder } from './record-interfaces.js';

/** Bytes before the data (length, its CRC) and after it (the data's CRC). */
const HEADER = 12;
const TRAILER = 4;

/** The 12-byte header of a record of `length` bytes. */
export function tfrecordHeader(length: number): Buffer {
  const header = Buffer.allocUnsafe(HEADER);
  header.writeUInt32LE(length % 2 ** 32, 0);
  header.writeUInt32LE(Math.floor(length / 2 ** 32), 4);
  header.writeUInt32LE(maskedCrc32c(header.subarray(0, 8)), 8);
  return header;
}

/** The 4-byte trailer of `data`: its masked CRC-32C. */
export function tfrecordTrailer(data: Uint8Array): Buffer {
  const trailer = Buffer.allocUnsafe(TRAILER);
  trailer.writeUInt32LE(maskedCrc32c(data), 0);
  return trailer;
}

export const tfrecordEncoder: RecordEncoder = Object.freeze({
  format: 'tfrecord',
  encode(record: Buffer): Buffer[] {
    return [tfrecordHeader(record.length), record, tfrecordTrailer(record)];
  },
  framedLength(length: number): number {
    return HEADER + length + TRAILER;
  },
});

export class TfrecordDecoder extends FramedDecoder {
  readonly format = 'tfrecord' as const;
  readonly #source: string | undefined;
  readonly #header = Buffer.alloc(HEADER);
  #position = 0;
  /** Data length of the record whose header was checked, or -1 when the next header is unread. */
  #length = -1;

  constructor(options: DecoderOptions = {}) {
    super();
    this.#source = options.source;
  }

  get offset(): number {
    return this.#position;
  }

  protected decode(out: Buffer[]): void {
    const q = this.queue;
    for (;;) {
      if (this.#length < 0) {
        if (q.length < HEADER) break;
        this.#length = this.#readHeader();
      }
      const length = this.#length;
      if (q.length < HEADER + length + TRAILER) break;
      q.skip(HEADER);
      const data = q.take(length);
      const stored = q.uint32LE(0);
      q.skip(TRAILER);
      const actual = maskCrc(crc32c(data));
      if (stored !== actual) {
        throw this.#error(`data CRC mismatch: stored 0x${hex(stored)}, computed 0x${hex(actual)} over ${length} bytes`);
      }
      this.callStarts.push(this.#position);
      this.#position += HEADER + length + TRAILER;
      this.#length = -1;
      this.count++;
      out.push(data);
    }
  }

  protected finish(): readonly Buffer[] {
    const have = this.queue.length;
    if (have === 0) return NO_RECORDS;
    if (this.#length < 0) throw this.#error(`the stream ends inside a record header (${have} of ${HEADER} bytes)`);
    throw this.#error(`the stream ends inside a record: ${have} of its ${HEADER + this.#length + TRAILER} bytes`);
  }

  /** Checks the header at the front of the queue; returns the data length. */
  #readHeader(): number {
    const h = this.#header;
    this.queue.copyTo(h, 0, HEADER);
    const stored = h.readUInt32LE(8);
    const actual = maskedCrc32c(h.subarray(0, 8));
    if (stored !== actual) {
      throw this.#error(`length CRC mismatch: stored 0x${hex(stored)}, computed 0x${hex(actual)} (not TFRecord, or the stream is out of step)`);
    }
    const high = h.readUInt32LE(4);
    const length = high * 2 ** 32 + h.readUInt32LE(0);
    if (high >= 2 ** 21 || length > constants.MAX_LENGTH) {
      throw this.#error(`a record of ${high >= 2 ** 21 ? 'more than 2^53' : length} bytes is larger than this reader can hold (${constants.MAX_LENGTH} bytes)`);
    }
    return length;
  }

  #error(problem: string): ReturnType<typeof recordFormatError> {
    return recordFormatError('tfrecord', this.#source, this.count, this.#position, problem);
  }
}

function hex(n: number): string {
  return n.toString(16).padStart(8, '0');
}

export { HEADER as TFRECORD_HEADER_LENGTH, TRAILER as TFRECORD_TRAILER_LENGTH };
