/**
 * `pipemode pipe --dir DIR --channel NAME=SOURCE …`: serves SageMaker Pipe-mode FIFOs
 * (DIR/<channel>_<N>) for any training process, until --epochs are done or SIGINT/SIGTERM
 * (then it removes its FIFOs and exits 0).
 */
import { formatBytes } from '../../core/byte-size.js';
import type { Logger } from '../../core/log.js';
import { servePipes } from '../../pipe/channel-pipes.js';
import { ConfigError } from '../../core/errors.js';
import { FollowCursor } from '../../manifest/follow-cursor.js';
import { ChannelStream } from '../../stream/channel-stream.js';
import { Stores } from '../../storage/stores.js';
import { fetchOptions, hostPosition, intFlag, pipeChannels, storesOptions, type ChannelFlags, type FetchFlags, type HostFlags } from '../options.js';

export interface PipeFlags extends ChannelFlags, FetchFlags, HostFlags {
  readonly dir: string;
  readonly channel: readonly string[];
  readonly epochs?: string;
  readonly fifosPerChannel?: string;
  /** --no-zero-copy */
  readonly zeroCopy?: boolean;
  /** --state FILE: the cursor of the followed channels. */
  readonly state?: string;
}

export async function pipeCommand(flags: PipeFlags, log: Logger): Promise<void> {
  const specs = pipeChannels(flags.channel, flags);
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
  const stores = new Stores(storesOptions(flags));
  const cursor = flags.state !== undefined ? FollowCursor.open(flags.state) : undefined;
  try {
    const opened = await Promise.all(specs.map((spec) => ChannelStream.open(spec, stores, fetch, host, stop.signal)));
    const streams = opened.map((s) => (s.spec.follow !== undefined ? s.withFollowState({ cursor, log }) : s));
    for (const s of streams) log.info(`${s.spec.name}: ${s.spec.uri}: ${s.items.length} items${s.spec.follow !== undefined ? ', following' : ''}`);
    await servePipes(streams, {
      dir: flags.dir,
      epochs,
      signal: stop.signal,
      zeroCopy: flags.zeroCopy !== false,
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
    cursor?.close();
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    process.off('SIGHUP', onSignal);
    stores.close();
  }
}
