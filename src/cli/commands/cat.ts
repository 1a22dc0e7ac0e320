/** `pipemode cat SOURCE`: one epoch of one channel (this host's share) to stdout. */
import fs from 'node:fs';
import { formatBytes } from '../../core/byte-size.js';
import type { Logger } from '../../core/log.js';
import { writeToFile } from '../../pipe/file-writer.js';
import { writeToPipe } from '../../pipe/pipe-writer.js';
import { openEpoch, writeEpoch } from '../../pipe/epoch-writer.js';
import { prewarmSpliceWorker } from '../../pipe/splice-writer.js';
import { ChannelStream } from '../../stream/channel-stream.js';
import { Stores } from '../../storage/stores.js';
import { catChannel, fetchOptions, storesOptions, hostPosition, intFlag, type ChannelFlags, type FetchFlags, type HostFlags } from '../options.js';

export interface CatFlags extends ChannelFlags, FetchFlags, HostFlags {
  readonly channel?: string;
  readonly epoch?: string;
  /** --no-zero-copy */
  readonly zeroCopy?: boolean;
}

export async function catCommand(source: string | undefined, flags: CatFlags, log: Logger): Promise<void> {
  const spec = catChannel(source, flags.channel, flags);
  const fetch = fetchOptions(flags);
  const host = hostPosition(flags);
  const epoch = intFlag(flags.epoch, '--epoch', 0, Number.MAX_SAFE_INTEGER) ?? 0;
  const stores = new Stores(storesOptions(flags));
  const fifo = fs.fstatSync(1).isFIFO();
  // the splice worker's thread starts while the channel is listed, not after (first byte)
  if (fifo && flags.zeroCopy !== false && spec.compression === 'None') prewarmSpliceWorker();
  try {
    const stream = await ChannelStream.open(spec, stores, fetch, host);
    log.debug(`${spec.uri}: ${stream.items.length} items, epoch ${epoch} streams ${stream.unitsOf(epoch).length} units`);
    const started = performance.now();
    let result;
    if (fifo) {
      // a second descriptor for the same pipe, non-blocking for net.Socket or splice, so that
      // stdout itself (shared with the shell) keeps its flags and stays open
      const fd = fs.openSync('/proc/self/fd/1', fs.constants.O_WRONLY | fs.constants.O_NONBLOCK);
      result = await writeEpoch(fd, openEpoch(stream, epoch, flags.zeroCopy !== false), {});
    } else {
      result = fs.fstatSync(1).isSocket() ? await writeToPipe(1, stream.epoch(epoch)) : await writeToFile(1, stream.epoch(epoch));
    }
    const seconds = (performance.now() - started) / 1000;
    log.debug(`${formatBytes(result.bytes)} in ${seconds.toFixed(2)} s` +
      `${result.outcome === 'reader-gone' ? ' (the reader closed early)' : ''}; ${stream.stats.getRequests} GETs, ` +
      `${stream.stats.retries} retries, peak buffered ${formatBytes(stream.stats.peakBuffered)}`);
  } finally {
    stores.close();
  }
}
