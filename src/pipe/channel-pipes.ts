/**
 * SageMaker's Pipe-mode FIFOs for one or more channels: `<dir>/<channel>_<N>` for N = 0, 1, …
 *
 * Per channel, a loop (the writer state machine of pipe-mode-contract.md §3.7):
 *   create `<ch>_N` (mode 0600) → start fetching epoch N → wait for a reader (non-blocking
 *   polls, no thread held) → write the epoch, holding the write end throughout → close (the
 *   reader sees EOF) or, if the reader closed early, stop fetching → remove `<ch>_N` → N+1.
 * So `<ch>_0` exists before any consumer needs it and `<ch>_N+1` appears as soon as `<ch>_N` is
 * done. Channels run independently; readers may take them in any order or at once.
 *
 * Extension: with `fifosPerChannel` K > 1, each channel is served as K independent FIFO series
 * `<ch>_<N>_<k>` (k = 0 … K-1), each carrying a disjoint share of the epoch's items (dealt
 * round-robin), so K reader processes (e.g. DataLoader workers) each read their own FIFO.
 *
 * A reader must not mistake the FIFO closing for a complete epoch when it is not one: if an
 * epoch stops after its reader attached (a failure, or an abort such as SIGTERM), a marker
 * `<ch>_N.error` (JSON: code, message) is written before the write end closes. pipemode's readers
 * check for it at EOF; a supervisor (pipemode train) stops the trainer first. The first failure
 * stops the other channels and is thrown. Every FIFO this module created is removed on the way out.
 */
import { childAbort } from '../core/abort.js';
import fs from 'node:fs';
import path from 'node:path';
import { AbortedError, InternalError, isPipemodeError } from '../core/errors.js';
import { ChannelStream, type Split } from '../stream/channel-stream.js';
import { createFifo, openFifoForWrite, removeFifo } from './fifo.js';
import type { WriteOutcome } from './pipe-writer.js';
import { closeEpoch, openEpoch, writeEpoch, type EpochSource } from './epoch-writer.js';

export interface EpochEvent {
  readonly channel: string;
  readonly epoch: number;
  readonly path: string;
}

export interface EpochDoneEvent extends EpochEvent {
  readonly outcome: WriteOutcome;
  readonly bytes: number;
  /** From the reader attaching to the FIFO closing. */
  readonly seconds: number;
}

export interface PipeServerOptions {
  /** Directory for the FIFOs (created if missing). */
  readonly dir: string;
  /** Epochs to serve per channel; undefined = until aborted. */
  readonly epochs: number | undefined;
  readonly signal?: AbortSignal;
  /** Splice local files into the FIFOs (no user-space copy) when possible. @default true */
  readonly zeroCopy?: boolean;
  /** FIFOs per channel and epoch (pipemode extension; see above). @default 1 */
  readonly fifosPerChannel?: number;
  /**
   * Runs when an epoch that a reader has started cannot be completed, after the `.error` marker is
   * written and before the FIFO's write end closes: the reader sees no EOF until this settles.
   * `pipemode train` stops the training processes here.
   */
  readonly beforeFailedEpochCloses?: (err: unknown) => Promise<void>;
  /** A FIFO was created and awaits its reader. */
  readonly onEpochReady?: (e: EpochEvent) => void;
  readonly onEpochDone?: (e: EpochDoneEvent) => void;
}

/** Path of a channel's FIFO for one epoch (and, for a split channel, one part). */
export function fifoPath(dir: string, channel: string, epoch: number, split?: Split): string {
  return path.join(dir, split === undefined || split.count === 1 ? `${channel}_${epoch}` : `${channel}_${epoch}_${split.index}`);
}

/** Path of the marker written when an epoch failed. */
export function errorMarkerPath(dir: string, channel: string, epoch: number, split?: Split): string {
  return `${fifoPath(dir, channel, epoch, split)}.error`;
}

/**
 * A channel to serve: a listed ChannelStream, or its name with the listing still under way (the
 * FIFO `<ch>_0` is created at once, so a trainer can start while the channel is listed; a reader
 * that opens it early waits for the first byte, and a listing that fails never opens the write
 * end, so no reader can see EOF).
 */
export type PipeChannel = ChannelStream | { readonly name: string; readonly stream: Promise<ChannelStream> };

async function serveChannel(channel: PipeChannel, split: Split, options: PipeServerOptions, signal: AbortSignal): Promise<void> {
  const name = channel instanceof ChannelStream ? channel.spec.name : channel.name;
  for (let epoch = 0; options.epochs === undefined || epoch < options.epochs; epoch++) {
    const fifo = fifoPath(options.dir, name, epoch, split);
    createFifo(fifo);
    let source: EpochSource | undefined;
    try {
      options.onEpochReady?.({ channel: name, epoch, path: fifo });
      const stream = channel instanceof ChannelStream ? channel : await channel.stream;
      if (signal.aborted) throw new AbortedError('stopped', {}, { cause: signal.reason });
      source = openEpoch(stream, epoch, options.zeroCopy ?? true, signal, split);
      const fd = await openFifoForWrite(fifo, signal);
      const started = performance.now();
      // a reader got part of this epoch: tell it, before it sees EOF, that EOF is not the end
      const result = await writeEpoch(fd, source, {
        signal,
        onFailure: async (err) => {
          writeErrorMarker(`${fifo}.error`, err);
          await options.beforeFailedEpochCloses?.(err);
        },
      });
      options.onEpochDone?.({ channel: name, epoch, path: fifo, ...result, seconds: (performance.now() - started) / 1000 });
      if (stream.spec.follow !== undefined) return; // a followed channel is one epoch, ended by its idle timeout
    } catch (err) {
      if (source !== undefined) closeEpoch(source);
      throw err;
    } finally {
      removeFifo(fifo);
    }
  }
}

function writeErrorMarker(file: string, err: unknown): void {
  const code = isPipemodeError(err) ? err.code : 'PM_ERR_INTERNAL';
  const message = err instanceof Error ? err.message : String(err);
  fs.writeFileSync(file, `${JSON.stringify({ code, message })}\n`, { mode: 0o600 });
}

/**
 * Serves every channel's FIFOs until each has served `epochs` epochs or `signal` aborts
 * (resolves normally then). The first failure stops all channels and is thrown.
 */
export async function servePipes(channels: readonly PipeChannel[], options: PipeServerOptions): Promise<void> {
  fs.mkdirSync(options.dir, { recursive: true });
  const stop = childAbort(options.signal);
  let first: unknown;
  const count = options.fifosPerChannel ?? 1;
  const series = channels.flatMap((s) => Array.from({ length: count }, (_, index) => ({ s, split: { index, count } })));
  await Promise.all(series.map(({ s, split }) => serveChannel(s, split, options, stop.signal).catch((err: unknown) => {
    if (first === undefined && !(err instanceof AbortedError && options.signal?.aborted)) first = err;
    stop.abort(err);
  })));
  if (first !== undefined) throw first instanceof Error ? first : new InternalError(`channel failed: ${JSON.stringify(first)}`);
}
