/**
 * openChannel: a SageMaker channel's records, epoch by epoch, read the same way whatever its
 * input mode, so training code does not change between Pipe, File and FastFile.
 *
 * - Pipe: epoch N is the FIFO `<path>_<N>` (`<path>_<N>_<k>` for part k of a channel served with
 *   `--fifos-per-channel`). The reader waits for it to exist (stat polling), reads it to EOF
 *   without holding a thread (fifo-chunks.ts), and at EOF checks pipemode's `.error` marker, so an
 *   epoch cut short is an error, never a short epoch. Leaving an epoch early closes the FIFO:
 *   pipemode drops the rest and starts the next epoch.
 * - File / FastFile: every epoch reads every file of the folder `<path>/` in ascending UTF-8
 *   order of relative path (the key order Pipe mode streams the objects in), each file decoded on
 *   its own (so errors name the file; a text file's last line ends at the end of its file).
 *
 * Format `object` (as in the Python reader) makes every object one record in both modes: in Pipe
 * mode the channel must wrap objects in RecordIO (RecordWrapperType=RecordIO, checked when the
 * config is read), in File modes each file is read whole.
 *
 * The mode comes from `<baseDir>/input/config/inputdataconfig.json` unless given. Records are
 * Buffers, often views of larger read buffers: copy one to keep it long after its epoch.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { isSafeChannelName, type InputMode } from '../channel/channel-spec.js';
import { ConfigError } from '../core/errors.js';
import { decodeRecords } from '../records/decode-records.js';
import { RECORD_FORMATS, type RecordFormat } from '../records/record-interfaces.js';
import { createRecordDecoder, parseRecordFormat } from '../records/record-registry.js';
import { channelFiles } from './channel-files.js';
import { EpochMarker } from './epoch-marker.js';
import { fifoChunks } from './fifo-chunks.js';
import { fileChunks } from './file-chunks.js';
import { channelInputConfig, INPUT_MODES } from './input-data-config.js';
import { waitForPath } from './wait-for-path.js';

/** A record format, or `object`: one record per object (file). */
export type ReaderFormat = RecordFormat | 'object';

const READER_FORMATS: readonly ReaderFormat[] = Object.freeze([...RECORD_FORMATS, 'object']);

export interface OpenChannelOptions {
  /** How the channel's bytes are framed into records. */
  readonly format: ReaderFormat;
  /** SageMaker's base folder. @default process.env.SAGEMAKER_BASE_DIR ?? '/opt/ml' */
  readonly baseDir?: string;
  /** Input mode. @default the channel's TrainingInputMode in `<baseDir>/input/config/inputdataconfig.json` */
  readonly mode?: InputMode;
  /** Channel path: Pipe mode reads the FIFOs `<path>_<N>`, File modes the folder `<path>/`. @default `<baseDir>/input/data/<name>` */
  readonly path?: string;
  /**
   * Read share `index` of `count` (pipemode's `--fifos-per-channel count`, one reader process per
   * share): Pipe mode reads the FIFOs `<path>_<N>_<index>`; File modes read files index,
   * index + count, … of the sorted list (the same objects, when there is no shuffle).
   */
  readonly shard?: { readonly index: number; readonly count: number };
  /** First epoch of nextEpoch() and epochs(). @default 0 */
  readonly startEpoch?: number;
  /** Pipe mode: how long to wait for an epoch's FIFO to appear. @default 600000 (10 minutes) */
  readonly fifoTimeoutMs?: number;
  /** Stops waiting and reading; the iteration then throws AbortedError. */
  readonly signal?: AbortSignal;
}

/** One epoch's records; iterate it once. */
export interface ChannelEpoch extends AsyncIterable<Buffer> {
  readonly index: number;
}

export interface ChannelReader {
  readonly name: string;
  readonly mode: InputMode;
  readonly path: string;
  readonly format: ReaderFormat;
  /** The records of epoch `n`. In Pipe mode, read epochs in order: `<path>_<n+1>` appears only once epoch n is done. */
  epoch(n: number): ChannelEpoch;
  /** The epoch after the last one handed out (from `startEpoch`): one call per pass, as tf.data.generator makes. */
  nextEpoch(): ChannelEpoch;
  /** Consecutive epochs from nextEpoch(), `count` of them or endless. An epoch left unread is opened and closed, so pipemode moves on. */
  epochs(count?: number): AsyncIterable<ChannelEpoch>;
  /**
   * A followed channel (pipemode's `Follow`): its records as they arrive, i.e. epoch 0 read until
   * the stream ends (the channel's idle timeout). Pipe mode only: a File or FastFile channel is
   * complete before training starts, so there is nothing to follow.
   */
  follow(): ChannelEpoch;
}

interface Resolved {
  readonly name: string;
  readonly format: ReaderFormat;
  /** How the stream is decoded: `object` is RecordIO in Pipe mode. */
  readonly decode: RecordFormat;
  readonly mode: InputMode;
  readonly path: string;
  readonly shard: { readonly index: number; readonly count: number } | undefined;
  readonly fifoTimeoutMs: number;
  readonly signal: AbortSignal | undefined;
}

function resolve(name: string, options: OpenChannelOptions): Resolved {
  if (typeof name !== 'string' || !isSafeChannelName(name)) throw new ConfigError(`invalid channel name ${JSON.stringify(name)}`, { field: 'name' });
  const format = parseRecordFormat(String(options.format), 'format', READER_FORMATS);
  const baseDir = options.baseDir ?? process.env.SAGEMAKER_BASE_DIR ?? '/opt/ml';
  if (options.mode !== undefined && !INPUT_MODES.includes(options.mode)) {
    throw new ConfigError(`mode must be one of ${INPUT_MODES.join(', ')}, got ${JSON.stringify(options.mode)}`, { field: 'mode' });
  }
  let mode = options.mode;
  if (mode === undefined) {
    const config = channelInputConfig(baseDir, name);
    mode = config.mode;
    if (format === 'object' && mode === 'Pipe' && config.recordWrapper?.toLowerCase() !== 'recordio') {
      throw new ConfigError(`channel "${name}": format "object" in Pipe mode needs RecordWrapperType RecordIO (objects are concatenated without it, so their boundaries are lost); the channel has ${JSON.stringify(config.recordWrapper ?? 'None')}`, { field: 'format', channel: name });
    }
  }
  const shard = options.shard;
  if (shard !== undefined && !(Number.isInteger(shard.count) && shard.count >= 1 && Number.isInteger(shard.index) && shard.index >= 0 && shard.index < shard.count)) {
    throw new ConfigError(`shard must be { index, count } with 0 <= index < count, got ${JSON.stringify(shard)}`, { field: 'shard' });
  }
  const timeout = options.fifoTimeoutMs ?? 600_000;
  if (!(timeout >= 0)) throw new ConfigError(`fifoTimeoutMs must be a number of milliseconds >= 0, got ${String(timeout)}`, { field: 'fifoTimeoutMs' });
  return Object.freeze({
    name, format, mode,
    decode: format === 'object' ? 'recordio' : format,
    path: options.path ?? path.join(baseDir, 'input', 'data', name),
    shard,
    fifoTimeoutMs: timeout,
    signal: options.signal,
  });
}

function fifoOf(c: Resolved, epoch: number): string {
  return c.shard === undefined ? `${c.path}_${epoch}` : `${c.path}_${epoch}_${c.shard.index}`;
}

async function* pipeEpoch(c: Resolved, epoch: number): AsyncGenerator<Buffer, void, undefined> {
  const fifo = fifoOf(c, epoch);
  await waitForPath(fifo, c.fifoTimeoutMs, c.signal);
  const marker = new EpochMarker(fifo);
  const decoder = createRecordDecoder(c.decode, { source: fifo });
  for await (const chunk of fifoChunks(fifo, { signal: c.signal })) {
    const records = decoder.push(chunk);
    for (let i = 0; i < records.length; i++) yield records[i] as Buffer;
  }
  // EOF: before trusting it (or blaming a cut record on the data), ask whether the epoch was complete
  const failure = marker.failure(`epoch ${epoch} of channel "${c.name}"`);
  if (failure !== undefined) throw failure;
  yield* decoder.end();
}

async function* fileEpoch(c: Resolved): AsyncGenerator<Buffer, void, undefined> {
  let files = await channelFiles(c.path);
  const shard = c.shard;
  if (shard !== undefined) files = files.filter((_, i) => i % shard.count === shard.index);
  for (const file of files) {
    if (c.format === 'object') {
      yield await fs.readFile(file.path, c.signal === undefined ? {} : { signal: c.signal });
      continue;
    }
    yield* decodeRecords(fileChunks(file.path, { signal: c.signal }), createRecordDecoder(c.decode, { source: file.path }));
  }
}

class Epoch implements ChannelEpoch {
  readonly index: number;
  readonly #channel: Resolved;
  started = false;

  constructor(channel: Resolved, index: number) {
    this.#channel = channel;
    this.index = index;
  }

  [Symbol.asyncIterator](): AsyncIterator<Buffer> {
    this.started = true;
    return this.#channel.mode === 'Pipe' ? pipeEpoch(this.#channel, this.index) : fileEpoch(this.#channel);
  }

  /** Pipe mode: attach to the FIFO and leave, so pipemode ends this epoch and starts the next. */
  async skip(): Promise<void> {
    if (this.started || this.#channel.mode !== 'Pipe') return;
    this.started = true;
    const fifo = fifoOf(this.#channel, this.index);
    await waitForPath(fifo, this.#channel.fifoTimeoutMs, this.#channel.signal);
    // stay until the writer has attached (first bytes or EOF); closing before would go unnoticed
    const chunks = fifoChunks(fifo, { signal: this.#channel.signal });
    try {
      await chunks.next();
    } finally {
      await chunks.return();
    }
  }
}

/**
 * Opens a channel for reading. Throws ConfigError at once when the mode cannot be determined
 * (no inputdataconfig.json, channel not listed) or an option is wrong.
 *
 * @example
 * ```ts
 * import { openChannel, decodeProtobufRecord } from 'pipemode/reader';
 * const train = openChannel('train', { format: 'protobuf' });
 * for await (const epoch of train.epochs(3)) {
 *   for await (const record of epoch) learn(decodeProtobufRecord(record));
 * }
 * ```
 */
export function openChannel(name: string, options: OpenChannelOptions): ChannelReader {
  const c = resolve(name, options);
  let next = options.startEpoch ?? 0;
  if (!Number.isSafeInteger(next) || next < 0) throw new ConfigError(`startEpoch must be an integer >= 0, got ${String(next)}`, { field: 'startEpoch' });
  const reader: ChannelReader = {
    name: c.name,
    mode: c.mode,
    path: c.path,
    format: c.format,
    epoch: (n) => {
      if (!Number.isSafeInteger(n) || n < 0) throw new ConfigError(`epoch must be an integer >= 0, got ${String(n)}`, { field: 'epoch' });
      return new Epoch(c, n);
    },
    nextEpoch: () => new Epoch(c, next++),
    follow: () => {
      if (c.mode !== 'Pipe') throw new ConfigError(`channel "${c.name}" is in ${c.mode} mode; follow() reads a followed channel, which is served in Pipe mode`, { field: 'mode' });
      return new Epoch(c, 0);
    },
    epochs: (count = Infinity) => ({
      async *[Symbol.asyncIterator]() {
        for (let i = 0; i < count; i++) {
          const epoch = reader.nextEpoch() as Epoch;
          yield epoch;
          await epoch.skip();
        }
      },
    }),
  };
  return Object.freeze(reader);
}
