/**
 * Cuts a stream of records into shards `part-00000.<ext>`, `part-00001.<ext>`, … of about
 * `shardSize` bytes each: a record goes into the current shard unless it would push a non-empty
 * shard past the size, so shards stay at or under the size except one holding a single larger
 * record. Records are framed by the format's encoder and never split across shards, so every
 * shard is a complete file in its format, readable on its own (File mode) or concatenated with
 * the others (Pipe mode).
 */
import type { RecordEncoder } from '../records/record-interfaces.js';
import type { ShardOutput, ShardSink } from './shard-sink.js';

export interface ShardInfo {
  readonly name: string;
  readonly uri: string;
  readonly records: number;
  readonly bytes: number;
}

/** Shard names sort in write order up to 100000 shards (and stay unique beyond). */
export function shardName(index: number, extension: string): string {
  return `part-${String(index).padStart(5, '0')}.${extension}`;
}

export class ShardWriter {
  readonly #sink: ShardSink;
  readonly #encoder: RecordEncoder;
  readonly #shardSize: number;
  readonly #extension: string;
  readonly #onShard: (shard: ShardInfo) => void;
  readonly shards: ShardInfo[] = [];
  #current: { output: ShardOutput; name: string; records: number; bytes: number } | undefined;

  constructor(sink: ShardSink, encoder: RecordEncoder, shardSize: number, extension: string, onShard: (shard: ShardInfo) => void = () => {}) {
    this.#sink = sink;
    this.#encoder = encoder;
    this.#shardSize = shardSize;
    this.#extension = extension;
    this.#onShard = onShard;
  }

  async add(record: Buffer): Promise<void> {
    const pieces = this.#encoder.encode(record);
    const length = this.#encoder.framedLength(record.length);
    if (this.#current !== undefined && this.#current.bytes > 0 && this.#current.bytes + length > this.#shardSize) await this.#finishShard();
    if (this.#current === undefined) {
      const name = shardName(this.shards.length, this.#extension);
      this.#current = { output: await this.#sink.open(name), name, records: 0, bytes: 0 };
    }
    await this.#current.output.write(pieces);
    this.#current.records++;
    this.#current.bytes += length;
  }

  /** Finishes the last shard. */
  async close(): Promise<ShardInfo[]> {
    if (this.#current !== undefined) await this.#finishShard();
    return this.shards;
  }

  /** Drops the shard in progress (finished shards stay). */
  async abort(): Promise<void> {
    const current = this.#current;
    this.#current = undefined;
    await current?.output.abort();
  }

  async #finishShard(): Promise<void> {
    const c = this.#current;
    if (c === undefined) return;
    await c.output.close();
    this.#current = undefined;
    const info = { name: c.name, uri: this.#sink.uriOf(c.name), records: c.records, bytes: c.bytes };
    this.shards.push(info);
    this.#onShard(info);
  }
}
