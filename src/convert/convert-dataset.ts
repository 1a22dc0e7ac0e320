/**
 * `convert`: a local folder or S3 prefix of CSV files, JSON lines or arbitrary files → shards of
 * RecordIO, TFRecord or RecordIO-protobuf records in a local folder or under an S3 prefix — how
 * users prepare data for Pipe mode.
 *
 * Sources are read through the same stores as channels (prefix semantics, UTF-8 key order,
 * ranged reads pinned to the listed version, retries that resume), one object at a time, and
 * streamed: CSV and JSON lines are split into lines as they arrive, so an input file can be far
 * larger than memory. The order of the output records is the order of the input: objects in key
 * order, lines in file order. Shards are written by ShardWriter (complete files only, `.tmp` +
 * rename locally). The destination must hold no `part-*` shards yet and must not lie under the
 * source prefix (a second run would read the first run's output). The first bad input line
 * stops the conversion with InputFormatError naming the file and line; shards already finished
 * stay, the one in progress is dropped.
 */
import { constants } from 'node:buffer';
import { asFolder, parseSourceUri, formatSourceUri, type SourceUri } from '../storage/source-uri.js';
import { ConfigError, RecordTooLargeError } from '../core/errors.js';
import { formatBytes } from '../core/byte-size.js';
import type { Logger } from '../core/log.js';
import { silentLogger } from '../core/log.js';
import { readRangeWithRetry, type RetryPolicy } from '../storage/retry.js';
import { itemsFromPrefix } from '../manifest/from-prefix.js';
import type { ObjectUnit } from '../manifest/unit.js';
import { LinesDecoder } from '../records/lines.js';
import type { RecordFormat } from '../records/record-interfaces.js';
import { recordEncoderFor, SHARD_EXTENSION } from '../records/record-registry.js';
import { RECORDIO_MAX_LENGTH } from '../records/recordio.js';
import type { ObjectInfo, ObjectStore } from '../storage/object-store.js';
import type { Stores } from '../storage/stores.js';
import { csvRowRecord, jsonLine, jsonLineRecord, type LineOrigin } from './input-records.js';
import { LocalShardSink, S3ShardSink, type ShardSink } from './shard-sink.js';
import { ShardWriter, type ShardInfo } from './shard-writer.js';

export type ConvertInput = 'csv' | 'jsonl' | 'files';
export type ConvertTarget = Exclude<RecordFormat, 'lines'>;

export const CONVERT_INPUTS: readonly ConvertInput[] = Object.freeze(['csv', 'jsonl', 'files']);
export const CONVERT_TARGETS: readonly ConvertTarget[] = Object.freeze(['recordio', 'tfrecord', 'protobuf']);

export interface ConvertOptions {
  /** s3://bucket/prefix, file:///path or a local path. */
  readonly source: string;
  /** Folder or S3 prefix for the shards (a trailing "/" is implied). */
  readonly dest: string;
  readonly to: ConvertTarget;
  /** Input kind; undefined: csv if every object ends in .csv, jsonl if every one ends in .jsonl/.ndjson/.json, else files. */
  readonly from: ConvertInput | undefined;
  /** Shard size in bytes (a single larger record makes a larger shard). */
  readonly shardSize: number;
  /** CSV → protobuf: the label's column (negative: from the end); undefined: no label. */
  readonly labelColumn: number | undefined;
  /** CSV: skip the first line of every file. */
  readonly header: boolean;
  readonly retry: RetryPolicy;
  readonly signal?: AbortSignal | undefined;
  readonly log?: Logger;
}

export interface ConvertResult {
  readonly from: ConvertInput;
  readonly objects: number;
  readonly records: number;
  readonly shards: readonly ShardInfo[];
}

/** The input kind the objects' names suggest. */
export function inferInput(keys: readonly string[]): ConvertInput {
  if (keys.every((k) => /\.csv$/i.test(k))) return 'csv';
  if (keys.every((k) => /\.(jsonl|ndjson|json)$/i.test(k))) return 'jsonl';
  return 'files';
}

/** The objects under the prefix, in key order (S3Prefix semantics: folder markers skipped, none is an error). */
async function listSource(store: ObjectStore, prefix: string, signal: AbortSignal | undefined): Promise<ObjectInfo[]> {
  return (await itemsFromPrefix(store, prefix, signal)).map(([unit]) => (unit as ObjectUnit).info as ObjectInfo);
}

/** Where the shards go; an S3 sink shares the S3Access of `stores` (closed with them). */
async function sinkFor(dest: SourceUri, stores: Stores, retry: RetryPolicy): Promise<ShardSink> {
  if (dest.kind === 'file') return new LocalShardSink(`/${dest.key}`);
  return new S3ShardSink(await stores.s3Access(), dest.bucket, dest.key, retry);
}

export async function convertDataset(options: ConvertOptions, stores: Stores): Promise<ConvertResult> {
  const log = options.log ?? silentLogger;
  const { signal, retry } = options;
  const source = parseSourceUri(options.source);
  const dest = asFolder(parseSourceUri(options.dest));
  const sameStore = source.kind === dest.kind && (source.kind === 'file' || (dest.kind === 's3' && source.bucket === dest.bucket));
  if (sameStore && dest.key.startsWith(source.key)) {
    throw new ConfigError(`the destination ${formatSourceUri(dest)} lies under the source prefix ${formatSourceUri(source)}: a later run would read these shards as input`, { field: 'DEST' });
  }
  const store = stores.storeFor(source);
  const objects = await listSource(store, source.key, signal);
  const from = options.from ?? inferInput(objects.map((o) => o.key));
  if (from === 'files' && options.to === 'protobuf') {
    throw new ConfigError('--from files makes each file one record of raw bytes; RecordIO-protobuf records are built from CSV rows or JSON lines (--from csv or jsonl)', { field: '--from' });
  }
  for await (const existing of stores.storeFor(dest).list(`${dest.key}part-`, signal)) {
    throw new ConfigError(`the destination already holds shards (${stores.storeFor(dest).uriOf(existing.key)}): choose an empty destination`, { field: 'DEST' });
  }
  log.info(`${formatSourceUri(source)}: ${objects.length} objects, read as ${from}, written as ${options.to} shards of up to ${formatBytes(options.shardSize)}`);

  const sink = await sinkFor(dest, stores, retry);
  const writer = new ShardWriter(sink, recordEncoderFor(options.to), options.shardSize, SHARD_EXTENSION[options.to], (s) => {
    log.info(`${s.uri}: ${s.records} records, ${s.bytes} bytes`);
  });
  try {
    for (const info of objects) {
      const uri = store.uriOf(info.key);
      const chunks = info.size === 0 ? empty() : readRangeWithRetry(store, info, 0, info.size, retry, signal);
      if (from === 'files') {
        const limit = options.to === 'tfrecord' ? constants.MAX_LENGTH : RECORDIO_MAX_LENGTH;
        if (info.size > limit) throw new RecordTooLargeError(`${uri} is ${info.size} bytes: too large for one ${options.to} record (at most ${limit})`, { uri, size: info.size });
        const parts: Buffer[] = [];
        for await (const c of chunks) parts.push(c);
        await writer.add(Buffer.concat(parts, info.size));
        continue;
      }
      for await (const { bytes, text, at } of lines(chunks, uri, from === 'csv' && options.header)) {
        if (from === 'csv') {
          await writer.add(options.to === 'protobuf' ? csvRowRecord(text, options.labelColumn, at) : bytes);
        } else {
          const value = jsonLine(text, at);
          await writer.add(options.to === 'protobuf' ? jsonLineRecord(value, at) : bytes);
        }
      }
    }
    const shards = await writer.close();
    return { from, objects: objects.length, records: shards.reduce((n, s) => n + s.records, 0), shards };
  } catch (err) {
    await writer.abort();
    throw err;
  }
}

async function* empty(): AsyncGenerator<Buffer> {}

interface Line {
  /** The line's bytes, without "\n", a trailing "\r" and (on line 1) a UTF-8 byte order mark. */
  readonly bytes: Buffer;
  readonly text: string;
  readonly at: LineOrigin;
}

const BOM = Buffer.from([0xef, 0xbb, 0xbf]);

/** The non-blank lines of an object, with their 1-based numbers. */
async function* lines(chunks: AsyncIterable<Buffer>, uri: string, skipFirst: boolean): AsyncGenerator<Line> {
  const decoder = new LinesDecoder();
  let line = 0;
  function* take(records: readonly Buffer[]): Generator<Line> {
    for (let bytes of records) {
      line++;
      if (line === 1 && skipFirst) continue;
      if (line === 1 && bytes.subarray(0, 3).equals(BOM)) bytes = bytes.subarray(3);
      if (bytes.length > 0 && bytes[bytes.length - 1] === 0x0d) bytes = bytes.subarray(0, -1);
      const text = bytes.toString('utf8');
      if (text.trim() === '') continue;
      yield { bytes, text, at: { uri, line } };
    }
  }
  for await (const chunk of chunks) yield* take(decoder.push(chunk));
  yield* take(decoder.end());
}
