/**
 * Streaming MXNet RecordIO decoder, reading multi-part records the way SageMaker's readers do
 * (PipeModeDataset's RecordIOReader, ml-io): a record is either one part with cflag 0, or a
 * part with cflag 1, any number with cflag 2 and one with cflag 3, whose payloads are
 * concatenated as they are (dmlc-core's own reader would re-insert the magic between parts;
 * SageMaker's do not, and neither does this one). Every part is padded to 4 bytes, the last
 * part of the stream included.
 *
 * Stricter than PipeModeDataset, like ml-io: a wrong magic, a flag out of sequence (a 2 or 3
 * with no record open, a 0 or 1 inside one), a flag above 3, or a stream that ends inside a
 * part or a multi-part record is a RecordFormatError naming the record and the byte offset of
 * the offending part header. Padding bytes are not checked (no reader checks them).
 *
 * Allocation: a single-part record inside one pushed chunk is returned as a view of the chunk;
 * multi-part records are copied once into a buffer of their total size.
 */
import { FramedDecoder } from './framed-decoder.js';
import { NO_RECORDS, recordFormatError, type DecoderOptions, type RecordFormat } from './record-interfaces.js';
import { RECORDIO_CFLAG, RECORDIO_MAGIC, recordioPadLength } from './recordio.js';

const LENGTH_MASK = 2 ** 29 - 1;

export class RecordioDecoder extends FramedDecoder {
  readonly format: RecordFormat;
  readonly #source: string | undefined;
  /** Stream offset of the queue's first byte. */
  #position = 0;
  /** Payloads of the multi-part record being read, and where it started. */
  #parts: Buffer[] | undefined;
  #partsLength = 0;
  #recordStart = 0;

  /** `format` is 'recordio', or 'protobuf' for RecordIO-framed protobuf (it names the format in errors). */
  constructor(options: DecoderOptions & { readonly format?: 'recordio' | 'protobuf' } = {}) {
    super();
    this.format = options.format ?? 'recordio';
    this.#source = options.source;
  }

  get offset(): number {
    return this.#parts === undefined ? this.#position : this.#recordStart;
  }

  protected decode(out: Buffer[]): void {
    const q = this.queue;
    while (q.length >= 8) {
      const magic = q.uint32LE(0);
      if (magic !== RECORDIO_MAGIC) {
        throw this.#error(this.#position, `bad magic 0x${magic.toString(16).padStart(8, '0')} (expected 0x${RECORDIO_MAGIC.toString(16)}: not RecordIO, or the stream is out of step)`);
      }
      const lrec = q.uint32LE(4);
      const cflag = lrec >>> 29;
      const length = lrec & LENGTH_MASK;
      const pad = recordioPadLength(length);
      if (cflag > RECORDIO_CFLAG.LAST) throw this.#error(this.#position, `invalid part flag ${cflag} (cflag must be 0-3)`);
      this.#checkSequence(cflag);
      if (q.length < 8 + length + pad) break;
      const partStart = this.#position;
      q.skip(8);
      const payload = q.take(length);
      q.skip(pad);
      this.#position += 8 + length + pad;
      const record = this.#part(cflag, payload, partStart);
      if (record !== undefined) {
        out.push(record);
        this.callStarts.push(cflag === RECORDIO_CFLAG.WHOLE ? partStart : this.#recordStart);
      }
    }
  }

  protected finish(): readonly Buffer[] {
    if (this.queue.length > 0) {
      const have = this.queue.length;
      if (have < 8) throw this.#error(this.#position, `the stream ends inside a part header (${have} of 8 bytes)`);
      const length = this.queue.uint32LE(4) & LENGTH_MASK;
      const want = 8 + length + recordioPadLength(length);
      throw this.#error(this.#position, `the stream ends inside a part: ${have} of its ${want} bytes (header, ${length} bytes of payload, padding)`);
    }
    if (this.#parts !== undefined) {
      throw this.#error(this.#position, `the stream ends inside a multi-part record that began at byte ${this.#recordStart} (no part with cflag 3)`);
    }
    return NO_RECORDS;
  }

  #checkSequence(cflag: number): void {
    const open = this.#parts !== undefined;
    if (open && (cflag === RECORDIO_CFLAG.WHOLE || cflag === RECORDIO_CFLAG.FIRST)) {
      throw this.#error(this.#position, `part flag ${cflag} inside the multi-part record that began at byte ${this.#recordStart} (expected 2 or 3)`);
    }
    if (!open && (cflag === RECORDIO_CFLAG.MIDDLE || cflag === RECORDIO_CFLAG.LAST)) {
      throw this.#error(this.#position, `part flag ${cflag} continues a multi-part record that never began (expected 0 or 1)`);
    }
  }

  /** Takes one part; returns the record it completes, if any. */
  #part(cflag: number, payload: Buffer, partStart: number): Buffer | undefined {
    if (cflag === RECORDIO_CFLAG.WHOLE) {
      this.count++;
      return payload;
    }
    if (cflag === RECORDIO_CFLAG.FIRST) {
      // keep the parts as views until the record is complete, then copy them once
      this.#parts = [payload];
      this.#partsLength = payload.length;
      this.#recordStart = partStart;
      return undefined;
    }
    const parts = this.#parts as Buffer[];
    parts.push(payload);
    this.#partsLength += payload.length;
    if (cflag === RECORDIO_CFLAG.MIDDLE) return undefined;
    this.#parts = undefined;
    this.count++;
    return Buffer.concat(parts, this.#partsLength);
  }

  #error(offset: number, problem: string): Error {
    return recordFormatError(this.format, this.#source, this.count, offset, problem);
  }
}
