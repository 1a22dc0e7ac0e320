/**
 * Per-unit transforms between the prefetcher and the pipe, exactly as SageMaker applies them:
 * CompressionType=Gzip inflates each object on its own (multi-member files too; a zero-byte
 * object inflates to nothing; augmented-manifest attribute values are not compressed), then RecordWrapperType=RecordIO wraps each unit in one
 * single-part RecordIO record. Without either, bytes pass through untouched: no separators.
 *
 * A record header carries the payload length, so Gzip+RecordIO must inflate a whole object
 * before writing it: that buffer is capped by `maxInflatedBytes` (the channel's memory budget,
 * on top of the prefetch budget) and an object that inflates beyond it fails with
 * MemoryBudgetError instead of growing memory without bound. Nothing of a record is written
 * until the record is known to be valid: no partial framing.
 *
 * Gzip channels inflate several objects at once, handed out in stream order (inflate-ahead.ts);
 * each unit is framed as its inflated bytes come.
 */
import type { Compression, RecordWrapper } from '../channel/channel-spec.js';
import { MemoryBudgetError, RecordTooLargeError } from '../core/errors.js';
import { describeUnit } from '../manifest/unit.js';
import type { UnitData } from '../fetch/prefetcher.js';
import { RECORDIO_MAX_LENGTH, recordioHeader, recordioPadding } from '../records/recordio.js';
import { GUNZIP_CHUNK, inflateAhead, type InflateAheadOptions } from './inflate-ahead.js';

export interface FramingOptions {
  readonly compression: Compression;
  readonly recordWrapper: RecordWrapper;
  /** Cap on one inflated object held for Gzip+RecordIO. */
  readonly maxInflatedBytes: number;
  /** Gzip: how many objects inflate at once and the bytes they may hold (inflate-ahead.ts). @default one object, 2 MiB */
  readonly inflate?: InflateAheadOptions | undefined;
}

const ONE_AT_A_TIME: InflateAheadOptions = Object.freeze({ aheadBytes: 8 * GUNZIP_CHUNK, parallel: 1 });

export function tooLargeForRecordIO(what: string, size: number): RecordTooLargeError {
  return new RecordTooLargeError(
    `${what} is ${size} bytes; a RecordIO record holds at most ${RECORDIO_MAX_LENGTH} bytes (2^29 - 1). Split the object or use RecordWrapperType None`,
    { uri: what, size },
  );
}

async function* single(data: UnitData): AsyncGenerator<UnitData> {
  yield data;
}

/** Inflates one gzip object, streaming; errors name the object and compressed byte range (batch transform uses it too). */
export async function* gunzip(data: UnitData): AsyncGenerator<Buffer[]> {
  for await (const { bytes } of inflateAhead(single(data), ONE_AT_A_TIME)) yield* bytes;
}

/** One unit's framed bytes as batches. */
async function* frameUnit(data: UnitData, bytes: AsyncIterable<Buffer[]>, options: FramingOptions): AsyncGenerator<Buffer[]> {
  const wrap = options.recordWrapper === 'RecordIO';
  // Gzip applies to objects; augmented-manifest attribute values are plain text
  if (options.compression !== 'Gzip' || data.unit.kind === 'inline') {
    if (!wrap) {
      yield* bytes;
      return;
    }
    if (data.size > RECORDIO_MAX_LENGTH) throw tooLargeForRecordIO(describeUnit(data.unit), data.size);
    // the header goes out with the first batch of data and the padding with the batch that
    // completes it (batches are handed over, so they are extended in place): one write per batch
    const padding = recordioPadding(data.size);
    let header: Buffer | undefined = recordioHeader(data.size);
    let padded = padding.length === 0;
    let seen = 0;
    for await (const batch of bytes) {
      for (const b of batch) seen += b.length;
      if (header !== undefined) {
        batch.unshift(header);
        header = undefined;
      }
      if (!padded && seen >= data.size) {
        batch.push(padding);
        padded = true;
      }
      yield batch;
    }
    if (header !== undefined) yield padded ? [header] : [header, padding];
    else if (!padded) yield [padding];
    return;
  }
  if (!wrap) {
    yield* bytes;
    return;
  }
  const inflated: Buffer[] = [];
  let length = 0;
  for await (const batch of bytes) {
    for (const b of batch) length += b.length;
    if (length > RECORDIO_MAX_LENGTH) throw tooLargeForRecordIO(`${describeUnit(data.unit)} (inflated)`, length);
    if (length > options.maxInflatedBytes) {
      throw new MemoryBudgetError(
        `${describeUnit(data.unit)} inflates to more than ${options.maxInflatedBytes} bytes, which Gzip+RecordIO must hold in memory; raise --memory-budget`,
        { uri: describeUnit(data.unit), limit: options.maxInflatedBytes },
      );
    }
    inflated.push(...batch);
  }
  yield [recordioHeader(length), ...inflated, recordioPadding(length)].filter((b) => b.length > 0);
}

/** The framed byte stream of a sequence of units. */
export async function* frameUnits(units: AsyncIterable<UnitData>, options: FramingOptions): AsyncGenerator<Buffer[]> {
  if (options.compression !== 'Gzip') {
    for await (const data of units) {
      for await (const batch of frameUnit(data, data.chunks, options)) if (batch.length > 0) yield batch;
    }
    return;
  }
  for await (const { data, bytes } of inflateAhead(units, options.inflate ?? ONE_AT_A_TIME)) {
    for await (const batch of frameUnit(data, bytes, options)) if (batch.length > 0) yield batch;
  }
}
