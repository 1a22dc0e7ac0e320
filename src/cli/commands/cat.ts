/**
 * `pipemode cat SOURCE`: one epoch of one channel (this host's share) to stdout. With --follow,
 * the prefix's objects and then those that land, until --idle-timeout (cursor in --state).
 */
import fs from 'node:fs';
import { formatBytes } from '../../core/byte-size.js';
import type { Logger } from '../../core/log.js';
import { writeToFile } from '../../pipe/file-writer.js';
import { writeToPipe } from '../../pipe/pipe-writer.js';
import { openEpoch, writeEpoch } from '../../pipe/epoch-writer.js';
import { ConfigError } from '../../core/errors.js';
import { FollowCursor } from '../../manifest/follow-cursor.js';
import { maySplice, prewarmSpliceWorker } from '../../pipe/splice-writer.js';
import { ChannelStream } from '../../stream/channel-stream.js';
import { Stores } from '../../storage/stores.js';
import { catChannel, fetchOptions, storesOptions, hostPosition, intFlag, type ChannelFlags, type FetchFlags, type HostFlags } from '../options.js';

export interface CatFlags extends ChannelFlags, FetchFlags, HostFlags {
  readonly channel?: string;
  readonly epoch?: string;
  /** --no-zero-copy */
  readonly zeroCopy?: boolean;
  /** --state FILE: a followed channel's cursor. */
  readonly state?: string;
}

/** A second, non-blocking descriptor of the stdout pipe; undefined where the pipe cannot be reopened (another user's pipe). */
function reopenStdout(): number | undefined {
  try {
    return fs.openSync('/proc/self/fd/1', fs.constants.O_WRONLY | fs.constants.O_NONBLOCK);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'EACCES' || code === 'EPERM' || code === 'ENXIO' || code === 'ENOENT') return undefined;
    throw err;
  }
}

export async function catCommand(source: string | undefined, flags: CatFlags, log: Logger): Promise<void> {
  const spec = catChannel(source, flags.channel, flags);
  const fetch = fetchOptions(flags);
  const host = hostPosition(flags);
  const epoch = intFlag(flags.epoch, '--epoch', 0, Number.MAX_SAFE_INTEGER) ?? 0;
  if (flags.state !== undefined && spec.follow === undefined) throw new ConfigError('--state keeps the cursor of a followed channel: add --follow', { field: '--state' });
  if (spec.follow !== undefined && epoch !== 0) throw new ConfigError('a followed channel has one epoch, 0', { field: '--epoch' });
  const stores = new Stores(storesOptions(flags));
  const cursor = flags.state !== undefined ? FollowCursor.open(flags.state) : undefined;
  const fifo = fs.fstatSync(1).isFIFO();
  // the splice worker's thread starts while the channel is listed, not after (first byte)
  if (fifo && maySplice(spec, flags.zeroCopy === false)) prewarmSpliceWorker();
  // stops a listing still under way when the epoch ends early (the reader went)
  const listing = new AbortController();
  try {
    // an unshuffled prefix (S3 or a folder) streams from its first listing page while the rest is listed
    let stream = await ChannelStream.open(spec, stores, fetch, host, listing.signal, { streamListing: true });
    if (spec.follow !== undefined) stream = stream.withFollowState({ cursor, log });
    log.debug(stream.listingComplete
      ? `${spec.uri}: ${stream.items.length} items, epoch ${epoch} streams ${stream.unitsOf(epoch).length} units`
      : `${spec.uri}: ${stream.items.length} items on the first listing page; epoch ${epoch} streams while the rest is listed`);
    const started = performance.now();
    let result;
    if (fifo) {
      // a second descriptor for the same pipe, non-blocking for net.Socket or splice, so that
      // stdout itself (shared with the shell) keeps its flags and stays open
      const fd = reopenStdout();
      // a pipe that cannot be opened again (another user's: EACCES) is written through stdout itself
      const path = flags.zeroCopy !== false ? 'splice' : 'copy';
      const source = fd !== undefined ? openEpoch(stream, epoch, path) : undefined;
      log.debug(`${spec.uri}: epoch ${epoch} ${source?.kind !== 'splice' ? 'through the prefetcher' : path === 'splice' ? 'spliced' : 'copied on the worker thread'}`);
      result = fd !== undefined && source !== undefined ? await writeEpoch(fd, source, {}) : await writeToFile(1, stream.epoch(epoch));
    } else {
      result = fs.fstatSync(1).isSocket() ? await writeToPipe(1, stream.epoch(epoch)) : await writeToFile(1, stream.epoch(epoch));
    }
    const seconds = (performance.now() - started) / 1000;
    log.debug(`${formatBytes(result.bytes)} in ${seconds.toFixed(2)} s` +
      `${result.outcome === 'reader-gone' ? ' (the reader closed early)' : ''}; ${stream.stats.getRequests} GETs, ` +
      `${stream.stats.retries} retries, peak buffered ${formatBytes(stream.stats.peakBuffered)}` +
      (stream.listingComplete && !spec.follow ? `; ${stream.items.length} items` : '') +
      (spec.follow !== undefined ? `; listing: ${stream.listing.polls} polls, ${stream.listing.requests} requests, ${stream.listing.keysSeen} keys seen, ${stream.listing.discovered} objects found` : ''));
  } finally {
    listing.abort();
    cursor?.close();
    stores.close();
  }
}
