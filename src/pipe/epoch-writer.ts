/**
 * Chooses how one epoch reaches its pipe. When every unit is a local file, an inline value or a
 * plain-http S3 object and no object needs inflating, and the channel's listing is complete, the
 * epoch is spliced (zero-copy, splice-writer.ts); so is a prefix still being listed (a local
 * folder; S3 objects of 1 MiB or more on average), its objects handed to the worker as they are
 * listed. With `--no-zero-copy` the same worker reads and writes local files through one buffer
 * instead (the `copy` path; S3 objects then go to the prefetcher). Otherwise the epoch's
 * framed bytes come from the prefetcher and are written through net.Socket (pipe-writer.ts).
 * `open` happens before the reader arrives (the prefetcher, or the splice worker, starts fetching
 * at once); `write` once it has; `close` if the epoch is abandoned before `write`. Both paths take
 * the channel's fetch options: part size, requests in flight, memory budget, retry policy.
 */
import { InternalError } from '../core/errors.js';
import { shareOf } from '../fetch/fetch-options.js';
import type { FetchStats } from '../fetch/prefetcher.js';
import type { Unit } from '../manifest/unit.js';
import type { ChannelStream, EpochBytes, Split } from '../stream/channel-stream.js';
import type { FollowBytes } from '../stream/follow-stream.js';
import { maySplice, spliceSegmentOf, spliceWindow, startSplice, type SpliceRun } from './splice-writer.js';
import type { SpliceSegment } from './splice-writer.js';
import { reportPath, writeToPipe, type WriteHooks, type WriteResult } from './pipe-writer.js';
import { INFLATE_PARALLEL } from '../stream/inflate-ahead.js';

/**
 * How epochs may reach their pipes: spliced where they can be (the default), copied by the worker
 * thread where they can be (`--no-zero-copy`: files are read, never spliced), or always through the
 * prefetcher (`prefetch`: what tests of the prefetcher's bounds use with local files).
 */
export type WritePath = 'splice' | 'copy' | 'prefetch';

export type EpochSource =
  | { readonly kind: 'splice'; readonly run: SpliceRun; readonly stats: FetchStats }
  | { readonly kind: 'stream'; readonly bytes: EpochBytes; readonly gzip: boolean };

/**
 * The unit as a segment for the worker thread, or undefined when it needs the prefetcher. The
 * copy path takes local files and inline values only: an S3 body it cannot splice is fetched by
 * the prefetcher, with its budget and retries.
 */
function segmentOf(unit: Unit, copy: boolean): SpliceSegment | undefined {
  if (unit.kind === 'inline') return { kind: 'bytes', data: unit.bytes };
  const segment = spliceSegmentOf(unit.store, unit.key, unit.info);
  return copy && segment?.kind === 's3' ? undefined : segment;
}

/** The units as segments for the worker, or undefined when some unit needs the prefetcher. */
function spliceSegments(units: readonly Unit[], copy: boolean): SpliceSegment[] | undefined {
  const segments: SpliceSegment[] = [];
  for (const unit of units) {
    const segment = segmentOf(unit, copy);
    if (segment === undefined) return undefined;
    segments.push(segment);
  }
  return segments;
}

/**
 * Segments of a planned epoch that go to the worker with its job; the rest follow in batches of
 * this many (the tests splice plans of ~2,000 objects, so several batches). A shuffled plan of
 * 100,000 files posted whole was copied into the worker at once and kept on both threads for
 * the whole epoch: 275 MiB peak RSS, against 235 MiB in batches.
 */
const PLANNED_BATCH = 1024;

/** Whether the worker can take every unit (checked before any is handed to it). */
function allSpliceable(units: readonly Unit[], copy: boolean): boolean {
  return units.every((unit) => segmentOf(unit, copy) !== undefined);
}

/** The units from `from` on as segments, PLANNED_BATCH at a time, made as they are taken. */
async function* plannedSegments(units: readonly Unit[], from: number, copy: boolean): AsyncGenerator<SpliceSegment[]> {
  for (let i = from; i < units.length; i += PLANNED_BATCH) {
    yield spliceSegments(units.slice(i, i + PLANNED_BATCH), copy) as SpliceSegment[]; // allSpliceable said so
  }
}

/**
 * Mean size of the objects listed so far from which a plain-http prefix still being listed is
 * spliced. Measured on the bench store (docs/benchmarks.md): 20,000 objects of 16 KiB went
 * faster through the prefetcher (1,203 against 1,043 objects/s spliced, the store spending more
 * CPU per object for the worker), objects of 32 MiB faster spliced (1.27× against 1.12× `rclone
 * cat`); 1 MiB lies between the two, not measured.
 */
const SPLICE_WHILE_LISTING_MEAN = 1024 * 1024;

/**
 * Whether a channel still being listed is spliced as it goes: every object of one prefix comes
 * from the same store, so if its first one can be (a local file, a plain-http S3 object) every
 * later one can; S3 objects only where those listed so far are large.
 */
function spliceWhileListing(stream: ChannelStream, copy: boolean): boolean {
  const unit = stream.items[0]?.[0];
  if (unit === undefined || unit.kind !== 'object') return false;
  const segment = segmentOf(unit, copy);
  if (segment === undefined) return false;
  if (segment.kind !== 's3') return true;
  const bytes = stream.items.reduce((sum, [u]) => sum + (u?.kind === 'object' ? u.info?.size ?? 0 : 0), 0);
  return bytes >= SPLICE_WHILE_LISTING_MEAN * stream.items.length;
}

/** A listing's units as splice segments, batch by batch, as they are listed. */
async function* listedSegments(stream: ChannelStream, split: Split | undefined, copy: boolean): AsyncGenerator<SpliceSegment[]> {
  for await (const units of stream.listedUnits(split)) {
    const segments = spliceSegments(units, copy);
    if (segments === undefined) throw new InternalError(`channel "${stream.spec.name}": a listed object cannot be spliced, though the first one could`);
    yield segments;
  }
}

export function openEpoch(stream: ChannelStream, epoch: number, path: WritePath, signal?: AbortSignal, split?: Split): EpochSource {
  const copy = path === 'copy';
  const onWorker = path !== 'prefetch' && maySplice(stream.spec, copy);
  const gzip = stream.spec.compression === 'Gzip';
  let units: Unit[] | undefined;
  let segments: SpliceSegment[] | undefined;
  let more: AsyncIterable<SpliceSegment[]> | undefined;
  if (stream.listingComplete) {
    units = stream.unitsOf(epoch, split);
    if (onWorker && allSpliceable(units, copy)) {
      segments = spliceSegments(units.slice(0, PLANNED_BATCH), copy);
      if (units.length > PLANNED_BATCH) more = plannedSegments(units, PLANNED_BATCH, copy);
    }
  } else if (onWorker && spliceWhileListing(stream, copy)) {
    // a prefix still being listed (a local folder, a plain-http store of large objects): its
    // objects go to the splice worker as they are listed
    segments = [];
    more = listedSegments(stream, split, copy);
  }
  // otherwise the prefetcher, with the planned units, or those of a listing still under way as they come
  if (segments === undefined) return { kind: 'stream', bytes: stream.epoch(epoch, signal, split, units), gzip };
  // the parts of a split channel share its budget (the same rule as the prefetcher's)
  const fetch = shareOf(stream.fetchOptions, split?.count ?? 1);
  const run = startSplice(segments, stream.spec.recordWrapper === 'RecordIO', {
    more,
    copy,
    partBytes: fetch.partSize,
    window: spliceWindow(fetch),
    retry: fetch.retry,
    // spliced GETs count like the prefetcher's (job metrics, `cat` debug line)
    onPath: (path) => {
      stream.stats.getRequests += path.http?.getRequests ?? 0;
      stream.stats.retries += path.http?.retries ?? 0;
    },
  });
  return { kind: 'splice', run, stats: stream.stats };
}

/** Writes the epoch into the pipe `fd` (owned and closed here). */
export async function writeEpoch(fd: number, source: EpochSource, hooks: WriteHooks): Promise<WriteResult> {
  if (source.kind === 'stream') {
    // a followed channel records an object once the kernel has taken its last byte
    const bytes = source.bytes;
    if (!isFollowBytes(bytes)) {
      const result = await writeToPipe(fd, bytes, hooks);
      if (source.gzip) reportPath(`copy (read/write through net.Socket), gzip: ${INFLATE_PARALLEL} objects inflating at once (node:zlib on the libuv pool)`);
      return result;
    }
    bytes.trackFlushes();
    return writeToPipe(fd, bytes, { ...hooks, onFlushed: (n) => bytes.flushed(n) });
  }
  // the prefetcher counts its own bytes; a spliced epoch's are read live from its worker, then added
  const { run, stats } = source;
  stats.splicing.add(run);
  try {
    return await run.write(fd, hooks);
  } finally {
    stats.splicing.delete(run);
    stats.bytesDelivered += run.sent;
  }
}

function isFollowBytes(bytes: EpochBytes): bytes is FollowBytes {
  return typeof (bytes as Partial<FollowBytes>).trackFlushes === 'function';
}

export function closeEpoch(source: EpochSource): void {
  if (source.kind === 'stream') source.bytes.close();
  else source.run.close();
}
