/**
 * `pipemode pipe --dir DIR --channel NAME=SOURCE …`: serves SageMaker Pipe-mode FIFOs
 * (DIR/<channel>_<N>) for any training process, until --epochs are done or SIGINT/SIGTERM
 * (then it removes its FIFOs and exits 0).
 */
import fs from 'node:fs';
import { formatBytes } from '../../core/byte-size.js';
import { FifoError } from '../../core/errors.js';
import { describeErrno } from '../../core/system-error.js';
import type { Logger } from '../../core/log.js';
import { servePipes } from '../../pipe/channel-pipes.js';
import { maySplice, prewarmSpliceWorker } from '../../pipe/splice-writer.js';
import { ConfigError } from '../../core/errors.js';
import { FollowCursor } from '../../manifest/follow-cursor.js';
import { ChannelProgress } from '../../stream/channel-progress.js';
import { ChannelStream } from '../../stream/channel-stream.js';
import { Stores } from '../../storage/stores.js';
import { fetchOptions, hostPosition, intFlag, pipeChannels, storesOptions, type ChannelFlags, type FetchFlags, type HostFlags } from '../options.js';

export interface PipeFlags extends ChannelFlags, FetchFlags, HostFlags {
  readonly dir: string;
  readonly channel: readonly string[];
  readonly epochs?: string;
  readonly fifosPerChannel?: string;
  /** Seconds between progress lines (default 5 on a terminal, none otherwise). */
  readonly progressInterval?: string;
  /** --no-zero-copy */
  readonly zeroCopy?: boolean;
  /** --state FILE: the cursor of the followed channels. */
  readonly state?: string;
}

/** --dir is a folder pipemode can create FIFOs in (created if missing), else PM_ERR_FIFO naming it. */
function checkFifoDir(dir: string): void {
  try {
    fs.mkdirSync(dir, { recursive: true });
    if (!fs.statSync(dir).isDirectory()) throw Object.assign(new Error('not a folder'), { code: 'ENOTDIR', path: dir });
    fs.accessSync(dir, fs.constants.W_OK | fs.constants.X_OK);
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    const why = e.code === 'EEXIST' || e.code === 'ENOTDIR' ? 'it (or a folder above it) is a file, not a folder' : describeErrno(e.code);
    throw new FifoError(`--dir ${dir}: cannot create FIFOs there: ${why} (${e.code ?? 'error'})`, { path: dir, field: '--dir', errno: e.code }, { cause: err });
  }
}

export async function pipeCommand(flags: PipeFlags, log: Logger): Promise<void> {
  const specs = pipeChannels(flags.channel, flags);
  checkFifoDir(flags.dir);
  const fetch = fetchOptions(flags);
  const host = hostPosition(flags);
  const epochs = intFlag(flags.epochs, '--epochs', 1, Number.MAX_SAFE_INTEGER);
  const fifosPerChannel = intFlag(flags.fifosPerChannel, '--fifos-per-channel', 1, 64) ?? 1;
  const stop = new AbortController();
  const onSignal = (signal: NodeJS.Signals): void => {
    log.info(`${signal}: stopping`);
    stop.abort(signal);
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  process.once('SIGHUP', onSignal); // the terminal went away: stop cleanly too
  const followed = specs.some((s) => s.follow !== undefined);
  if (flags.state !== undefined && !followed) throw new ConfigError('--state keeps the cursor of followed channels: add --follow', { field: '--state' });
  if (followed && fifosPerChannel > 1) throw new ConfigError('a followed channel cannot be split over several FIFOs (--fifos-per-channel)', { field: '--fifos-per-channel' });
  // the first spliced epoch's worker thread starts now, beside the listing, not after the reader opens
  if (specs.some((spec) => maySplice(spec, flags.zeroCopy === false))) prewarmSpliceWorker();
  const stores = new Stores(storesOptions(flags));
  const cursor = flags.state !== undefined ? FollowCursor.open(flags.state) : undefined;
  let progress: ChannelProgress | undefined;
  try {
    const opened = await Promise.all(specs.map((spec) => ChannelStream.open(spec, stores, fetch, host, stop.signal, { streamListing: true })));
    const streams = opened.map((s) => (s.spec.follow !== undefined ? s.withFollowState({ cursor, log }) : s));
    for (const s of streams) log.info(`${s.spec.name}: ${s.spec.uri}: ${s.items.length} items${s.listingComplete ? '' : ' on the first listing page, the rest listed while streaming'}${s.spec.follow !== undefined ? ', following' : ''}`);
    const interval = intFlag(flags.progressInterval, '--progress-interval', 1, 3600) ?? (process.stderr.isTTY ? 5 : undefined);
    progress = interval === undefined ? undefined : new ChannelProgress(streams.map((s) => ({ label: s.spec.name, stream: s })), log, interval * 1000).start();
    await servePipes(streams, {
      dir: flags.dir,
      epochs,
      signal: stop.signal,
      writePath: flags.zeroCopy !== false ? 'splice' : 'copy',
      fifosPerChannel,
      onEpochReady: (e) => log.info(`${e.path}: ready`),
      onEpochDone: (e) => {
        const rate = e.seconds > 0 ? ` (${formatBytes(e.bytes / e.seconds)}/s)` : '';
        log.info(`${e.path}: ${formatBytes(e.bytes)} in ${e.seconds.toFixed(2)} s${rate}${e.outcome === 'reader-gone' ? ', reader closed early' : ''}`);
        const s = streams.find((x) => x.spec.name === e.channel);
        if (s?.spec.follow !== undefined) {
          log.debug(`${e.channel}: listing: ${s.listing.polls} polls (${s.listing.fullPolls} full), ${s.listing.requests} requests, ${s.listing.keysSeen} keys seen, ${s.listing.discovered} objects found`);
        }
      },
    });
  } finally {
    progress?.stop();
    cursor?.close();
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    process.off('SIGHUP', onSignal);
    stores.close();
  }
}
