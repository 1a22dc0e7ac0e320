/**
 * Batch transform end to end: real model containers (test/fixtures/transform/batch_container.py
 * and pipemode's Python model server), local folders and the real Ceph RGW, outputs compared byte
 * for byte (sha256) with what the SageMaker semantics give. Most runs call runTransform in this
 * process (each still starts a real container); the CLI runs check exit codes, describe and bad
 * JOB files.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import zlib from 'node:zlib';
import { GetObjectCommand, ListObjectsV2Command } from '@aws-sdk/client-s3';
import { silentLogger } from '../../src/core/log.js';
import { loadImagesMap } from '../../src/hosting/images-file.js';
import { recordEncoderFor } from '../../src/records/record-registry.js';
import { Stores } from '../../src/storage/stores.js';
import { concatBody, miniBatches } from '../../src/transform/mini-batcher.js';
import { splitRecords } from '../../src/transform/record-splitter.js';
import { runTransform, type TransformOutcome } from '../../src/transform/run-transform.js';
import { resolveTransformJobFile } from '../../src/transform/transform-job-file.js';
import { ROOT, runPipemode, sha256, startPipemode } from '../helpers/cli.js';
import { runPython } from '../helpers/python-aws.js';
import { startServerProcess } from '../helpers/server-process.js';
import { newBucket, put, s3 } from '../helpers/s3.js';

const CONTAINER = path.join(ROOT, 'test/fixtures/transform/batch_container.py');
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'pipemode-transform-'));
const IMAGES = path.join(tmp, 'images.json');
fs.writeFileSync(IMAGES, JSON.stringify({ 'batch-test': ['python3', CONTAINER] }));
const images = loadImagesMap(IMAGES);
const stores = new Stores();
test.after(() => stores.close());

let jobCounter = 0;

function dir(name: string): string {
  const d = path.join(tmp, `${name}-${++jobCounter}`);
  fs.mkdirSync(d, { recursive: true });
  return d;
}

function writeFiles(root: string, files: Record<string, Buffer | string>): void {
  for (const [rel, body] of Object.entries(files)) {
    fs.mkdirSync(path.dirname(path.join(root, rel)), { recursive: true });
    fs.writeFileSync(path.join(root, rel), body);
  }
}

/** Every file below `root`, relative path → bytes. */
function readTree(root: string): Map<string, Buffer> {
  const out = new Map<string, Buffer>();
  if (!fs.existsSync(root)) return out;
  for (const rel of (fs.readdirSync(root, { recursive: true }) as string[]).sort()) {
    if (fs.statSync(path.join(root, rel)).isFile()) out.set(rel, fs.readFileSync(path.join(root, rel)));
  }
  return out;
}

function digests(tree: Map<string, Buffer>): Record<string, string> {
  return Object.fromEntries([...tree].map(([k, v]) => [k, sha256(v)]));
}

interface JobOptions {
  env?: Record<string, string>;
  image?: string;
  modelData?: string;
  input: string;
  output: string;
  dataType?: 'S3Prefix' | 'ManifestFile';
  request?: Record<string, unknown>;
  transformInput?: Record<string, unknown>;
  transformOutput?: Record<string, unknown>;
}

function jobDoc(name: string, o: JobOptions): Record<string, unknown> {
  return {
    Models: [{ ModelName: 'model', PrimaryContainer: { Image: o.image ?? 'batch-test', Environment: o.env ?? {}, ...(o.modelData !== undefined ? { ModelDataUrl: o.modelData } : {}) } }],
    TransformJob: {
      TransformJobName: name,
      ModelName: 'model',
      ...o.request,
      TransformInput: { DataSource: { S3DataSource: { S3DataType: o.dataType ?? 'S3Prefix', S3Uri: o.input } }, ...o.transformInput },
      TransformOutput: { S3OutputPath: o.output, ...o.transformOutput },
    },
  };
}

async function transform(work: string, o: JobOptions, rank?: { rank: number; count: number }): Promise<TransformOutcome> {
  const name = `job-${jobCounter}-${rank?.rank ?? 'all'}`;
  return runTransform(resolveTransformJobFile(jobDoc(name, o), 'job'), {
    jobDir: path.join(work, 'jobs', name), stores, images, log: silentLogger, stopGraceMs: 2000, rank,
  });
}

/** Lines of varied length, deterministic: `lines` lines, about `bytes` in all. */
function lineFile(lines: number, seed: number): Buffer {
  const out: string[] = [];
  let x = seed;
  for (let i = 0; i < lines; i++) {
    x = (x * 1103515245 + 12345) % 2 ** 31;
    out.push(`${i},${x % 1000},${'v'.repeat(x % 300)}`);
  }
  return Buffer.from(`${out.join('\n')}\n`);
}

function framed(format: 'recordio' | 'tfrecord', payloads: Buffer[]): Buffer {
  const enc = recordEncoderFor(format);
  return Buffer.concat(payloads.flatMap((p) => enc.encode(p)));
}

test('every SplitType × BatchStrategy through an echoing container, in order with 4 requests in flight', async () => {
  const work = dir('split');
  const lines = lineFile(12_000, 1); // ~1.9 MB: several 1 MB batches
  const few = lineFile(600, 2); // SingleRecord: one request per line
  // gzip: inflated in 256 KiB chunks, so lines lie across chunks; the last line has no "\n"
  const many = lineFile(5000, 3).subarray(0, -1);
  const payloads = Array.from({ length: 300 }, (_, i) => Buffer.alloc(1 + ((i * 7919) % 9000), i % 251));
  writeFiles(path.join(work, 'in'), {
    'lines.txt': lines,
    'few.txt': few,
    'many.txt.gz': zlib.gzipSync(many),
    'x.recordio': framed('recordio', payloads),
    'x.tfrecord': framed('tfrecord', payloads),
  });
  const cases: { split: string; strategy: string; file: string; expect: Buffer; gzip?: boolean }[] = [
    { split: 'Line', strategy: 'MultiRecord', file: 'lines.txt', expect: lines },
    { split: 'Line', strategy: 'SingleRecord', file: 'few.txt', expect: few },
    { split: 'Line', strategy: 'SingleRecord', file: 'many.txt.gz', expect: Buffer.concat([many, Buffer.from('\n')]), gzip: true },
    { split: 'RecordIO', strategy: 'MultiRecord', file: 'x.recordio', expect: framed('recordio', payloads) },
    { split: 'RecordIO', strategy: 'SingleRecord', file: 'x.recordio', expect: Buffer.concat(payloads) },
    { split: 'TFRecord', strategy: 'MultiRecord', file: 'x.tfrecord', expect: framed('tfrecord', payloads) },
    { split: 'TFRecord', strategy: 'SingleRecord', file: 'x.tfrecord', expect: Buffer.concat(payloads) },
    { split: 'None', strategy: 'MultiRecord', file: 'x.tfrecord', expect: framed('tfrecord', payloads) },
  ];
  const outcomes = await Promise.all(cases.map(async (c) => {
    const out = path.join(work, `out-${c.split}-${c.strategy}-${c.file}`);
    const outcome = await transform(work, {
      input: path.join(work, 'in', c.file), output: out,
      request: { BatchStrategy: c.strategy, MaxPayloadInMB: c.split === 'None' ? 2 : 1, MaxConcurrentTransforms: 4 },
      transformInput: { SplitType: c.split, ContentType: 'application/octet-stream', ...(c.gzip === true ? { CompressionType: 'Gzip' } : {}) },
      transformOutput: { AssembleWith: 'None' },
    });
    return { c, outcome, got: fs.readFileSync(path.join(out, `${c.file}.out`)) };
  }));
  for (const { c, outcome, got } of outcomes) {
    assert.equal(outcome.status, 'Completed', `${c.split}/${c.strategy}: ${outcome.failureReason ?? ''}`);
    assert.equal(sha256(got), sha256(c.expect), `${c.split}/${c.strategy}`);
    const file = outcome.record.Files[0];
    if (c.split !== 'None' && c.strategy === 'MultiRecord') assert.ok((file?.Batches ?? 0) > 1, `${c.split}: several batches`);
  }
  const single = outcomes.find((x) => x.c.split === 'Line' && x.c.strategy === 'SingleRecord');
  assert.equal(single?.outcome.record.Files[0]?.Batches, 600);
  assert.equal(single?.outcome.record.Files[0]?.Records, 600);
  assert.equal(outcomes.find((x) => x.c.gzip === true)?.outcome.record.Files[0]?.Records, 5000);
});

test('MultiRecord Line: the container receives the bodies miniBatches() builds, byte for byte, across read chunks and reused body buffers (Gzip, a last line without "\\n")', async () => {
  const work = dir('multi-bodies');
  const lines = lineFile(40_000, 5); // ~6 MB: three 2 MiB reads, several 1 MB bodies, more bodies than buffers
  const open = lines.subarray(0, -1); // no final "\n": pipemode adds one
  writeFiles(path.join(work, 'in'), { 'a.txt': lines, 'b.txt.gz': zlib.gzipSync(open) });
  const expected = async (bytes: Buffer): Promise<{ length: number; sha256: string; count: number }[]> => {
    const out: { length: number; sha256: string; count: number }[] = [];
    const chunks = (async function* () {
      yield bytes;
    })();
    for await (const batch of miniBatches(splitRecords(chunks, 'Line'), { splitType: 'Line', batchStrategy: 'MultiRecord', maxPayloadInMB: 1 })) {
      out.push({ length: batch.bytes, sha256: sha256(concatBody(batch)), count: batch.count });
    }
    return out;
  };
  for (const [file, bytes, gzip] of [['a.txt', lines, false], ['b.txt.gz', open, true]] as const) {
    const want = await expected(bytes);
    assert.ok(want.length > 4, `${file}: more bodies than MaxConcurrentTransforms + 1`);
    const out = path.join(work, `out-${file}`);
    const outcome = await transform(work, {
      env: { TEST_MODEL: 'meta' }, input: path.join(work, 'in', file), output: out,
      request: { BatchStrategy: 'MultiRecord', MaxPayloadInMB: 1, MaxConcurrentTransforms: 2 },
      transformInput: { SplitType: 'Line', ContentType: 'text/csv', ...(gzip ? { CompressionType: 'Gzip' } : {}) },
      transformOutput: { AssembleWith: 'None' },
    });
    assert.equal(outcome.status, 'Completed', `${file}: ${outcome.failureReason ?? ''}`);
    const got = fs.readFileSync(path.join(out, `${file}.out`), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { length: number; sha256: string });
    assert.deepEqual(got.map((g) => ({ length: g.length, sha256: g.sha256 })), want.map((w) => ({ length: w.length, sha256: w.sha256 })), file);
    assert.equal(outcome.record.Files[0]?.Batches, want.length);
    assert.equal(outcome.record.Files[0]?.Records, 40_000);
  }
});

test('AssembleWith Line splits MultiRecord answers per record (CSV lines, a JSON array) and equals SingleRecord; nested keys keep their folders', async () => {
  const work = dir('assemble');
  const rows = Array.from({ length: 500 }, (_, i) => `${i},${i * 2},${-i}`);
  const json = Array.from({ length: 200 }, (_, i) => JSON.stringify(Object.fromEntries(Array.from({ length: 1 + (i % 5) }, (_, k) => [`k${k}`, k]))));
  writeFiles(path.join(work, 'csv'), { 'a/b/rows.csv': `${rows.join('\n')}\n`, 'top.csv': '1,1\n2,2\n' });
  writeFiles(path.join(work, 'json'), { 'items.jsonl': `${json.join('\n')}\n` });
  const sums = `${rows.map((r) => `${r.split(',').reduce((s, x) => s + Number(x), 0)}.0`).join('\n')}\n`;
  const scores = `${json.map((j) => JSON.stringify({ score: Object.keys(JSON.parse(j) as object).length })).join('\n')}\n`;
  const runs = await Promise.all(['MultiRecord', 'SingleRecord'].flatMap((strategy) => [
    transform(work, {
      env: { TEST_MODEL: 'csv-sum' }, input: path.join(work, 'csv/'), output: path.join(work, `csv-${strategy}`),
      request: { BatchStrategy: strategy, MaxConcurrentTransforms: 3 },
      transformInput: { SplitType: 'Line', ContentType: 'text/csv' }, transformOutput: { AssembleWith: 'Line', Accept: 'text/csv' },
    }),
    transform(work, {
      env: { TEST_MODEL: 'json-score' }, input: path.join(work, 'json/'), output: path.join(work, `json-${strategy}`),
      request: { BatchStrategy: strategy, MaxConcurrentTransforms: 2 },
      transformInput: { SplitType: 'Line', ContentType: 'application/jsonlines' }, transformOutput: { AssembleWith: 'Line', Accept: 'application/json' },
    }),
  ]));
  for (const r of runs) assert.equal(r.status, 'Completed', r.failureReason);
  for (const strategy of ['MultiRecord', 'SingleRecord']) {
    const csv = readTree(path.join(work, `csv-${strategy}`));
    assert.deepEqual([...csv.keys()], ['a/b/rows.csv.out', 'top.csv.out']);
    assert.equal(sha256(csv.get('a/b/rows.csv.out') as Buffer), sha256(Buffer.from(sums)), strategy);
    assert.equal(csv.get('top.csv.out')?.toString(), '2.0\n4.0\n');
    assert.equal(sha256(readTree(path.join(work, `json-${strategy}`)).get('items.jsonl.out') as Buffer), sha256(Buffer.from(scores)), strategy);
  }
});

test('S3: Gzip objects and a ManifestFile in, .out objects in S3 out; DataProcessing as the SageMaker guide shows it (CSV and JSON)', async () => {
  const bucket = await newBucket('transform');
  const rows = Array.from({ length: 3000 }, (_, i) => `id-${i},${i % 7},${i % 11}`);
  await put(bucket, 'in/part-1.csv.gz', zlib.gzipSync(`${rows.slice(0, 1500).join('\n')}\n`));
  // two gzip members in one object
  await put(bucket, 'in/part-2.csv.gz', Buffer.concat([zlib.gzipSync(`${rows.slice(1500, 2000).join('\n')}\n`), zlib.gzipSync(`${rows.slice(2000).join('\n')}\n`)]));
  const records = Array.from({ length: 50 }, (_, i) => JSON.stringify({ id: i, features: Array.from({ length: 1 + (i % 4) }, (_, k) => k) }));
  await put(bucket, 'json/a.jsonl', `${records.join('\n')}\n`);
  await put(bucket, 'json/skip.jsonl', 'not listed in the manifest\n');
  await put(bucket, 'json/b.jsonl', `${records.slice(0, 10).join('\n')}\n`);
  await put(bucket, 'manifest.json', JSON.stringify([{ prefix: `s3://${bucket}/json/` }, 'a.jsonl', 'b.jsonl']));
  const work = dir('s3');
  const [csv, json] = await Promise.all([
    // The guide's CSV example: drop the ID column for the model, join the prediction to the input, keep ID and prediction.
    transform(work, {
      env: { TEST_MODEL: 'csv-sum' }, input: `s3://${bucket}/in/`, output: `s3://${bucket}/out-csv`,
      request: { BatchStrategy: 'MultiRecord', MaxConcurrentTransforms: 2, DataProcessing: { InputFilter: '$[1:]', JoinSource: 'Input', OutputFilter: '$[0,-1]' } },
      transformInput: { SplitType: 'Line', ContentType: 'text/csv', CompressionType: 'Gzip' }, transformOutput: { AssembleWith: 'Line', Accept: 'text/csv' },
    }),
    // The guide's JSON example: send only "features", add SageMakerOutput, keep id and the output.
    transform(work, {
      env: { TEST_MODEL: 'json-score' }, input: `s3://${bucket}/manifest.json`, dataType: 'ManifestFile', output: `s3://${bucket}/out-json/`,
      request: { BatchStrategy: 'SingleRecord', DataProcessing: { InputFilter: '$.features', JoinSource: 'Input', OutputFilter: "$['id','SageMakerOutput']" } },
      transformInput: { SplitType: 'Line', ContentType: 'application/jsonlines' }, transformOutput: { AssembleWith: 'Line', Accept: 'application/jsonlines' },
    }),
  ]);
  assert.equal(csv.status, 'Completed', csv.failureReason);
  assert.equal(json.status, 'Completed', json.failureReason);
  const list = await s3().send(new ListObjectsV2Command({ Bucket: bucket, Prefix: 'out-' }));
  assert.deepEqual(list.Contents?.map((o) => o.Key).sort(), ['out-csv/part-1.csv.gz.out', 'out-csv/part-2.csv.gz.out', 'out-json/a.jsonl.out', 'out-json/b.jsonl.out']);
  const get = async (key: string): Promise<Buffer> => Buffer.from(await (await s3().send(new GetObjectCommand({ Bucket: bucket, Key: key }))).Body?.transformToByteArray() ?? []);
  const csvExpect = (from: number, to: number): string => `${rows.slice(from, to).map((r) => { const [id, a, b] = r.split(','); return `${id},${Number(a) + Number(b)}.0`; }).join('\n')}\n`;
  assert.equal(sha256(await get('out-csv/part-1.csv.gz.out')), sha256(Buffer.from(csvExpect(0, 1500))));
  assert.equal(sha256(await get('out-csv/part-2.csv.gz.out')), sha256(Buffer.from(csvExpect(1500, 3000))));
  const jsonExpect = (n: number): string => `${records.slice(0, n).map((r) => {
    const v = JSON.parse(r) as { id: number; features: number[] };
    return JSON.stringify({ id: v.id, SageMakerOutput: { score: v.features.length } });
  }).join('\n')}\n`;
  assert.equal(sha256(await get('out-json/a.jsonl.out')), sha256(Buffer.from(jsonExpect(50))));
  assert.equal(sha256(await get('out-json/b.jsonl.out')), sha256(Buffer.from(jsonExpect(10))));
});

test('a failing record fails its file only: no .out (S3 and local), the others complete, 4xx and 5xx are not retried, a timeout is', async () => {
  const bucket = await newBucket('transform-fail');
  const good = `${Array.from({ length: 2000 }, (_, i) => `${i},1`).join('\n')}\n`;
  const files: Record<string, string> = {
    'good-1.csv': good, 'good-2.csv': good,
    // the failing record comes late: earlier batches were answered (and, on S3, parts may have been uploaded)
    'fail.csv': `${good}FAIL,1\n`, 'reject.csv': 'REJECT,1\n', 'slow.csv': 'SLOW,1\n',
  };
  for (const [k, v] of Object.entries(files)) await put(bucket, `in/${k}`, v);
  const work = dir('fail');
  writeFiles(path.join(work, 'in'), files);
  const common = {
    env: { TEST_MODEL: 'echo' },
    request: { BatchStrategy: 'MultiRecord', MaxPayloadInMB: 1, MaxConcurrentTransforms: 2, ModelClientConfig: { InvocationsTimeoutInSeconds: 1, InvocationsMaxRetries: 1 } },
    transformInput: { SplitType: 'Line', ContentType: 'text/csv' }, transformOutput: { AssembleWith: 'None', Accept: 'text/csv' },
  };
  const [local, remote] = await Promise.all([
    transform(work, { ...common, input: path.join(work, 'in/'), output: path.join(work, 'out') }),
    transform(work, { ...common, input: `s3://${bucket}/in/`, output: `s3://${bucket}/out` }),
  ]);
  for (const outcome of [local, remote]) {
    assert.equal(outcome.status, 'Failed');
    assert.equal(outcome.exitCode, 14);
    for (const name of ['fail.csv', 'reject.csv', 'slow.csv']) assert.match(outcome.failureReason ?? '', new RegExp(name.replace('.', '\\.')));
    const byName = new Map(outcome.record.Files.map((f) => [path.posix.basename(f.Input), f]));
    assert.equal(byName.get('good-1.csv')?.Status, 'Completed');
    assert.equal(byName.get('fail.csv')?.ErrorCode, 'PM_ERR_MODEL_INVOCATION');
    assert.match(byName.get('fail.csv')?.FailureReason ?? '', /Bad HTTP status received from algorithm: 500; Message: cannot score this record/);
    assert.equal(byName.get('fail.csv')?.Retries, 0);
    assert.match(byName.get('reject.csv')?.FailureReason ?? '', /: 400/);
    assert.equal(byName.get('reject.csv')?.Retries, 0);
    assert.match(byName.get('slow.csv')?.FailureReason ?? '', /no answer within InvocationsTimeoutInSeconds=1; 2 attempts/);
    assert.equal(byName.get('slow.csv')?.Retries, 1);
  }
  assert.deepEqual(digests(readTree(path.join(work, 'out'))), { 'good-1.csv.out': sha256(Buffer.from(good)), 'good-2.csv.out': sha256(Buffer.from(good)) });
  const list = await s3().send(new ListObjectsV2Command({ Bucket: bucket, Prefix: 'out/' }));
  assert.deepEqual(list.Contents?.map((o) => o.Key).sort(), ['out/good-1.csv.out', 'out/good-2.csv.out']);
  assert.ok(!fs.readdirSync(path.join(work, 'out')).some((n) => n.includes('.tmp')), 'no temp files left');
});

test('a container crash mid-file: the call is retried once the container is back; with no retries the file fails and the others finish', async () => {
  const work = dir('crash');
  const rows = `${Array.from({ length: 3000 }, (_, i) => `${i},x`).join('\n')}\n`;
  writeFiles(path.join(work, 'in'), { 'a.csv': rows, 'b.csv': `${rows}CRASH\n${rows}`, 'c.csv': rows });
  const common = {
    request: { BatchStrategy: 'MultiRecord', MaxPayloadInMB: 1, MaxConcurrentTransforms: 1 },
    transformInput: { SplitType: 'Line', ContentType: 'text/csv' }, transformOutput: { AssembleWith: 'None' },
    input: path.join(work, 'in/'),
  };
  const [once, always] = await Promise.all([
    transform(work, { ...common, env: { TEST_CRASH_ONCE: path.join(work, 'crashed') }, output: path.join(work, 'out-once') }),
    transform(work, { ...common, request: { ...common.request, ModelClientConfig: { InvocationsMaxRetries: 0 } }, output: path.join(work, 'out-always') }),
  ]);
  assert.equal(once.status, 'Completed', once.failureReason);
  const b = once.record.Files.find((f) => f.Input.endsWith('/b.csv'));
  assert.ok((b?.Retries ?? 0) >= 1);
  assert.equal(sha256(fs.readFileSync(path.join(work, 'out-once/b.csv.out'))), sha256(Buffer.from(`${rows}CRASH\n${rows}`)));
  assert.equal(always.status, 'Failed');
  assert.match(always.failureReason ?? '', /b\.csv.*the container crashed/);
  assert.deepEqual([...readTree(path.join(work, 'out-always')).keys()], ['a.csv.out', 'c.csv.out']);
});

test('--instance-rank: the union of N ranks\' outputs is the single-process output, each file written once; InstanceCount 3 in one process agrees', async () => {
  const work = dir('ranks');
  const files = Object.fromEntries(Array.from({ length: 7 }, (_, i) => [`f${i}.txt`, `file ${i}\n`.repeat(10 + i)]));
  writeFiles(path.join(work, 'in'), files);
  const base = {
    env: { TEST_MODEL: 'upper' }, input: path.join(work, 'in/'),
    transformInput: { SplitType: 'Line' }, transformOutput: { AssembleWith: 'Line', Accept: 'text/plain' },
  };
  const runs = await Promise.all([
    transform(work, { ...base, output: path.join(work, 'single') }),
    transform(work, { ...base, output: path.join(work, 'three'), request: { TransformResources: { InstanceType: 'ml.m5.large', InstanceCount: 3 } } }),
    ...[0, 1, 2].map((rank) => transform(work, { ...base, output: path.join(work, `rank-${rank}`) }, { rank, count: 3 })),
  ]);
  for (const r of runs) assert.equal(r.status, 'Completed', r.failureReason);
  const single = digests(readTree(path.join(work, 'single')));
  assert.equal(Object.keys(single).length, 7);
  assert.equal(sha256(fs.readFileSync(path.join(work, 'single/f3.txt.out'))), sha256(Buffer.from(files['f3.txt']?.toUpperCase() ?? '')));
  assert.deepEqual(digests(readTree(path.join(work, 'three'))), single);
  const union: Record<string, string> = {};
  for (const rank of [0, 1, 2]) {
    for (const [k, v] of Object.entries(digests(readTree(path.join(work, `rank-${rank}`))))) {
      assert.equal(union[k], undefined, `${k} written by two ranks`);
      union[k] = v;
    }
  }
  assert.deepEqual(union, single);
  const ranksOf = (r: TransformOutcome): Record<string, number> => Object.fromEntries(r.record.Files.map((f) => [path.posix.basename(f.Input), f.Instance]));
  const together = ranksOf(runs[1]);
  for (const rank of [0, 1, 2]) for (const [k, v] of Object.entries(ranksOf(runs[2 + rank] as TransformOutcome))) assert.equal(together[k], v);
});

test('batch environment, /execution-parameters precedence, MaxPayloadInMB 0 streams chunked, a record over MaxPayloadInMB fails its file', async () => {
  const work = dir('params');
  const big = Buffer.alloc(3 * 1024 * 1024, 0x61);
  writeFiles(path.join(work, 'in'), { 'one.bin': 'x', 'big.bin': big });
  writeFiles(path.join(work, 'lines'), { 'ok.txt': 'short\n', 'huge.txt': Buffer.concat([Buffer.from('short\n'), Buffer.alloc(1_100_000, 0x62), Buffer.from('\n')]) });
  const [env, stream, limit] = await Promise.all([
    transform(work, {
      env: { TEST_MODEL: 'env', TEST_EXEC_PARAMS: JSON.stringify({ MaxConcurrentTransforms: 3, BatchStrategy: 'SINGLE_RECORD', MaxPayloadInMB: 2 }) },
      input: path.join(work, 'in/one.bin'), output: path.join(work, 'out-env'), request: { Environment: { MY_SETTING: 'on' } },
    }),
    transform(work, { env: { TEST_MODEL: 'meta' }, input: path.join(work, 'in/big.bin'), output: path.join(work, 'out-stream'), request: { MaxPayloadInMB: 0 }, transformInput: { ContentType: 'application/x-test' }, transformOutput: { Accept: 'application/json' } }),
    transform(work, { input: path.join(work, 'lines/'), output: path.join(work, 'out-limit'), request: { MaxPayloadInMB: 1, BatchStrategy: 'SingleRecord' }, transformInput: { SplitType: 'Line' } }),
  ]);
  assert.equal(env.status, 'Completed', env.failureReason);
  const seen = JSON.parse(fs.readFileSync(path.join(work, 'out-env/one.bin.out'), 'utf8')) as Record<string, string>;
  assert.equal(seen.SAGEMAKER_BATCH, 'true');
  for (const k of ['SAGEMAKER_MAX_PAYLOAD_IN_MB', 'SAGEMAKER_BATCH_STRATEGY', 'SAGEMAKER_MAX_CONCURRENT_TRANSFORMS']) assert.equal(seen[k], undefined, k);
  assert.deepEqual(env.record.ExecutionParameters?.['instance-1'], {
    MaxConcurrentTransforms: 3, MaxPayloadInMB: 2, BatchStrategy: 'SingleRecord',
    Sources: { maxConcurrentTransforms: 'container', maxPayloadInMB: 'container', batchStrategy: 'container' },
  });
  assert.equal(stream.status, 'Completed', stream.failureReason);
  assert.deepEqual(JSON.parse(fs.readFileSync(path.join(work, 'out-stream/big.bin.out'), 'utf8')), {
    content_type: 'application/x-test', accept: 'application/json', chunked: true, length: big.length, sha256: sha256(big),
  });
  assert.equal(limit.status, 'Failed');
  assert.equal(limit.exitCode, 4);
  assert.match(limit.failureReason ?? '', /record 1 of .*huge\.txt is 1100001 bytes as sent, more than MaxPayloadInMB=1/);
  assert.deepEqual([...readTree(path.join(work, 'out-limit')).keys()], ['ok.txt.out']);
});

test('CLI: pipemode-python framework image with inference.py, exit 0 and describe; a failed job exits 14; bad JOB files exit 2 naming the field', async () => {
  const work = dir('cli');
  writeFiles(path.join(work, 'model'), {
    'code/inference.py': [
      'def model_fn(model_dir):', '    return 10', '',
      'def transform_fn(model, body, content_type, accept):',
      '    rows = body.decode().splitlines()',
      '    return "".join("%d\\n" % (model * int(r)) for r in rows), "text/csv"', '',
    ].join('\n'),
  });
  writeFiles(path.join(work, 'in'), { 'n.csv': '1\n2\n3\n', 'bad.csv': 'x\n' });
  const doc = jobDoc('cli-job', {
    image: 'pipemode-python', modelData: path.join(work, 'model'), input: path.join(work, 'in/'), output: path.join(work, 'out'),
    transformInput: { SplitType: 'Line', ContentType: 'text/csv' }, transformOutput: { AssembleWith: 'Line', Accept: 'text/csv' },
    request: { BatchStrategy: 'MultiRecord' },
  });
  const file = path.join(work, 'job.json');
  fs.writeFileSync(file, JSON.stringify(doc));
  const jobs = path.join(work, 'jobs');
  const run = await runPipemode(['transform', file, '--jobs-dir', jobs]);
  assert.equal(run.code, 14, run.stderr);
  assert.equal(fs.readFileSync(path.join(work, 'out/n.csv.out'), 'utf8'), '10\n20\n30\n');
  assert.ok(!fs.existsSync(path.join(work, 'out/bad.csv.out')));
  const described = await runPipemode(['describe', 'cli-job', '--jobs-dir', jobs]);
  assert.equal(described.code, 0, described.stderr);
  const record = JSON.parse(described.stdout.toString()) as { TransformJobStatus: string; FailureReason: string; TransformStartTime: string; TransformEndTime: string };
  assert.equal(record.TransformJobStatus, 'Failed');
  assert.match(record.FailureReason, /^AlgorithmError: 1 of 2 input files failed \(file:\/\/.*bad\.csv\)/);
  assert.ok(Date.parse(record.TransformEndTime) >= Date.parse(record.TransformStartTime));
  const again = await runPipemode(['transform', file, '--jobs-dir', jobs]);
  assert.equal(again.code, 2);
  assert.match(again.stderr, /already ran here/);

  fs.rmSync(path.join(work, 'in/bad.csv'));
  const ok = path.join(work, 'ok.json');
  fs.writeFileSync(ok, JSON.stringify({ ...doc, TransformJob: { ...(doc.TransformJob as object), TransformJobName: 'cli-ok' } }));
  const good = await runPipemode(['transform', ok, '--jobs-dir', jobs]);
  assert.equal(good.code, 0, good.stderr);

  const bad = async (name: string, body: string): Promise<string> => {
    const f = path.join(work, name);
    fs.writeFileSync(f, body);
    const r = await runPipemode(['transform', f, '--jobs-dir', jobs]);
    assert.equal(r.code, 2, `${name}: ${r.stderr}`);
    return r.stderr;
  };
  const tj = doc.TransformJob as Record<string, unknown>;
  assert.match(await bad('syntax.json', '{\n  "Models": [\n    oops\n  ]\n}'), /syntax\.json:3:\d+: invalid JSON/);
  assert.match(await bad('typo.json', JSON.stringify({ Models: doc.Models, TransformJobs: tj })), /TransformJobs.*did you mean "TransformJob"/s);
  assert.match(await bad('model.json', JSON.stringify({ Models: doc.Models, TransformJob: { ...tj, ModelName: 'other' } })), /TransformJob\.ModelName: no model "other" in Models \(have: model\)/);
  assert.match(await bad('limits.json', JSON.stringify({ Models: doc.Models, TransformJob: { ...tj, MaxConcurrentTransforms: 20, MaxPayloadInMB: 6 } })), /MaxConcurrentTransforms × MaxPayloadInMB must be at most 100 MB, got 20 × 6 = 120/);
  assert.match(await bad('split.yaml', `Models: ${JSON.stringify(doc.Models)}\nTransformJob: ${JSON.stringify({ ...tj, TransformInput: { ...(tj.TransformInput as object), SplitType: 'Lines' } })}\n`), /SplitType/);
});

test('MaxPayloadInMB 0: a streamed body the container dropped unanswered is sent again from the object\'s first byte (Gzip too); without retries the file fails', async () => {
  const work = dir('stream-retry');
  const big = Buffer.alloc(3 * 1024 * 1024 + 17, 0x61);
  writeFiles(path.join(work, 'in'), { 'big.bin.gz': zlib.gzipSync(big) });
  const common = {
    input: path.join(work, 'in/'), transformInput: { ContentType: 'application/x-test', CompressionType: 'Gzip' }, transformOutput: { Accept: 'application/json' },
  };
  const [again, once] = await Promise.all([
    transform(work, { ...common, env: { TEST_MODEL: 'meta', TEST_DROP_ONCE: path.join(work, 'dropped-1') }, output: path.join(work, 'out-again'), request: { MaxPayloadInMB: 0 } }),
    transform(work, {
      ...common, env: { TEST_MODEL: 'meta', TEST_DROP_ONCE: path.join(work, 'dropped-2') }, output: path.join(work, 'out-once'),
      request: { MaxPayloadInMB: 0, ModelClientConfig: { InvocationsMaxRetries: 0 } },
    }),
  ]);
  assert.equal(again.status, 'Completed', again.failureReason);
  assert.ok(fs.existsSync(path.join(work, 'dropped-1')), 'the first connection was dropped');
  assert.equal(again.record.Files[0]?.Retries, 1);
  assert.deepEqual(JSON.parse(fs.readFileSync(path.join(work, 'out-again/big.bin.gz.out'), 'utf8')), {
    content_type: 'application/x-test', accept: 'application/json', chunked: true, length: big.length, sha256: sha256(big),
  });
  assert.equal(once.status, 'Failed');
  assert.match(once.failureReason ?? '', /big\.bin\.gz.*Unable to get response from algorithm: the container crashed .*1 attempt\b/);
  assert.deepEqual([...readTree(path.join(work, 'out-once')).keys()], []);
});

test('stop: SIGTERM to pipemode transform and StopTransformJob through the server end Stopped, with no .out or temp file and no container left', { timeout: 120_000 }, async () => {
  const work = dir('stop');
  // a copy of the container, so that its processes are found by a path no other test uses
  const container = path.join(work, 'stop_container.py');
  fs.copyFileSync(CONTAINER, container);
  const images = path.join(work, 'images.json');
  fs.writeFileSync(images, JSON.stringify({ 'stop-test:*': ['python3', container] }));
  const pids = (): string[] => {
    try {
      return execFileSync('pgrep', ['-f', container], { encoding: 'utf8' }).split('\n').filter((l) => l !== '');
    } catch {
      return [];
    }
  };
  // every record sleeps 3 s: the stop always finds calls in flight
  writeFiles(path.join(work, 'in'), Object.fromEntries(['a', 'b', 'c'].map((n) => [`${n}.csv`, 'SLOW,1\n'.repeat(20)])));
  const request = { BatchStrategy: 'SingleRecord', MaxConcurrentTransforms: 2 };
  const transformInput = { DataSource: { S3DataSource: { S3DataType: 'S3Prefix', S3Uri: `${path.join(work, 'in')}/` } }, ContentType: 'text/csv', SplitType: 'Line' };
  const noOutput = (out: string): void => assert.deepEqual(fs.existsSync(out) ? fs.readdirSync(out, { recursive: true }) : [], [], `${out} holds nothing`);

  // 1. the CLI, SIGTERM once the files are under way
  const jobFile = path.join(work, 'job.json');
  fs.writeFileSync(jobFile, JSON.stringify({
    Models: [{ ModelName: 'slow', PrimaryContainer: { Image: 'stop-test:1' } }],
    TransformJob: { TransformJobName: 'stop-cli', ModelName: 'slow', ...request, TransformInput: transformInput, TransformOutput: { S3OutputPath: path.join(work, 'out-cli') } },
  }));
  const jobs = path.join(work, 'jobs');
  const child = startPipemode(['transform', jobFile, '--images', images, '--jobs-dir', jobs, '--stop-grace', '5'], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => { stderr += d.toString(); });
  const exited = new Promise<number | null>((resolve) => child.on('close', resolve));
  const record = path.join(jobs, 'stop-cli', 'transform.json');
  for (let i = 0; i < 300 && !(fs.existsSync(record) && 'TransformStartTime' in JSON.parse(fs.readFileSync(record, 'utf8'))); i++) await sleep(50);
  await sleep(500);
  child.kill('SIGTERM');
  assert.equal(await exited, 11, stderr);
  const cli = JSON.parse(fs.readFileSync(record, 'utf8')) as { TransformJobStatus: string; TransformEndTime?: string };
  assert.equal(cli.TransformJobStatus, 'Stopped');
  assert.ok(cli.TransformEndTime !== undefined);
  noOutput(path.join(work, 'out-cli'));
  assert.deepEqual(pids(), [], 'no container left by the CLI');

  // 2. the server: StopTransformJob while the job is InProgress
  const server = await startServerProcess(path.join(work, 'state'), ['--images', images]);
  try {
    const out = path.join(work, 'out-server');
    const r = await runPython(`
import boto3, json, time
sm = boto3.client("sagemaker")
sm.create_model(ModelName="slow", PrimaryContainer={"Image": "stop-test:1"})
sm.create_transform_job(TransformJobName="stop-server", ModelName="slow", BatchStrategy="SingleRecord", MaxConcurrentTransforms=2,
    TransformInput=${JSON.stringify(transformInput)}, TransformOutput={"S3OutputPath": ${JSON.stringify(out)}},
    TransformResources={"InstanceType": "ml.m5.large", "InstanceCount": 1})
time.sleep(2)
before = sm.describe_transform_job(TransformJobName="stop-server")["TransformJobStatus"]
sm.stop_transform_job(TransformJobName="stop-server")
sm.get_waiter("transform_job_completed_or_stopped").wait(TransformJobName="stop-server", WaiterConfig={"Delay": 1, "MaxAttempts": 60})
d = sm.describe_transform_job(TransformJobName="stop-server")
print(json.dumps({"before": before, "status": d["TransformJobStatus"], "end": "TransformEndTime" in d}))
`, { env: server.clientEnv(), timeoutMs: 90_000 });
    assert.equal(r.code, 0, `${r.stderr}\n--- server:\n${server.log()}`);
    const got = JSON.parse(r.stdout) as { before: string; status: string; end: boolean };
    assert.equal(got.before, 'InProgress');
    assert.equal(got.status, 'Stopped');
    assert.ok(got.end);
    noOutput(out);
    for (let i = 0; i < 100 && pids().length > 0; i++) await sleep(50);
    assert.deepEqual(pids(), [], 'no container left by the server');
  } finally {
    server.child.kill('SIGTERM');
    await server.exited;
  }
});
