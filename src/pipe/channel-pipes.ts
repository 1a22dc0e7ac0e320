/**
 * SageMaker's Pipe-mode FIFOs for one or more channels: `<dir>/<channel>_<N>` for N = 0, 1, …
 *
 * Per channel, a loop (the writer state machine of the Pipe-mode contract, docs/semantics.md):
 *   create `<ch>_N` (mode 0600) → start fetching epoch N → wait for a reader (non-blocking
 *   polls, no thread held) → the guardian takes a second write end → create `<ch>_N+1` → write
 *   the epoch, holding the write end throughout → close (the reader sees EOF) or, if the reader
 *   closed early, stop fetching → remove `<ch>_N` → N+1.
 * So `<ch>_0` exists before any consumer needs it and, as on SageMaker, `<ch>_N+1` exists before
 * `<ch>_N`'s reader sees EOF. Channels run independently; readers may take them in any order or
 * at once.
 *
 * Extension: with `fifosPerChannel` K > 1, each channel is served as K independent FIFO series
 * `<ch>_<N>_<k>` (k = 0 … K-1), each carrying a disjoint share of the epoch's items (dealt
 * round-robin), so K reader processes (e.g. DataLoader workers) each read their own FIFO.
 *
 * A reader must not mistake the FIFO closing for a complete epoch when it is not one: if an
 * epoch stops after its reader attached (a failure, or an abort such as SIGTERM), a marker
 * `<ch>_N.error` (JSON: code, message) is written before the write end closes. pipemode's readers
 * check for it at EOF; a supervisor (pipemode train) stops the trainer first. If pipemode itself
 * dies (SIGKILL), the guardian process (fifo-guardian.ts), which holds a write end of every FIFO
 * being written, writes the marker (or kills the trainers) before the FIFO can close.
 *
 * One writer per folder: the folder is locked (pipes-lock.ts). At start, FIFOs a killed run left
 * behind release their readers (marker, then EOF) and are removed, with the old markers of this
 * run's series. The first failure stops the other channels and is thrown. Every FIFO this module
 * created is removed on the way out.
 */
import { childAbort } from '../core/abort.js';
import fs from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import path from 'node:path';
import { AbortedError, InternalError, WriterDiedError, isPipemodeError } from '../core/errors.js';
import { openRaw } from '../core/libc.js';
import { ChannelStream, type Split } from '../stream/channel-stream.js';
import { createFifo, openFifoForWrite, removeFifo } from './fifo.js';
import type { WriteOutcome } from './pipe-writer.js';
import { closeEpoch, openEpoch, writeEpoch, type EpochSource, type WritePath } from './epoch-writer.js';
import { FifoGuardian } from './fifo-guardian.js';
import { prewarmSpliceWorker } from './splice-writer.js';
import { lockPipesDir } from './pipes-lock.js';

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
  /** How epochs reach the FIFOs (epoch-writer.ts). @default 'splice' */
  readonly writePath?: WritePath;
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
  /**
   * The guardian process that keeps pipemode's death from reading as EOF (fifo-guardian.ts); one is
   * started (and ended) here if none is given. `pipemode train` passes its own, which also knows the
   * trainers' process groups.
   */
  readonly guardian?: FifoGuardian;
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

async function serveChannel(channel: PipeChannel, split: Split, options: PipeServerOptions, guardian: FifoGuardian, signal: AbortSignal): Promise<void> {
  const name = channel instanceof ChannelStream ? channel.spec.name : channel.name;
  const more = (epoch: number): boolean => options.epochs === undefined || epoch < options.epochs;
  const create = (epoch: number): void => {
    const fifo = fifoPath(options.dir, name, epoch, split);
    // the guardian hears of the FIFO before it exists: pipemode killed right after mkfifo must
    // still leave a marker, never a bare FIFO that the next reader would take for a fresh epoch
    guardian.watch(fifo);
    createFifo(fifo);
    options.onEpochReady?.({ channel: name, epoch, path: fifo });
  };
  let next = 0; // the next epoch whose FIFO is not created yet
  try {
    for (let epoch = 0; more(epoch); epoch++) {
      const fifo = fifoPath(options.dir, name, epoch, split);
      if (next <= epoch) create(next++);
      let source: EpochSource | undefined;
      try {
        const stream = channel instanceof ChannelStream ? channel : await channel.stream;
        if (signal.aborted) throw new AbortedError('stopped', {}, { cause: signal.reason });
        source = openEpoch(stream, epoch, options.writePath ?? 'splice', signal, split);
        const fd = await openFifoForWrite(fifo, signal);
        // from here a reader is attached: the guardian holds a write end too, so that pipemode's
        // death cannot close the FIFO before the marker is written
        await guardian.hold(fifo, fs.fstatSync(fd));
        // SageMaker creates the next FIFO in advance: `<ch>_N+1` exists before `<ch>_N` ends
        // (a followed channel is one epoch, ended by its idle timeout: no next FIFO)
        if (more(next) && stream.spec.follow === undefined) create(next++);
        const started = performance.now();
        // a reader got part of this epoch: tell it, before it sees EOF, that EOF is not the end
        const writing = writeEpoch(fd, source, {
          signal,
          onFailure: async (err) => {
            writeErrorMarker(`${fifo}.error`, err);
            await options.beforeFailedEpochCloses?.(err);
          },
        });
        // writeEpoch has taken this epoch's worker thread first thing: the next epoch's starts now,
        // not after this one's EOF (a thread's start-up was most of a reader's wait between epochs)
        if (source.kind === 'splice' && more(epoch + 1)) prewarmSpliceWorker();
        const result = await writing;
        guardian.release(fifo);
        options.onEpochDone?.({ channel: name, epoch, path: fifo, ...result, seconds: (performance.now() - started) / 1000 });
        if (stream.spec.follow !== undefined) return;
      } catch (err) {
        guardian.release(fifo);
        if (source !== undefined) closeEpoch(source);
        throw err;
      } finally {
        removeFifo(fifo);
        guardian.unwatch(fifo);
      }
    }
  } finally {
    // a FIFO created in advance for an epoch that will not be served
    for (let epoch = 0; epoch < next; epoch++) {
      const fifo = fifoPath(options.dir, name, epoch, split);
      if (fs.existsSync(fifo)) {
        removeFifo(fifo);
        guardian.unwatch(fifo);
      }
    }
  }
}

/** A FIFO path of this series: `<ch>_<N>` or, split, `<ch>_<N>_<k>`. */
function seriesPattern(channel: string, split: Split): RegExp {
  const name = channel.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  return split.count === 1 ? new RegExp(`^${name}_(\\d+)$`) : new RegExp(`^${name}_(\\d+)_${split.index}$`);
}

/** How long a marker written to release a stale reader stays before it is removed. */
const STALE_MARKER_MS = 2000;

/**
 * A killed run may have left FIFOs of this series, and readers blocked on them that would wait
 * forever once a new FIFO replaces the path: each gets an `.error` marker, is opened for writing
 * without blocking (which succeeds only if a reader has it open) and closed at once — the reader
 * sees EOF and the marker — and is then removed. Markers of earlier runs for the epochs about to be
 * served are removed (a complete epoch must not look failed to a reader that finds one); a marker
 * just written to release a reader is removed a little later, once that reader has seen it.
 */
async function releaseStaleFifos(dir: string, channel: string, split: Split): Promise<{ readonly later: Promise<void> } | undefined> {
  const pattern = seriesPattern(channel, split);
  const released: { marker: string; ino: number }[] = [];
  for (const entry of fs.readdirSync(dir)) {
    const file = path.join(dir, entry);
    if (pattern.test(entry)) {
      let st: fs.Stats;
      try {
        st = fs.lstatSync(file);
      } catch {
        continue;
      }
      if (!st.isFIFO()) continue;
      // a write end opens without blocking only if a reader has the FIFO open
      const fd = openRaw(file, fs.constants.O_WRONLY | fs.constants.O_NONBLOCK);
      if (typeof fd === 'number') {
        writeErrorMarker(`${file}.error`, new WriterDiedError(`an earlier pipemode serving ${file} was killed before the epoch was complete`, { path: file }));
        released.push({ marker: `${file}.error`, ino: fs.statSync(`${file}.error`).ino });
      }
      // O_RDWR never blocks: it also lets through a reader entering open(2) as the path goes
      const rw = openRaw(file, fs.constants.O_RDWR | fs.constants.O_NONBLOCK);
      removeFifo(file);
      if (typeof rw === 'number') {
        await sleep(100);
        fs.closeSync(rw);
      }
      if (typeof fd === 'number') fs.closeSync(fd);
    }
  }
  const keep = new Set(released.map((r) => r.marker));
  for (const entry of fs.readdirSync(dir)) {
    if (entry.endsWith('.error') && pattern.test(entry.slice(0, -'.error'.length)) && !keep.has(path.join(dir, entry))) {
      fs.rmSync(path.join(dir, entry), { force: true });
    }
  }
  if (released.length === 0) return undefined;
  return { later: sleep(STALE_MARKER_MS).then(() => {
    for (const { marker, ino } of released) {
      try {
        if (fs.statSync(marker).ino === ino) fs.rmSync(marker, { force: true });
      } catch {
        // gone already
      }
    }
  }) };
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
  const lock = lockPipesDir(options.dir);
  const guardian = options.guardian ?? FifoGuardian.start();
  const stop = childAbort(options.signal);
  let first: unknown;
  const count = options.fifosPerChannel ?? 1;
  const cleanups: Promise<void>[] = [];
  try {
    const series = channels.flatMap((s) => Array.from({ length: count }, (_, index) => ({ s, split: { index, count } })));
    for (const { s, split } of series) {
      const later = await releaseStaleFifos(options.dir, s instanceof ChannelStream ? s.spec.name : s.name, split);
      if (later !== undefined) cleanups.push(later.later);
    }
    await Promise.all(series.map(({ s, split }) => serveChannel(s, split, options, guardian, stop.signal).catch((err: unknown) => {
      if (first === undefined && !(err instanceof AbortedError && options.signal?.aborted)) first = err;
      stop.abort(err);
    })));
  } finally {
    await Promise.all(cleanups); // markers written to release stale readers, removed once seen
    if (options.guardian === undefined) guardian.close();
    lock.release();
  }
  if (first !== undefined) throw first instanceof Error ? first : new InternalError(`channel failed: ${JSON.stringify(first)}`);
}
