/**
 * What the two length-framed decoders (RecordIO, TFRecord) share: a ByteQueue of the bytes not yet
 * decoded, the record count, the start offsets of the last call's records, and the rule for a
 * fault found after some records of a push(): those records go out first, and the error comes
 * with the next call (so a reader gets every good record before the one that is not).
 * Subclasses decode whole records off the front of `queue` (`decode`) and say what an ending
 * stream leaves behind (`finish`).
 */
import { ByteQueue } from './byte-queue.js';
import { NO_RECORDS, type RecordDecoder, type RecordFormat } from './record-interfaces.js';

export abstract class FramedDecoder implements RecordDecoder {
  abstract readonly format: RecordFormat;
  abstract readonly offset: number;
  protected readonly queue = new ByteQueue();
  /** Records returned so far. */
  protected count = 0;
  /** Start offsets of the records of the current call. */
  protected callStarts: number[] = [];
  /** An error found after records that push() returned; thrown by the next call. */
  #failure: Error | undefined;

  get starts(): readonly number[] {
    return this.callStarts;
  }

  get records(): number {
    return this.count;
  }

  push(chunk: Buffer): readonly Buffer[] {
    if (this.#failure !== undefined) throw this.#failure;
    this.queue.push(chunk);
    const out: Buffer[] = [];
    this.callStarts = [];
    try {
      this.decode(out);
    } catch (err) {
      if (out.length === 0) throw err;
      this.#failure = err as Error;
    }
    return out.length === 0 ? NO_RECORDS : out;
  }

  end(): readonly Buffer[] {
    if (this.#failure !== undefined) throw this.#failure;
    this.callStarts = [];
    return this.finish();
  }

  /** Moves every whole record at the front of `queue` to `out` (and its start to `callStarts`). */
  protected abstract decode(out: Buffer[]): void;

  /** The stream is over: throws if it stopped inside a record; returns what remains (nothing). */
  protected abstract finish(): readonly Buffer[];
}
