/**
 * Followed channels (`--follow`) through the real CLI, against a local folder and the real Ceph:
 * objects written while the channel streams (before, between and after the keys at start),
 * rewrites, Gzip+RecordIO, a 3-host sharded follow, restart from the cursor, the idle timeout,
 * a writer producing 1,000 small objects in bursts, and `pipemode train` with a followed Pipe channel
 * (cursor in the checkpoints, restarted job). Every check compares payload sha256s.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import zlib from 'node:zlib';
import { once } from 'node:events';
import { DeleteObjectCommand, GetObjectCommand } from '@aws-sdk/client-s3';
import { waitForPath } from '../../src/reader/wait-for-path.js';
import { spawn } from 'node:child_process';
import { ROOT, runPipemode, startPipemode } from '../helpers/cli.js';
import { recordDigests } from '../helpers/recordio.js';
import { newBucket, put, s3 } from '../helpers/s3.js';

const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex');
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

interface Target {
  readonly name: string;
  readonly uri: string;
  write(key: string, body: Buffer): Promise<void>;
  remove(key: string): Promise<void>;
}

function tmp(prefix: string): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}

function localTarget(): Target {
  const dir = tmp('pm-follow-');
  return {
    name: 'local', uri: `${dir}/`,
    // written under a temporary name and renamed into place: a file appears whole
    write: async (key, body) => {
      fs.writeFileSync(path.join(dir, `.${key}.tmp`), body);
      fs.renameSync(path.join(dir, `.${key}.tmp`), path.join(dir, key));
    },
    remove: async (key) => fs.rmSync(path.join(dir, key)),
  };
}

async function s3Target(): Promise<Target> {
  const bucket = await newBucket('follow');
  return {
    name: 'S3', uri: `s3://${bucket}/in/`,
    write: (key, body) => put(bucket, `in/${key}`, body),
    remove: async (key) => {
      await s3().send(new DeleteObjectCommand({ Bucket: bucket, Key: `in/${key}` }));
    },
  };
}

const body = (i: number, size = 3000 + (i % 7) * 500): Buffer => Buffer.concat([Buffer.from(`object ${i} `), randomBytes(size)]);
const FAST = ['--follow', '--poll-interval', '100ms', '--idle-timeout', '1s'];

for (const [label, make] of [['local', localTarget], ['S3', s3Target]] as const) {
  test(`follow (${label}): late objects before, between and after the keys at start, Gzip+RecordIO, rewrites not repeated`, async () => {
    const t = await make();
    const bodies = new Map<string, Buffer>();
    const write = async (key: string, i: number): Promise<void> => {
      const b = body(i);
      bodies.set(key, b);
      await t.write(key, zlib.gzipSync(b));
    };
    await write('k2', 2);
    await write('k4', 4);
    const cat = startPipemode(['cat', t.uri, ...FAST, '--compression', 'Gzip', '--record-wrapper', 'RecordIO']);
    const out: Buffer[] = [];
    cat.stdout?.on('data', (d: Buffer) => out.push(d));
    let stderr = '';
    cat.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
    const closed = once(cat, 'close');
    // the objects at start are listed (and being written) once output arrives
    while (out.length === 0) await sleep(20);
    await write('k1', 1); // before every key at start
    await write('k3', 3); // between
    await sleep(300);
    await write('k5', 5); // after
    await sleep(300);
    await t.write('k2', zlib.gzipSync(body(22))); // a rewrite of a streamed key: not a new object
    const [code] = await closed as [number];
    assert.equal(code, 0, stderr);
    const got = recordDigests(Buffer.concat(out));
    assert.deepEqual(got.slice(0, 2), [sha(bodies.get('k2') as Buffer), sha(bodies.get('k4') as Buffer)], 'the keys at start first, in key order');
    assert.deepEqual([...got].sort(), [...bodies.values()].map(sha).sort(), 'every object once, whole');
  });

  test(`follow (${label}): three sharded hosts take every object exactly once`, async () => {
    const t = await make();
    const bodies: Buffer[] = [];
    for (let i = 0; i < 12; i++) {
      bodies.push(body(i, 500));
      await t.write(`s${String(i).padStart(3, '0')}`, bodies[i] as Buffer);
    }
    const dirs = [0, 1, 2].map(() => tmp('pm-follow-fifo-'));
    const hosts = dirs.map((dir, rank) => {
      const p = startPipemode(['pipe', '--dir', dir, '--channel', `train=${t.uri}`, ...FAST, '--record-wrapper', 'RecordIO',
        '--distribution', 'ShardedByS3Key', '--host-rank', String(rank), '--host-count', '3']);
      let stderr = '';
      p.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
      return { closed: once(p, 'close'), stderr: () => stderr };
    });
    const reads = dirs.map(async (dir) => {
      await waitForPath(path.join(dir, 'train_0'), 20_000);
      return fs.promises.readFile(path.join(dir, 'train_0'));
    });
    for (let i = 12; i < 40; i++) {
      bodies.push(body(i, 500));
      await t.write(`s${String(i).padStart(3, '0')}`, bodies[i] as Buffer);
      if (i % 5 === 0) await sleep(120);
    }
    const outs = await Promise.all(reads);
    for (const h of hosts) assert.equal((await h.closed)[0], 0, h.stderr());
    const all = outs.flatMap((o) => recordDigests(o));
    assert.deepEqual([...all].sort(), bodies.map(sha).sort(), 'the union is everything, nothing twice');
    for (const o of outs) assert.ok(recordDigests(o).length > 0, 'every host got a share');
    for (const dir of dirs) assert.deepEqual(fs.readdirSync(dir), [], 'one epoch: no train_1');
  });

  test(`follow (${label}): a restart from the --state cursor repeats nothing and skips nothing`, async () => {
    const t = await make();
    const state = path.join(tmp('pm-follow-state-'), 'cursor');
    const bodies: Buffer[] = [];
    for (let i = 0; i < 5; i++) {
      bodies.push(body(i));
      await t.write(`r${i}`, bodies[i] as Buffer);
    }
    const run = async (): Promise<string[]> => {
      const r = await runPipemode(['cat', t.uri, ...FAST, '--record-wrapper', 'RecordIO', '--state', state]);
      assert.equal(r.code, 0, r.stderr);
      return recordDigests(r.stdout);
    };
    assert.deepEqual(await run(), bodies.map(sha));
    for (let i = 5; i < 9; i++) {
      bodies.push(body(i));
      await t.write(i === 6 ? 'a-late' : `r${i}`, bodies[i] as Buffer); // a key sorting before the others
    }
    const second = await run();
    assert.deepEqual([...second].sort(), bodies.slice(5).map(sha).sort());
    assert.deepEqual(await run(), [], 'nothing new, nothing repeated');
  });
}

test('follow (local): the idle timeout ends epoch 0 of an empty prefix; no epoch 1', async () => {
  const t = localTarget();
  const dir = tmp('pm-follow-fifo-');
  const p = startPipemode(['pipe', '--dir', dir, '--channel', `train=${t.uri}`, '--follow', '--poll-interval', '100ms', '--idle-timeout', '500ms']);
  const closed = once(p, 'close');
  await waitForPath(path.join(dir, 'train_0'), 20_000);
  const started = performance.now();
  const data = await fs.promises.readFile(path.join(dir, 'train_0'));
  assert.equal(data.length, 0);
  assert.ok(performance.now() - started >= 400, 'EOF comes after the idle timeout');
  assert.equal((await closed)[0], 0);
  assert.deepEqual(fs.readdirSync(dir), []);
});

test('follow (local): a writer producing 1,000 small objects in bursts; each arrives once, whole', async () => {
  const t = localTarget();
  const dir = tmp('pm-follow-fifo-');
  const p = startPipemode(['pipe', '--dir', dir, '--channel', `train=${t.uri}`, ...FAST, '--record-wrapper', 'RecordIO']);
  let stderr = '';
  p.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
  const closed = once(p, 'close');
  await waitForPath(path.join(dir, 'train_0'), 20_000);
  const read = fs.promises.readFile(path.join(dir, 'train_0'));
  const bodies: Buffer[] = [];
  for (let burst = 0; burst < 10; burst++) {
    for (let i = 0; i < 100; i++) {
      const n = burst * 100 + i;
      bodies.push(body(n, 50 + (n % 13)));
      await t.write(`b-${(n * 7919) % 1000}-${n}`, bodies[n] as Buffer); // keys not in time order
    }
    await sleep(150);
  }
  const got = recordDigests(await read);
  assert.equal((await closed)[0], 0, stderr);
  assert.equal(got.length, 1000);
  assert.deepEqual([...got].sort(), bodies.map(sha).sort());
});

test('follow: manifests are refused with a clear error', async () => {
  const r = await runPipemode(['cat', '/tmp/manifest.json', '--follow', '--s3-data-type', 'ManifestFile']);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /Follow applies only to S3DataType S3Prefix.*\[PM_ERR_CONFIG\]/);
  const p = await runPipemode(['cat', '/tmp/x/', '--poll-interval', '1s']);
  assert.equal(p.code, 2);
  assert.match(p.stderr, /--poll-interval applies to a followed channel: add --follow/);
});

test('follow (local): the Python ChannelReader(...).follow() yields the records as objects land', async () => {
  const t = localTarget();
  const dir = tmp('pm-follow-fifo-');
  const bodies = [body(0, 200)];
  await t.write('p0', bodies[0] as Buffer);
  const p = startPipemode(['pipe', '--dir', dir, '--channel', `train=${t.uri}`, ...FAST, '--record-wrapper', 'RecordIO']);
  const closed = once(p, 'close');
  const script = [
    'import hashlib, sys',
    'from pipemode.channel import ChannelReader',
    `r = ChannelReader("train", "recordio", mode="Pipe", path=${JSON.stringify(path.join(dir, 'train'))})`,
    'for rec in r.follow():',
    '    print(hashlib.sha256(bytes(rec)).hexdigest(), flush=True)',
  ].join('\n');
  const py = spawn('python3', ['-c', script], { env: { ...process.env, PYTHONPATH: path.join(ROOT, 'readers/python') }, stdio: ['ignore', 'pipe', 'pipe'] });
  let text = '';
  const lines = { get length(): number { return text.split('\n').length - 1; } };
  let pyErr = '';
  py.stdout.on('data', (d: Buffer) => (text += d.toString()));
  py.stderr.on('data', (d: Buffer) => (pyErr += d.toString()));
  while (lines.length === 0) await sleep(20); // the first record came before any later object landed
  for (let i = 1; i < 4; i++) {
    bodies.push(body(i, 200));
    await t.write(`p${i}`, bodies[i] as Buffer);
    const want = i + 1;
    while (lines.length < want) await sleep(20); // each record arrives while the stream is still open
  }
  const [code] = await once(py, 'close') as [number];
  assert.equal(code, 0, pyErr);
  assert.equal((await closed)[0], 0);
  assert.deepEqual(text.trim().split('\n'), bodies.map(sha));
});

test('follow: pipemode train streams a followed Pipe channel to the trainer while objects land; the cursor in the checkpoints makes a restarted job stream only new objects', async () => {
  const t = localTarget();
  const dir = tmp('pm-follow-train-');
  const bucket = await newBucket('pm-follow-ck');
  const trainer = path.join(ROOT, 'test/fixtures/trainers/follow_digest.py');
  const bodies = new Map<string, Buffer>();
  const write = async (key: string): Promise<void> => {
    const b = body(bodies.size, 2000);
    bodies.set(key, b);
    await t.write(key, b);
  };
  const expected = (keys: readonly string[]): { bytes: number; sha256: string } => {
    const all = Buffer.concat(keys.map((k) => bodies.get(k) as Buffer));
    return { bytes: all.length, sha256: sha(all) };
  };
  /** Runs job `name` while `late` keys land one by one (each found alone: discovery order = landing order). */
  const job = async (name: string, late: readonly string[]): Promise<{ bytes: number; sha256: string }> => {
    const ready = path.join(dir, `${name}.ready`);
    const file = path.join(dir, `${name}.json`);
    fs.writeFileSync(file, JSON.stringify({
      TrainingJobName: name,
      AlgorithmSpecification: { TrainingInputMode: 'Pipe', ContainerEntrypoint: ['python3', trainer], ContainerArguments: ['--ready', ready] },
      InputDataConfig: [{
        ChannelName: 'train', InputMode: 'Pipe',
        DataSource: { S3DataSource: { S3DataType: 'S3Prefix', S3Uri: t.uri } },
        Follow: { PollIntervalSeconds: 0.1, IdleTimeoutSeconds: 1 },
      }],
      OutputDataConfig: { S3OutputPath: path.join(dir, 'out') },
      CheckpointConfig: { S3Uri: `s3://${bucket}/ck`, LocalPath: '/opt/ml/checkpoints' },
    }));
    const run = runPipemode(['train', file, '--jobs-dir', path.join(dir, 'jobs')]);
    await waitForPath(ready, 30_000); // the trainer has its first bytes: the stream is open
    for (const key of late) {
      await write(key);
      await sleep(400); // > settle time (200 ms) + poll interval
    }
    const r = await run;
    assert.equal(r.code, 0, r.stderr);
    const rec = JSON.parse(fs.readFileSync(path.join(dir, 'jobs', name, 'job.json'), 'utf8')) as { TrainingJobStatus: string };
    assert.equal(rec.TrainingJobStatus, 'Completed');
    return JSON.parse(fs.readFileSync(path.join(dir, 'jobs', name, 'algo-1', 'model', 'follow.json'), 'utf8')) as { bytes: number; sha256: string };
  };
  const cursorKeys = async (): Promise<string[]> => {
    const got = await s3().send(new GetObjectCommand({ Bucket: bucket, Key: 'ck/pipemode-follow-cursor.algo-1.jsonl' }));
    const lines = (await got.Body?.transformToString() ?? '').trim().split('\n').slice(1); // a header line, then [channel, key, version]
    return lines.map((l) => path.basename((JSON.parse(l) as [string, string, string])[1])); // local keys are full paths
  };

  await write('k1');
  await write('k3');
  // at start k1, k3 (key order); then k0 (before both), k2 (between), k4 (after), as found
  assert.deepEqual(await job('follow-first', ['k0', 'k2', 'k4']), expected(['k1', 'k3', 'k0', 'k2', 'k4']));
  assert.ok(fs.existsSync(path.join(dir, 'jobs', 'follow-first', 'algo-1', 'checkpoints', 'pipemode-follow-cursor.algo-1.jsonl')), 'the cursor is in the checkpoint folder');
  assert.deepEqual((await cursorKeys()).sort(), ['k0', 'k1', 'k2', 'k3', 'k4'], 'the cursor synced to CheckpointConfig.S3Uri');

  // landed while no job ran: one before every streamed key, one after; then one more mid-job
  await write('a0');
  await write('k5');
  assert.deepEqual(await job('follow-second', ['k6']), expected(['a0', 'k5', 'k6']), 'the restarted job streams only the new objects');
  assert.deepEqual((await cursorKeys()).sort(), ['a0', 'k0', 'k1', 'k2', 'k3', 'k4', 'k5', 'k6']);
});
