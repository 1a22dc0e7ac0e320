/**
 * Live progress of streaming channels, for a person at a terminal: every few seconds one line per
 * channel with the throughput since the last line, the bytes delivered so far, and where the time
 * goes, from the channel's fetch counters (fetch/prefetcher.ts FetchStats) sampled 4 times a second:
 *
 *   waiting for data   nothing buffered while GETs are in flight: the reader is starved (the store
 *                      or network is the bottleneck)
 *   waiting for reader bytes are buffered but none was taken since the last sample: the reader
 *                      is the bottleneck, or has not opened the FIFO yet (pipemode waits)
 *
 * Samples where nothing is in flight nor buffered (no reader yet, between epochs) count in neither.
 * A spliced epoch (zero-copy: local files, plain-http S3) buffers nothing in pipemode; its worker
 * thread says what it is blocked on at the moment of the sample (the pipe full: the reader; the
 * socket empty: the data), and its bytes are counted as they go into the pipe.
 */
import { formatBytes } from '../core/byte-size.js';
import type { Logger } from '../core/log.js';
import type { ChannelStream } from './channel-stream.js';

const SAMPLE_MS = 250;

interface Channel {
  readonly label: string;
  readonly stream: ChannelStream;
  lastBytes: number;
  sampledBytes: number;
  busy: number;
  starved: number;
  full: number;
}

export class ChannelProgress {
  readonly #channels: Channel[];
  readonly #log: Logger;
  readonly #intervalMs: number;
  #sampler: NodeJS.Timeout | undefined;
  #reporter: NodeJS.Timeout | undefined;
  #last = performance.now();

  constructor(streams: readonly { readonly label: string; readonly stream: ChannelStream }[], log: Logger, intervalMs: number) {
    this.#channels = streams.map((s) => ({ ...s, lastBytes: s.stream.stats.deliveredNow, sampledBytes: s.stream.stats.deliveredNow, busy: 0, starved: 0, full: 0 }));
    this.#log = log;
    this.#intervalMs = intervalMs;
  }

  start(): this {
    this.#sampler = setInterval(() => this.#sample(), SAMPLE_MS).unref();
    this.#reporter = setInterval(() => this.report(), this.#intervalMs).unref();
    return this;
  }

  stop(): void {
    clearInterval(this.#sampler);
    clearInterval(this.#reporter);
  }

  #sample(): void {
    for (const c of this.#channels) {
      const { stats } = c.stream;
      const delivered = stats.deliveredNow;
      const moved = delivered !== c.sampledBytes;
      c.sampledBytes = delivered;
      if (stats.splicing.size > 0) {
        c.busy++;
        const waits = [...stats.splicing].map((run) => run.waiting);
        if (waits.includes('data')) c.starved++;
        else if (waits.includes('reader')) c.full++;
        continue;
      }
      if (stats.reserved === 0 && stats.buffered === 0 && !moved) continue;
      c.busy++;
      if (stats.buffered === 0 && !moved) c.starved++;
      else if (stats.buffered > 0 && !moved) c.full++;
    }
  }

  /** Writes one line per channel (and starts the next interval). */
  report(): void {
    const now = performance.now();
    const seconds = Math.max(0.001, (now - this.#last) / 1000);
    this.#last = now;
    for (const c of this.#channels) {
      const total = c.stream.stats.deliveredNow;
      const rate = (total - c.lastBytes) / seconds;
      const pct = (n: number): string => `${c.busy === 0 ? 0 : Math.round((100 * n) / c.busy)}%`;
      const where = c.busy === 0 ? 'idle (no reader, or between epochs)' : `waiting for data ${pct(c.starved)}, waiting for the reader ${pct(c.full)}`;
      this.#log.info(`${c.label}: ${formatBytes(rate)}/s, ${formatBytes(total)} so far, buffered ${formatBytes(c.stream.stats.buffered)}; ${where}`);
      c.lastBytes = total;
      c.busy = 0;
      c.starved = 0;
      c.full = 0;
    }
  }
}
