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
 */
import { pipeline } from 'node:stream/promises';
import { Readable } from 'node:stream';
import zlib from 'node:zlib';
import type { Compression, RecordWrapper } from '../channel/channel-spec.js';
import { GzipError, MemoryBudgetError, PipemodeError, RecordTooLargeError } from '../core/errors.js';
import { describeUnit } from '../manifest/unit.js';
import type { UnitData } from '../fetch/prefetcher.js';
import { RECORDIO_MAX_LENGTH, recordioHeader, recordioPadding } from '../records/recordio.js';

export interface FramingOptions {
  readonly compression: Compression;
  readonly recordWrapper: RecordWrapper;
  /** Cap on one inflated object held for Gzip+RecordIO. */
  readonly maxInflatedBytes: number;
}

/** zlib output chunk: 256 KiB inflates twice as fast as the 16 KiB default (measured here). */
const GUNZIP_CHUNK = 256 * 1024;

export function tooLargeForRecordIO(what: string, size: number): RecordTooLargeError {
  return new RecordTooLargeError(
    `${what} is ${size} bytes; a RecordIO record holds at most ${RECORDIO_MAX_LENGTH} bytes (2^29 - 1). Split the object or use RecordWrapperType None`,
    { uri: what, size },
  );
}

async function* flatten(batches: AsyncIterable<Buffer[]>): AsyncGenerator<Buffer> {
  for await (const batch of batches) yield* batch;
}

/** Inflates one gzip object, streaming; errors name the object and compressed byte range (batch transform uses it too). */
export async function* gunzip(data: UnitData): AsyncGenerator<Buffer[]> {
  if (data.size === 0) return;
  const inflater = zlib.createGunzip({ chunkSize: GUNZIP_CHUNK });
  let fed = 0;
  const input = Readable.from((async function* () {
    for await (const chunk of flatten(data.chunks)) {
      fed += chunk.length;
      yield chunk;
    }
  })(), { objectMode: false, highWaterMark: 1 << 20 });
  const feeding = pipeline(input, inflater);
  feeding.catch(() => {}); // its error also reaches the loop below through the inflater
  try {
    for await (const out of inflater as AsyncIterable<Buffer>) yield [out];
    await feeding;
  } catch (err) {
    if (err instanceof PipemodeError) throw err; // a fetch failure, not a gzip one
    const what = describeUnit(data.unit);
    throw new GzipError(`${what} is not valid gzip (${(err as Error).message}) in compressed bytes ${inflater.bytesWritten}-${fed}`, {
      uri: what, offset: inflater.bytesWritten, zlibCode: (err as NodeJS.ErrnoException).code,
    }, { cause: err });
  } finally {
    inflater.destroy();
    input.destroy();
  }
}

/** One unit's framed bytes as batches. */
async function* frameUnit(data: UnitData, options: FramingOptions): AsyncGenerator<Buffer[]> {
  const wrap = options.recordWrapper === 'RecordIO';
  // Gzip applies to objects; augmented-manifest attribute values are plain text
  if (options.compression !== 'Gzip' || data.unit.kind === 'inline') {
    if (!wrap) {
      yield* data.chunks;
      return;
    }
    if (data.size > RECORDIO_MAX_LENGTH) throw tooLargeForRecordIO(describeUnit(data.unit), data.size);
    // the header goes out with the first batch of data and the padding with the batch that
    // completes it (batches are handed over, so they are extended in place): one write per batch
    const padding = recordioPadding(data.size);
    let header: Buffer | undefined = recordioHeader(data.size);
    let padded = padding.length === 0;
    let seen = 0;
    for await (const batch of data.chunks) {
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
    yield* gunzip(data);
    return;
  }
  const inflated: Buffer[] = [];
  let length = 0;
  for await (const batch of gunzip(data)) {
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
  for await (const data of units) {
    for await (const batch of frameUnit(data, options)) if (batch.length > 0) yield batch;
  }
}
