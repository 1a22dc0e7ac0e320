/**
 * `pipemode convert` end to end through the real CLI: CSV, JSON lines and whole files from a
 * local folder and from the test S3 server, into every format, shards on disk and on S3, decoded
 * back and compared record by record with what the input says; a converted RecordIO-protobuf
 * channel streamed by `pipemode cat` and by `pipemode pipe` into the TypeScript reader; bad input
 * named by file and line; `inspect` on the shards.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { GetObjectCommand, ListObjectsV2Command } from '@aws-sdk/client-s3';
import { openChannel } from 'pipemode/reader';
import { createFifo } from '../../src/pipe/fifo.js';
import { Prng } from '../../src/plan/prng.js';
import { compareKeys } from '../../src/storage/object-store.js';
import { decodeProtobufRecord } from '../../src/records/protobuf-record-decoder.js';
import type { RecordFormat } from '../../src/records/record-interfaces.js';
import { createRecordDecoder } from '../../src/records/record-registry.js';
import { ROOT, runPipemode, startPipemode, sha256 } from '../helpers/cli.js';
import { newBucket, put, s3 } from '../helpers/s3.js';

/** Child processes to kill when the file's tests end, whatever happened. */
const children: ChildProcess[] = [];
after(() => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
});

const tmp = (name: string): string => fs.mkdtempSync(path.join(os.tmpdir(), `pipemode-${name}-`));

/** Three CSV files of rows "label,f1,…,f5" (the last file without a final newline, one with CRLF and a blank line). */
function csvFiles(): Map<string, string> {
  const prng = new Prng(5n, 0);
  const num = (): string => ((prng.nextUint32() % 2_000_001) / 1000 - 1000).toString();
  const files = new Map<string, string>();
  for (const [i, name] of ['part-a.csv', 'part-b.csv', 'sub/part-c.csv'].entries()) {
    const rows = Array.from({ length: 60 + i * 25 }, () => [String(prng.below(3)), num(), num(), num(), num(), num()].join(','));
    const eol = i === 1 ? '\r\n' : '\n';
    files.set(name, rows.join(eol) + (i === 2 ? '' : eol) + (i === 0 ? '\n' : ''));
  }
  return files;
}

/** What convert must produce from the CSV files: per row, its text and its numbers. */
function csvRows(files: Map<string, string>): { text: string; numbers: number[] }[] {
  return [...files.keys()].sort().flatMap((name) => (files.get(name) as string).split('\n')
    .map((l) => l.replace(/\r$/, ''))
    .filter((l) => l !== '')
    .map((text) => ({ text, numbers: text.split(',').map(Number) })));
}

function writeFolder(files: Map<string, string | Buffer>): string {
  const dir = tmp('in');
  for (const [name, body] of files) {
    fs.mkdirSync(path.dirname(path.join(dir, name)), { recursive: true });
    fs.writeFileSync(path.join(dir, name), body);
  }
  return `${dir}/`;
}

function decodeAll(format: RecordFormat, bytes: Buffer): Buffer[] {
  const d = createRecordDecoder(format);
  return [...d.push(bytes), ...d.end()];
}

/** The shards under a local folder or S3 prefix, in name order, with their bytes. */
async function shards(dest: string): Promise<[string, Buffer][]> {
  if (!dest.startsWith('s3://')) {
    const names = fs.readdirSync(dest).sort();
    assert.ok(names.every((n) => /^part-\d{5}\.(rec|tfrecord|pbr)$/.test(n)), `only shards: ${names.join(' ')}`);
    return names.map((n) => [n, fs.readFileSync(path.join(dest, n))]);
  }
  const [bucket, ...rest] = dest.slice(5).split('/');
  const prefix = rest.join('/');
  const listed = await s3().send(new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix }));
  const out: [string, Buffer][] = [];
  for (const o of listed.Contents ?? []) {
    const got = await s3().send(new GetObjectCommand({ Bucket: bucket, Key: o.Key }));
    out.push([(o.Key ?? '').slice(prefix.length), Buffer.from(await (got.Body as { transformToByteArray(): Promise<Uint8Array> }).transformToByteArray())]);
  }
  return out;
}

const EXTENSION: Record<string, string> = { recordio: 'rec', tfrecord: 'tfrecord', protobuf: 'pbr' };

async function convert(args: string[]): Promise<string> {
  const r = await runPipemode(['convert', ...args]);
  assert.equal(r.code, 0, r.stderr);
  return r.stderr;
}

/** Checks the shards against the CSV rows: every row once, in order, exactly. */
async function checkCsvShards(dest: string, format: 'recordio' | 'tfrecord' | 'protobuf', rows: { text: string; numbers: number[] }[], shardSize: number): Promise<void> {
  const found = await shards(dest);
  assert.ok(found.length > 1, 'several shards');
  const records: Buffer[] = [];
  for (const [name, bytes] of found) {
    assert.match(name, new RegExp(`^part-\\d{5}\\.${EXTENSION[format]}$`));
    const inShard = decodeAll(format === 'protobuf' ? 'protobuf' : format, bytes);
    assert.ok(bytes.length <= shardSize || inShard.length === 1, `${name}: ${bytes.length} bytes`);
    records.push(...inShard);
  }
  assert.equal(records.length, rows.length);
  for (const [i, row] of rows.entries()) {
    const r = records[i] as Buffer;
    if (format !== 'protobuf') {
      assert.equal(r.toString(), row.text, `record ${i}`);
      continue;
    }
    const [label, ...features] = row.numbers;
    assert.deepEqual(decodeProtobufRecord(r), {
      features: { values: { float32Tensor: { values: features.map(Math.fround) } } },
      label: { values: { float32Tensor: { values: [Math.fround(label as number)] } } },
    }, `record ${i}: ${row.text}`);
  }
}

test('CSV from a local folder and from S3, into each format, to a local folder and to S3: every row, in order, exactly', async () => {
  const files = csvFiles();
  const rows = csvRows(files);
  const local = writeFolder(files);
  const bucket = await newBucket('pm-convert');
  await Promise.all([...files].map(([name, body]) => put(bucket, `csv/${name}`, body)));
  await put(bucket, 'csv/empty-folder/', ''); // a folder marker: not an input
  for (const format of ['recordio', 'tfrecord', 'protobuf'] as const) {
    const toLocal = path.join(tmp('out'), 'shards');
    const log = await convert([local, toLocal, '--to', format, '--shard-size', '2KiB']);
    assert.match(log, /3 objects, read as csv/);
    await checkCsvShards(toLocal, format, rows, 2048);
    const toS3 = `s3://${bucket}/out-${format}/`;
    await convert([`s3://${bucket}/csv/`, toS3, '--to', format, '--from', 'csv', '--shard-size', '2KiB']);
    await checkCsvShards(toS3, format, rows, 2048);
    const a = await shards(toLocal);
    const b = await shards(toS3);
    assert.deepEqual(b.map(([n, x]) => [n, sha256(x)]), a.map(([n, x]) => [n, sha256(x)]), 'S3 and local input give the same shards');
  }
});

test('a converted RecordIO-protobuf channel streams through `pipemode cat` and through `pipe` into the reader, record for record', async () => {
  const files = csvFiles();
  const rows = csvRows(files);
  const bucket = await newBucket('pm-convert');
  await Promise.all([...files].map(([name, body]) => put(bucket, `csv/${name}`, body)));
  await convert([`s3://${bucket}/csv/`, `s3://${bucket}/train/`, '--to', 'protobuf', '--shard-size', '3000']);
  const cat = await runPipemode(['cat', `s3://${bucket}/train/`]);
  assert.equal(cat.code, 0, cat.stderr);
  // cat streams the shards' bytes as they are, concatenated in key order
  const stored = await shards(`s3://${bucket}/train/`);
  assert.ok(stored.length > 1, 'several shards');
  const inKeyOrder = [...stored].sort(([a], [b]) => compareKeys(a, b));
  assert.ok(cat.stdout.equals(Buffer.concat(inKeyOrder.map(([, bytes]) => bytes))), 'cat output is the shards concatenated in key order');
  const records = decodeAll('protobuf', cat.stdout).map((r) => decodeProtobufRecord(r));
  assert.equal(records.length, rows.length);
  assert.deepEqual(records.map((r) => r.label.values?.float32Tensor?.values[0]), rows.map((r) => Math.fround(r.numbers[0] as number)));
  // whole records: features and label, as checkCsvShards expects them
  for (const [i, row] of rows.entries()) {
    const [label, ...features] = row.numbers;
    assert.deepEqual(records[i], {
      features: { values: { float32Tensor: { values: features.map(Math.fround) } } },
      label: { values: { float32Tensor: { values: [Math.fround(label as number)] } } },
    }, `record ${i}: ${row.text}`);
  }

  // the same shards in File mode (a local copy) and in Pipe mode give the same records
  const local = tmp('train');
  for (const [name, bytes] of stored) fs.writeFileSync(path.join(local, name), bytes);
  const dir = tmp('fifo');
  const pm = startPipemode(['pipe', '--dir', dir, '--channel', `train=s3://${bucket}/train/`, '--epochs', '2']);
  children.push(pm);
  const closed = once(pm, 'close');
  const pipe = openChannel('train', { format: 'protobuf', mode: 'Pipe', path: path.join(dir, 'train') });
  const file = openChannel('train', { format: 'protobuf', mode: 'File', path: local });
  for (let epoch = 0; epoch < 2; epoch++) {
    const [p, f] = await Promise.all([pipe, file].map(async (ch) => {
      const out: string[] = [];
      for await (const r of ch.epoch(epoch)) out.push(sha256(r));
      return out;
    }));
    assert.equal(p?.length, rows.length);
    assert.deepEqual(p, f, `epoch ${epoch}`);
  }
  const [code] = await closed as [number];
  assert.equal(code, 0);
});

test('JSON lines into protobuf (dense rows and whole records) and TFRecord; whole files into RecordIO', async () => {
  const lines = [
    '{"features": [1, 2.5, -3], "label": 1}',
    '',
    '{"features": [0.1], "label": [2, 3]}',
    '{"features": [4]}',
    '{"features": {"values": {"float32Tensor": {"values": [1], "keys": [7], "shape": [10]}}}, "label": {"values": {"int32Tensor": {"values": [-1]}}}, "uid": "u"}',
  ];
  const src = writeFolder(new Map([['data.jsonl', `${lines.join('\n')}\n`]]));
  const pb = path.join(tmp('out'), 'pb');
  await convert([src, pb, '--to', 'protobuf']);
  const [[name, bytes]] = await shards(pb) as [[string, Buffer]];
  assert.equal(name, 'part-00000.pbr');
  assert.deepEqual(decodeAll('protobuf', bytes).map((r) => decodeProtobufRecord(r)), [
    { features: { values: { float32Tensor: { values: [1, 2.5, -3] } } }, label: { values: { float32Tensor: { values: [1] } } } },
    { features: { values: { float32Tensor: { values: [Math.fround(0.1)] } } }, label: { values: { float32Tensor: { values: [2, 3] } } } },
    { features: { values: { float32Tensor: { values: [4] } } }, label: {} },
    { features: { values: { float32Tensor: { values: [1], keys: [7], shape: [10] } } }, label: { values: { int32Tensor: { values: [-1] } } }, uid: 'u' },
  ]);
  const tf = path.join(tmp('out'), 'tf');
  await convert([src, tf, '--to', 'tfrecord']);
  assert.deepEqual(decodeAll('tfrecord', (await shards(tf))[0]?.[1] as Buffer).map(String), lines.filter((l) => l !== ''));

  const prng = new Prng(9n, 0);
  const blobs = new Map<string, Buffer>([['a.bin', Buffer.alloc(0)], ['b/c.jpg', Buffer.from(Array.from({ length: 150_001 }, () => prng.below(256)))], ['d.txt', Buffer.from('no newline')]]);
  const rec = path.join(tmp('out'), 'rec');
  await convert([writeFolder(blobs), rec, '--to', 'recordio', '--shard-size', '100KiB']);
  const found = await shards(rec);
  assert.deepEqual(found.map(([n]) => n), ['part-00000.rec', 'part-00001.rec', 'part-00002.rec']);
  assert.deepEqual(found.flatMap(([, b]) => decodeAll('recordio', b)).map(sha256), ['a.bin', 'b/c.jpg', 'd.txt'].map((k) => sha256(blobs.get(k) as Buffer)));
  const inspect = await runPipemode(['inspect', path.join(rec, 'part-00001.rec'), '--format', 'recordio']);
  assert.equal(inspect.code, 0, inspect.stderr);
  assert.match(inspect.stdout.toString(), /^#0 150001 B: [0-9a-f]{96} … \(\+149953 bytes\)\nrecordio: 1 records; record size min 150001, mean 150001\.0, max 150001 bytes; 150001 bytes of records in 150012 bytes/);
});

test('bad input stops the conversion with the file and line; no partial shard is left', async () => {
  const csv = writeFolder(new Map([['a.csv', '1,2,3\n4,5,6\n'], ['b.csv', '1,2,3\n1,oops,3\n']]));
  const out = path.join(tmp('out'), 'x');
  const r = await runPipemode(['convert', csv, out, '--to', 'protobuf']);
  assert.equal(r.code, 4);
  assert.match(r.stderr, /b\.csv line 2: column 2 is not a number: "oops" \[PM_ERR_INPUT_FORMAT\]/);
  assert.deepEqual(fs.existsSync(out) ? fs.readdirSync(out) : [], [], 'the shard in progress was removed');

  const json = writeFolder(new Map([['a.jsonl', '{"features": [1]}\n{"features": [1,}\n']]));
  const j = await runPipemode(['convert', json, path.join(tmp('out'), 'y'), '--to', 'protobuf']);
  assert.equal(j.code, 4);
  assert.match(j.stderr, /a\.jsonl line 2: not valid JSON: .* \[PM_ERR_INPUT_FORMAT\]/);
  const noFeatures = await runPipemode(['convert', writeFolder(new Map([['a.jsonl', '{"label": 1}\n']])), path.join(tmp('out'), 'z'), '--to', 'protobuf']);
  assert.match(noFeatures.stderr, /a\.jsonl line 1: no "features"/);
  assert.equal(noFeatures.code, 4);
});

test('convert refuses a destination inside the source, one that already holds shards, and impossible combinations', async () => {
  const src = writeFolder(new Map([['a.csv', '1,2\n']]));
  const inside = await runPipemode(['convert', src, path.join(src, 'out'), '--to', 'recordio']);
  assert.equal(inside.code, 2);
  assert.match(inside.stderr, /lies under the source prefix/);
  const out = path.join(tmp('out'), 'o');
  await convert([src, out, '--to', 'recordio']);
  const again = await runPipemode(['convert', src, out, '--to', 'recordio']);
  assert.equal(again.code, 2);
  assert.match(again.stderr, /already holds shards .*part-00000\.rec/);
  const files = await runPipemode(['convert', src, path.join(tmp('out'), 'p'), '--to', 'protobuf', '--from', 'files']);
  assert.equal(files.code, 2);
  assert.match(files.stderr, /--from files/);
  const bad = await runPipemode(['convert', src, path.join(tmp('out'), 'q'), '--to', 'lines']);
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /--to must be one of recordio, tfrecord, protobuf, got "lines"/);
  const empty = await runPipemode(['convert', path.join(src, 'nothing-here'), path.join(tmp('out'), 'r'), '--to', 'recordio']);
  assert.equal(empty.code, 3);
  assert.match(empty.stderr, /PM_ERR_EMPTY_SOURCE/);
});

test('inspect reads a FIFO as it is written, and reports a corrupt record with its index and offset', async () => {
  const fixtures = path.join(ROOT, 'test/fixtures/formats');
  const dir = tmp('fifo');
  const fifo = path.join(dir, 'f');
  createFifo(fifo);
  assert.ok(fs.statSync(fifo).isFIFO());
  // the writer in a child process: its blocking open must never hold this process's threadpool
  const writer = spawn('sh', ['-c', 'cat "$0" > "$1"', path.join(fixtures, 'mlio-split_records.pr'), fifo], { stdio: 'ignore' });
  children.push(writer);
  const written = once(writer, 'close');
  const r = await runPipemode(['inspect', fifo, '--format', 'protobuf', '--limit', '1']);
  assert.equal(r.code, 0, r.stderr);
  assert.equal((await written as [number])[0], 0);
  assert.equal(r.stdout.toString(), '{"features":{"values":{"float32Tensor":{"values":[1,0,0]}}},"label":{"values":{"float32Tensor":{"values":[1]}}}}\n' +
    'protobuf: 5 records; record size min 48, mean 48.0, max 48 bytes; 240 bytes of records in 440 bytes (440 B)\n');
  const bad = await runPipemode(['inspect', path.join(fixtures, 'corrupt-split-records.pr'), '--format', 'protobuf']);
  assert.equal(bad.code, 4);
  assert.equal(bad.stdout.toString().split('\n').length, 3, 'the two good records were previewed');
  assert.match(bad.stderr, /protobuf: record 2 at byte 212 of .*corrupt-split-records\.pr: part flag 0 inside the multi-part record that began at byte 176 .*\[PM_ERR_RECORD_FORMAT\]/);
});
