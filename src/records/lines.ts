/**
 * Text lines, as PipeModeDataset's TextLine format reads them: records are split on "\n" (the
 * "\n" is not part of the record; "\r" and every other byte are kept: no CSV or encoding
 * awareness), and a final line without "\n" is still a record. An empty stream has no records;
 * "\n" alone is one empty record. Lines never fail to decode.
 *
 * The encoder appends "\n" to each record, so decode(encode(records)) gives the records back;
 * a record that contains "\n" cannot be encoded (RecordFormatError).
 */
import { NO_RECORDS, recordFormatError, type DecoderOptions, type RecordDecoder, type RecordEncoder } from './record-interfaces.js';

const NL = 0x0a;
const NEWLINE = Buffer.from('\n');

export const linesEncoder: RecordEncoder = Object.freeze({
  format: 'lines',
  encode(record: Buffer): Buffer[] {
    const at = record.indexOf(NL);
    if (at !== -1) throw recordFormatError('lines', undefined, 0, at, 'a lines record cannot contain "\\n"');
    return [record, NEWLINE];
  },
  framedLength(length: number): number {
    return length + 1;
  },
});

export class LinesDecoder implements RecordDecoder {
  readonly format = 'lines' as const;
  /** Pieces of the line begun in earlier chunks. */
  #partial: Buffer[] = [];
  #partialLength = 0;
  #records = 0;
  #offset = 0;

  constructor(_options: DecoderOptions = {}) {}

  #starts: number[] = [];

  /** Start offsets of the lines of the last call. */
  get starts(): readonly number[] {
    return this.#starts;
  }

  get records(): number {
    return this.#records;
  }

  get offset(): number {
    return this.#offset;
  }

  push(chunk: Buffer): readonly Buffer[] {
    let out: Buffer[] | undefined;
    this.#starts = [];
    let from = 0;
    for (let nl = chunk.indexOf(NL); nl !== -1; nl = chunk.indexOf(NL, from)) {
      let line = chunk.subarray(from, nl);
      if (this.#partialLength > 0) {
        this.#partial.push(line);
        line = Buffer.concat(this.#partial, this.#partialLength + line.length);
        this.#partial = [];
        this.#partialLength = 0;
      }
      (out ??= []).push(line);
      this.#starts.push(this.#offset);
      this.#records++;
      this.#offset += line.length + 1;
      from = nl + 1;
    }
    if (from < chunk.length) {
      this.#partial.push(from === 0 ? chunk : chunk.subarray(from));
      this.#partialLength += chunk.length - from;
    }
    return out ?? NO_RECORDS;
  }

  end(): readonly Buffer[] {
    this.#starts = [];
    if (this.#partialLength === 0) return NO_RECORDS;
    const line = this.#partial.length === 1 ? this.#partial[0] as Buffer : Buffer.concat(this.#partial, this.#partialLength);
    this.#partial = [];
    this.#partialLength = 0;
    this.#records++;
    this.#starts.push(this.#offset);
    this.#offset += line.length;
    return [line];
  }
}
