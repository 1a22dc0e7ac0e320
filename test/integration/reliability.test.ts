/**
 * Faults, misbehaving readers and trainers, bad input, security (issue #5): through a fault-
 * injecting proxy in front of the real Ceph RGW, with the real CLI, real FIFOs and real processes.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Prng } from '../../src/plan/prng.js';
import { waitForPath } from '../../src/reader/wait-for-path.js';
import { ROOT, runPipemode, sha256, startPipemode } from '../helpers/cli.js';
import { startFaultProxy, type Fault } from '../helpers/fault-proxy.js';
import { recordDigests } from '../helpers/recordio.js';
import { newBucket, put, putAll, s3Endpoint } from '../helpers/s3.js';

const PROBE = path.join(ROOT, 'test/fixtures/trainers/probe.py');
const MiB = 1 << 20;

function workdir(): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), 'pipemode-rel-'));
}

/** Sockets in LISTEN state owned by `pid` (from /proc: its socket inodes against /proc/net/tcp*). */
function listeningSockets(pid: number): string[] {
  const inodes = new Set<string>();
  for (const fd of fs.readdirSync(`/proc/${pid}/fd`)) {
    let link: string;
    try {
      link = fs.readlinkSync(`/proc/${pid}/fd/${fd}`, { encoding: 'utf8' });
    } catch {
      continue; // closed since the listing: it listens on nothing
    }
    const m = /^socket:\[(\d+)\]$/.exec(link);
    if (m?.[1] !== undefined) inodes.add(m[1]);
  }
  const out: string[] = [];
  for (const table of ['/proc/net/tcp', '/proc/net/tcp6']) {
    for (const line of fs.readFileSync(table, 'utf8').split('\n').slice(1)) {
      const cols = line.trim().split(/\s+/);
      if (cols[3] === '0A' && inodes.has(cols[9] ?? '')) out.push(`${table} ${cols[1] ?? ''}`);
    }
  }
  return out;
}

test('soak: 8 shuffled epochs through random 503s, SlowDowns, resets, truncations and stalls — nothing lost or duplicated', { timeout: 300_000 }, async (t) => {
  const objects = new Map(Array.from({ length: 40 }, (_, i) => [`soak/obj-${String(i).padStart(3, '0')}.bin`, randomBytes(64 * 1024 + ((i * 104_729) % (2 * MiB)))] as const));
  const bucket = await newBucket('pm-soak');
  await putAll(bucket, objects);
  const prng = new Prng(2026n, 0);
  const kinds: Fault[] = [
    { kind: 'status', status: 503, code: 'SlowDown' },
    { kind: 'status', status: 500, code: 'InternalError' },
    { kind: 'reset', afterBytes: 100_000 },
    { kind: 'truncate', afterBytes: 333_333 },
    { kind: 'stall', ms: 2500 },
  ];
  const proxy = await startFaultProxy(s3Endpoint(), { decide: () => (prng.below(100) < 6 ? kinds[prng.below(kinds.length)] : undefined) });
  const dir = workdir();
  const epochs = 8;
  const pm = startPipemode(['pipe', '--dir', dir, '--channel', `train=s3://${bucket}/soak/`, '--epochs', String(epochs), '--shuffle-seed', '11',
    '--record-wrapper', 'RecordIO', '--part-size', '256KiB', '--memory-budget', '8MiB', '--max-requests', '8', '--read-timeout', '1', '-v'],
  { env: { ...process.env, AWS_ENDPOINT_URL_S3: proxy.url } });
  const closed = once(pm, 'close');
  let stderr = '';
  pm.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
  const want = [...objects.values()].map((b) => sha256(b)).sort();
  let verified = 0;
  try {
    for (let epoch = 0; epoch < epochs; epoch++) {
      const fifo = path.join(dir, `train_${epoch}`);
      await waitForPath(fifo, 30_000);
      const data = await fs.promises.readFile(fifo);
      assert.ok(!fs.existsSync(`${fifo}.error`), `epoch ${epoch} has no error marker`);
      assert.deepEqual(recordDigests(data).sort(), want, `epoch ${epoch}: every object exactly once`);
      verified += data.length;
    }
    const [code] = await closed as [number];
    assert.equal(code, 0, stderr);
  } finally {
    await proxy.close();
  }
  const injected = Object.values(proxy.injected).reduce((a, b) => a + b, 0);
  assert.ok(injected >= 50, `only ${injected} faults injected`);
  t.diagnostic(`faults injected and survived: ${injected} ${JSON.stringify(proxy.injected)}; ${proxy.reads.length} reads; ${verified} bytes verified over ${epochs} epochs`);
});

test('train, Pipe mode: an object changed mid-epoch stops the trainer before it can see EOF; Failed with the cause', { timeout: 120_000 }, async () => {
  const bucket = await newBucket('pm-chg');
  const objects = new Map(Array.from({ length: 6 }, (_, i) => [`d/o${i}.bin`, randomBytes(3 * MiB)] as const));
  await putAll(bucket, objects);
  const proxy = await startFaultProxy(s3Endpoint(), {
    decide: async (r) => {
      if (r.path.endsWith('/o3.bin') && r.nth === 2) await put(bucket, 'd/o3.bin', Buffer.from('changed'));
      return undefined;
    },
  });
  const dir = workdir();
  fs.writeFileSync(path.join(dir, 'job.json'), JSON.stringify({
    TrainingJobName: 'changed',
    AlgorithmSpecification: { TrainingInputMode: 'Pipe', ContainerEntrypoint: ['python3', PROBE] },
    InputDataConfig: [{ ChannelName: 'train', DataSource: { S3DataSource: { S3DataType: 'S3Prefix', S3Uri: `s3://${bucket}/d/` } } }],
    OutputDataConfig: { S3OutputPath: path.join(dir, 'out') },
  }));
  try {
    const r = await runPipemode(['train', path.join(dir, 'job.json'), '--jobs-dir', path.join(dir, 'jobs'), '--part-size', '1MiB', '--memory-budget', '2MiB', '--max-requests', '1'], {
      env: { ...process.env, AWS_ENDPOINT_URL_S3: proxy.url },
    });
    assert.equal(r.code, 4, r.stderr);
    const rec = JSON.parse(fs.readFileSync(path.join(dir, 'jobs', 'changed', 'job.json'), 'utf8')) as { TrainingJobStatus: string; FailureReason: string; ExitCodes: Record<string, number> };
    assert.equal(rec.TrainingJobStatus, 'Failed');
    assert.match(rec.FailureReason, /^ClientError: .*o3\.bin changed while it was being read.*\[PM_ERR_OBJECT_CHANGED\]$/);
    assert.notEqual(rec.ExitCodes['algo-1'], 0, 'the trainer was stopped, it did not finish');
    const base = path.join(dir, 'jobs', 'changed', 'algo-1');
    assert.ok(!fs.existsSync(path.join(base, 'model', 'algo-1.json')), 'the trainer never reached EOF of the broken epoch');
    assert.deepEqual(fs.readdirSync(path.join(base, 'input', 'data')).filter((f) => !f.endsWith('.error')), [], 'no FIFO left behind');
  } finally {
    await proxy.close();
  }
});

test('train: a trainer that exits without reading its FIFOs ends the job promptly, FIFOs removed', async () => {
  const dir = workdir();
  const data = path.join(dir, 'data');
  fs.mkdirSync(data);
  fs.writeFileSync(path.join(data, 'a.bin'), randomBytes(4 * MiB));
  fs.writeFileSync(path.join(dir, 'job.json'), JSON.stringify({
    TrainingJobName: 'ignores-data',
    AlgorithmSpecification: { TrainingInputMode: 'Pipe', ContainerEntrypoint: ['true'] },
    InputDataConfig: ['train', 'validation'].map((ChannelName) => ({ ChannelName, DataSource: { S3DataSource: { S3DataType: 'S3Prefix', S3Uri: `${data}/` } } })),
    OutputDataConfig: { S3OutputPath: path.join(dir, 'out') },
  }));
  const started = Date.now();
  const r = await runPipemode(['train', path.join(dir, 'job.json'), '--jobs-dir', path.join(dir, 'jobs')]);
  assert.equal(r.code, 0, r.stderr);
  assert.ok(Date.now() - started < 5000);
  assert.deepEqual(fs.readdirSync(path.join(dir, 'jobs', 'ignores-data', 'algo-1', 'input', 'data')), []);
});

test('SIGHUP stops `pipe` and `train` cleanly', async () => {
  const dir = workdir();
  const data = path.join(dir, 'data');
  fs.mkdirSync(data);
  fs.writeFileSync(path.join(data, 'a.bin'), 'x');
  const pipeDir = path.join(dir, 'fifos');
  const pm = startPipemode(['pipe', '--dir', pipeDir, '--channel', `train=${data}/`]);
  await waitForPath(path.join(pipeDir, 'train_0'), 30_000);
  pm.kill('SIGHUP');
  const [code] = await once(pm, 'close') as [number];
  assert.equal(code, 0);
  assert.deepEqual(fs.readdirSync(pipeDir), []);

  fs.writeFileSync(path.join(dir, 'job.json'), JSON.stringify({
    TrainingJobName: 'hup', AlgorithmSpecification: { TrainingInputMode: 'File', ContainerEntrypoint: ['python3', PROBE, '--sleep', '600'] },
    OutputDataConfig: { S3OutputPath: path.join(dir, 'out') },
  }));
  const tr = startPipemode(['train', path.join(dir, 'job.json'), '--jobs-dir', path.join(dir, 'jobs'), '--stop-grace', '5']);
  let out = '';
  tr.stdout?.on('data', (d: Buffer) => (out += d.toString()));
  while (!out.includes('ready')) await sleep(20);
  tr.kill('SIGHUP');
  const [trainCode] = await once(tr, 'close') as [number];
  assert.equal(trainCode, 11);
});

test('File mode refuses keys that would escape the channel directory, and writes nothing outside it', async () => {
  const bucket = await newBucket('pm-keys');
  for (const key of ['ch/ok.bin', 'ch/../../escape.bin', 'ch/a//b.bin', 'ch/./dot.bin']) {
    const dir = workdir();
    await put(bucket, 'ch/ok.bin', 'fine');
    if (key !== 'ch/ok.bin') await put(bucket, key, 'evil');
    fs.writeFileSync(path.join(dir, 'job.json'), JSON.stringify({
      TrainingJobName: 'keys', AlgorithmSpecification: { TrainingInputMode: 'File', ContainerEntrypoint: ['true'] },
      InputDataConfig: [{ ChannelName: 'train', DataSource: { S3DataSource: { S3DataType: 'S3Prefix', S3Uri: `s3://${bucket}/ch/` } } }],
      OutputDataConfig: { S3OutputPath: path.join(dir, 'out') },
    }));
    const r = await runPipemode(['train', path.join(dir, 'job.json'), '--jobs-dir', path.join(dir, 'jobs')]);
    if (key === 'ch/ok.bin') {
      assert.equal(r.code, 0, r.stderr);
      // the one safe key was downloaded into the channel directory, byte for byte, and nothing else
      const channel = path.join(dir, 'jobs', 'keys', 'algo-1', 'input', 'data', 'train');
      assert.deepEqual(fs.readdirSync(channel), ['ok.bin']);
      assert.equal(fs.readFileSync(path.join(channel, 'ok.bin'), 'utf8'), 'fine');
      continue;
    }
    assert.equal(r.code, 3, `${key}: ${r.stderr}`);
    assert.match(r.stderr, /refusing to download .*\[PM_ERR_UNSAFE_KEY\]/);
    const everything = fs.readdirSync(dir, { recursive: true }) as string[];
    assert.ok(!everything.some((f) => f.endsWith('escape.bin') || f.endsWith('dot.bin') || f.endsWith('b.bin')), `${key}: ${everything.join(', ')}`);
    execFileSync('sh', ['-c', `test ! -e "${path.join(dir, 'jobs', 'escape.bin')}" && test ! -e "${path.join(dir, 'escape.bin')}"`]);
    const { DeleteObjectCommand } = await import('@aws-sdk/client-s3');
    const { s3 } = await import('../helpers/s3.js');
    await s3().send(new DeleteObjectCommand({ Bucket: bucket, Key: key }));
  }
});

test('File mode copies what a symlink in a local source points to; it never creates a link to outside', async () => {
  const dir = workdir();
  const data = path.join(dir, 'data');
  fs.mkdirSync(data);
  const secret = path.join(dir, 'outside.txt');
  fs.writeFileSync(secret, 'outside the channel');
  fs.symlinkSync(secret, path.join(data, 'link.txt'));
  fs.writeFileSync(path.join(dir, 'job.json'), JSON.stringify({
    TrainingJobName: 'links', AlgorithmSpecification: { TrainingInputMode: 'File', ContainerEntrypoint: ['true'] },
    InputDataConfig: [{ ChannelName: 'train', DataSource: { S3DataSource: { S3DataType: 'S3Prefix', S3Uri: `${data}/` } } }],
    OutputDataConfig: { S3OutputPath: path.join(dir, 'out') },
  }));
  const r = await runPipemode(['train', path.join(dir, 'job.json'), '--jobs-dir', path.join(dir, 'jobs')]);
  assert.equal(r.code, 0, r.stderr);
  const copied = path.join(dir, 'jobs', 'links', 'algo-1', 'input', 'data', 'train', 'link.txt');
  assert.ok(fs.lstatSync(copied).isFile() && !fs.lstatSync(copied).isSymbolicLink());
  assert.equal(fs.readFileSync(copied, 'utf8'), 'outside the channel');
});

test('nothing listens on a network port, and credentials appear in no log, job.json or process listing', async () => {
  const bucket = await newBucket('pm-sec');
  await put(bucket, 'd/a.bin', randomBytes(1000));
  const dir = workdir();
  const secret = process.env.AWS_SECRET_ACCESS_KEY ?? '';
  assert.ok(secret.length > 0);
  fs.writeFileSync(path.join(dir, 'job.json'), JSON.stringify({
    TrainingJobName: 'secrets', AlgorithmSpecification: { TrainingInputMode: 'Pipe', ContainerEntrypoint: ['python3', PROBE, '--sleep', '2'] },
    InputDataConfig: [{ ChannelName: 'train', DataSource: { S3DataSource: { S3DataType: 'S3Prefix', S3Uri: `s3://${bucket}/d/` } } }],
    OutputDataConfig: { S3OutputPath: `s3://${bucket}/out` },
  }));
  const tr = startPipemode(['train', path.join(dir, 'job.json'), '--jobs-dir', path.join(dir, 'jobs'), '-v']);
  const closed = once(tr, 'close');
  let out = '';
  tr.stdout?.on('data', (d: Buffer) => (out += d.toString()));
  tr.stderr?.on('data', (d: Buffer) => (out += d.toString()));
  while (!out.includes('ready')) await sleep(20);
  assert.deepEqual(listeningSockets(tr.pid as number), [], 'pipemode train listens on nothing');
  const listing = execFileSync('ps', ['-eo', 'args'], { encoding: 'utf8' });
  assert.ok(!listing.includes(secret), 'no secret on a command line');
  const [code] = await closed as [number];
  assert.equal(code, 0, out);
  assert.ok(!out.includes(secret), 'no secret in the output');
  assert.ok(!fs.readFileSync(path.join(dir, 'jobs', 'secrets', 'job.json'), 'utf8').includes(secret), 'no secret in job.json');
  const pipeDir = path.join(dir, 'fifos');
  const pm = startPipemode(['pipe', '--dir', pipeDir, '--channel', `train=s3://${bucket}/d/`]);
  await waitForPath(path.join(pipeDir, 'train_0'), 30_000);
  assert.deepEqual(listeningSockets(pm.pid as number), [], 'pipemode pipe listens on nothing');
  pm.kill('SIGTERM');
  await once(pm, 'close');
});

test('FIFOs waiting for readers cost no busy loop: an idle `pipe` with 8 channels uses under 5% of a core', async () => {
  const dir = workdir();
  const data = path.join(dir, 'data');
  fs.mkdirSync(data);
  fs.writeFileSync(path.join(data, 'a.bin'), 'x');
  const pipeDir = path.join(dir, 'fifos');
  const pm = startPipemode(['pipe', '--dir', pipeDir, ...Array.from({ length: 8 }, (_, i) => ['--channel', `c${i}=${data}/`]).flat()]);
  for (let i = 0; i < 8; i++) await waitForPath(path.join(pipeDir, `c${i}_0`), 30_000);
  const cpu = (): number => {
    const stat = fs.readFileSync(`/proc/${pm.pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / 100; // utime + stime, in clock ticks of 10 ms
  };
  const before = cpu();
  await sleep(3000);
  const used = cpu() - before;
  pm.kill('SIGTERM');
  await once(pm, 'close');
  assert.ok(used < 0.15, `${used.toFixed(2)} CPU-s in 3 s`);
});

test('File mode: a key with a name longer than the file system allows is a clear error', async () => {
  const bucket = await newBucket('pm-long');
  await put(bucket, `ch/${'n'.repeat(300)}.bin`, 'x');
  const dir = workdir();
  fs.writeFileSync(path.join(dir, 'job.json'), JSON.stringify({
    TrainingJobName: 'long', AlgorithmSpecification: { TrainingInputMode: 'File', ContainerEntrypoint: ['true'] },
    InputDataConfig: [{ ChannelName: 'train', DataSource: { S3DataSource: { S3DataType: 'S3Prefix', S3Uri: `s3://${bucket}/ch/` } } }],
    OutputDataConfig: { S3OutputPath: path.join(dir, 'out') },
  }));
  const r = await runPipemode(['train', path.join(dir, 'job.json'), '--jobs-dir', path.join(dir, 'jobs')]);
  assert.equal(r.code, 3, r.stderr);
  assert.match(r.stderr, /is 304 bytes, more than a file name may have \(255\).*\[PM_ERR_UNSAFE_KEY\]/);
});
