/** Shards: cut before a record that would overflow them, never split a record, named in order. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { frame } from '../../test/helpers/recordio.js';
import { recordioEncoder } from '../records/recordio.js';
import type { ShardOutput, ShardSink } from './shard-sink.js';
import { ShardWriter, shardName } from './shard-writer.js';

class MemorySink implements ShardSink {
  readonly done = new Map<string, Buffer>();
  readonly aborted: string[] = [];
  uriOf(name: string): string {
    return `mem://${name}`;
  }
  async open(name: string): Promise<ShardOutput> {
    const pieces: Buffer[] = [];
    return {
      write: async (p) => void pieces.push(...p),
      close: async () => void this.done.set(name, Buffer.concat(pieces)),
      abort: async () => void this.aborted.push(name),
    };
  }
}

test('records fill shards up to the size; a larger record gets a shard of its own', async () => {
  const sink = new MemorySink();
  const seen: string[] = [];
  const writer = new ShardWriter(sink, recordioEncoder, 64, 'rec', (s) => seen.push(`${s.name}:${s.records}:${s.bytes}`));
  // each record a distinct fill, so a record written twice, dropped or out of order shows in the bytes
  const records = [20, 20, 20, 100, 4, 0].map((n, i) => Buffer.alloc(n, i + 1)); // framed: 28, 28, 28, 108, 12, 8
  for (const r of records) await writer.add(r);
  const shards = await writer.close();
  assert.deepEqual(seen, ['part-00000.rec:2:56', 'part-00001.rec:1:28', 'part-00002.rec:1:108', 'part-00003.rec:2:20']);
  assert.deepEqual(shards.map((s) => s.uri), ['mem://part-00000.rec', 'mem://part-00001.rec', 'mem://part-00002.rec', 'mem://part-00003.rec']);
  assert.equal(sink.done.get('part-00002.rec')?.length, 108);
  // the bytes of each shard: its records, framed by an independent RecordIO model, in order
  const framed = records.map(frame);
  assert.deepEqual([...sink.done.keys()].sort(), ['part-00000.rec', 'part-00001.rec', 'part-00002.rec', 'part-00003.rec']);
  assert.deepEqual(sink.done.get('part-00000.rec'), Buffer.concat(framed.slice(0, 2)));
  assert.deepEqual(sink.done.get('part-00001.rec'), Buffer.concat(framed.slice(2, 3)));
  assert.deepEqual(sink.done.get('part-00002.rec'), Buffer.concat(framed.slice(3, 4)));
  assert.deepEqual(sink.done.get('part-00003.rec'), Buffer.concat(framed.slice(4, 6)));
  const all = Buffer.concat(['part-00000.rec', 'part-00001.rec', 'part-00002.rec', 'part-00003.rec'].map((n) => sink.done.get(n) as Buffer));
  assert.deepEqual(all, Buffer.concat(framed));
});

test('abort drops the shard in progress and keeps the finished ones', async () => {
  const sink = new MemorySink();
  const writer = new ShardWriter(sink, recordioEncoder, 30, 'rec');
  await writer.add(Buffer.alloc(20));
  await writer.add(Buffer.alloc(20));
  await writer.abort();
  assert.deepEqual([...sink.done.keys()], ['part-00000.rec']);
  assert.deepEqual(sink.aborted, ['part-00001.rec']);
  assert.equal(shardName(123456, 'pbr'), 'part-123456.pbr');
});
