/**
 * Several hosts for real (run as root): each host in its own network, UTS, PID and mount namespace,
 * joined by a bridge; real torch.distributed (gloo) jobs under Debian's /usr/bin/python3 read a
 * ShardedByS3Key Pipe channel (from the test S3 server, and from a local folder) at /opt/ml and
 * all-gather what they read; a dying host fails the job; a kill -9 of pipemode leaves no
 * namespace, link, file or process behind. Without root, one host gets its names from a user
 * namespace (the test drops to nobody when it runs as root).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import * as tar from 'tar';
import { planHostNetwork } from '../../src/container/host-network.js';
import { ROOT, runPipemode, startPipemode } from '../helpers/cli.js';
import { newBucket, putAll } from '../helpers/s3.js';

const DIST_PROBE = path.join(ROOT, 'test/fixtures/trainers/dist_probe.py');
const PYTHON = '/usr/bin/python3';
const root = process.getuid?.() === 0 && spawnSync('ip', ['-V']).status === 0;
const torch = root && process.env.PIPEMODE_SKIP_TORCH !== '1' && spawnSync(PYTHON, ['-c', 'import torch.distributed']).status === 0;
const noRoot = root ? false : 'needs root and iproute2 (host namespaces)';
const noTorch = torch ? false : 'needs root and torch under /usr/bin/python3';

const sha = (s: string | Buffer): string => createHash('sha256').update(s).digest('hex');

function workdir(): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), 'pipemode-hosts-'));
}

/** 9 files of 4-7 lines each: the data set, and its records' sha256s sorted. */
function dataset(dir: string): { uri: string; hashes: string[] } {
  const data = path.join(dir, 'data');
  fs.mkdirSync(data);
  const hashes: string[] = [];
  for (let f = 0; f < 9; f++) {
    const lines = Array.from({ length: 4 + (f % 4) }, (_, i) => `file ${f} record ${i} ${sha(`${f}/${i}`).slice(0, 16)}`);
    fs.writeFileSync(path.join(data, `part-${f}.txt`), `${lines.join('\n')}\n`);
    hashes.push(...lines.map((l) => sha(l)));
  }
  return { uri: `${data}/`, hashes: hashes.sort() };
}

/** The same data set in a fresh bucket of the test S3 server (Ceph RGW). */
async function s3Dataset(dir: string): Promise<{ uri: string; hashes: string[] }> {
  const { uri, hashes } = dataset(dir);
  const bucket = await newBucket('pm-hosts');
  await putAll(bucket, new Map(fs.readdirSync(uri).map((f) => [`data/${f}`, fs.readFileSync(path.join(uri, f))])));
  return { uri: `s3://${bucket}/data/`, hashes };
}

function writeJob(dir: string, name: string, extra: Record<string, unknown>, uri: string, count = 3): string {
  const file = path.join(dir, `${name}.json`);
  fs.writeFileSync(file, JSON.stringify({
    TrainingJobName: name,
    AlgorithmSpecification: { TrainingInputMode: 'Pipe' },
    InputDataConfig: [{ ChannelName: 'train', DataSource: { S3DataSource: { S3DataType: 'S3Prefix', S3Uri: uri, S3DataDistributionType: 'ShardedByS3Key' } } }],
    OutputDataConfig: { S3OutputPath: path.join(dir, 'out'), CompressionType: 'NONE' },
    ResourceConfig: { InstanceCount: count, InstanceType: 'ml.c5.xlarge' },
    ...extra,
  }));
  return file;
}

interface Report {
  world_size: number;
  processes: { rank: number; hostname: string; current_host: string; count: number; hashes: string[]; args: string[]; cwd: string }[];
}

function report(dir: string, job: string): Report {
  return JSON.parse(fs.readFileSync(path.join(dir, 'jobs', job, 'algo-1', 'model', 'report.json'), 'utf8')) as Report;
}

/** The union of what every process read is the data set, nothing twice. */
function assertCovers(r: Report, hashes: readonly string[]): void {
  const all = r.processes.flatMap((p) => p.hashes);
  assert.equal(r.processes.reduce((n, p) => n + p.count, 0), hashes.length);
  assert.equal(new Set(all).size, all.length, 'a record was read twice');
  assert.equal(sha([...all].sort().join('\n')), sha(hashes.join('\n')));
}

/** What the job's namespaces and links left behind (names from the plan). */
function leftovers(jobDir: string): string[] {
  const plan = planHostNetwork(jobDir, 3);
  const netns = execFileSync('ip', ['netns', 'list']).toString();
  const links = execFileSync('ip', ['-o', 'link']).toString();
  return [
    ...plan.hosts.filter((h) => netns.includes(h.netns)).map((h) => h.netns),
    ...[plan.bridge, ...plan.hosts.map((h) => h.veth)].filter((l) => links.includes(`${l}:`) || links.includes(`${l}@`)),
    ...plan.hosts.filter((h) => fs.existsSync(path.join('/etc/netns', h.netns))).map((h) => `/etc/netns/${h.netns}`),
  ];
}

test('3 hosts as namespaces: torch.distributed (gloo) over algo-* names; a ShardedByS3Key Pipe channel from the S3 server read once in all', { skip: noTorch, timeout: 120_000 }, async () => {
  const dir = workdir();
  const { uri, hashes } = await s3Dataset(dir);
  const job = writeJob(dir, 'dist-plain', { AlgorithmSpecification: { TrainingInputMode: 'Pipe', ContainerEntrypoint: [PYTHON, DIST_PROBE] } }, uri);
  const r = await runPipemode(['train', job, '--jobs-dir', path.join(dir, 'jobs')]);
  assert.equal(r.code, 0, r.stderr);
  const rep = report(dir, 'dist-plain');
  assert.equal(rep.world_size, 3);
  assert.deepEqual(rep.processes.map((p) => [p.rank, p.hostname, p.current_host]), [[0, 'algo-1', 'algo-1'], [1, 'algo-2', 'algo-2'], [2, 'algo-3', 'algo-3']]);
  for (const p of rep.processes) assert.ok(p.count > 0, `${p.hostname} read no records`);
  assertCovers(rep, hashes);
  // each host's shard came from the S3 server once: the bytes delivered add up to the data set
  const rec = JSON.parse(fs.readFileSync(path.join(dir, 'jobs', 'dist-plain', 'job.json'), 'utf8')) as { ChannelMetrics: Record<string, { BytesDelivered: number; GetRequests: number }> };
  const size = fs.readdirSync(path.join(dir, 'data')).reduce((n, f) => n + fs.statSync(path.join(dir, 'data', f)).size, 0);
  assert.deepEqual(Object.keys(rec.ChannelMetrics).sort(), ['algo-1/train', 'algo-2/train', 'algo-3/train']);
  assert.equal(Object.values(rec.ChannelMetrics).reduce((n, m) => n + m.BytesDelivered, 0), size);
  for (const m of Object.values(rec.ChannelMetrics)) assert.ok(m.GetRequests > 0);
  assert.deepEqual(leftovers(path.join(dir, 'jobs', 'dist-plain')), []);
  const rc = JSON.parse(fs.readFileSync(path.join(dir, 'jobs', 'dist-plain', 'algo-2', 'input/config/resourceconfig.json'), 'utf8')) as Record<string, unknown>;
  assert.equal(rc.network_interface_name, 'eth0');
  assert.equal(rc.current_host, 'algo-2');
});

test('a host that dies fails the job on every host: the others are stopped', { skip: noRoot, timeout: 60_000 }, async () => {
  const dir = workdir();
  const { uri } = dataset(dir);
  const script = 'cat /opt/ml/input/data/train_0 >/dev/null; if [ "$(hostname)" = algo-2 ]; then echo "algo-2 gave up" > /opt/ml/output/failure; exit 3; fi; exec sleep 60';
  const job = writeJob(dir, 'dist-dies', { AlgorithmSpecification: { TrainingInputMode: 'Pipe', ContainerEntrypoint: ['sh', '-c', script] } }, uri);
  const started = Date.now();
  const r = await runPipemode(['train', job, '--jobs-dir', path.join(dir, 'jobs'), '--stop-grace', '5']);
  assert.equal(r.code, 10, r.stderr);
  assert.ok(Date.now() - started < 30_000, 'the other hosts were not stopped');
  const rec = JSON.parse(fs.readFileSync(path.join(dir, 'jobs', 'dist-dies', 'job.json'), 'utf8')) as { FailureReason: string; ExitCodes: Record<string, number> };
  assert.match(rec.FailureReason, /^AlgorithmError: algo-2 gave up, exit code: 3/);
  assert.equal(rec.ExitCodes['algo-2'], 3);
  assert.notEqual(rec.ExitCodes['algo-1'], 0);
  assert.notEqual(rec.ExitCodes['algo-3'], 0);
  assert.deepEqual(leftovers(path.join(dir, 'jobs', 'dist-dies')), []);
});

test('kill -9 of pipemode: no namespace, link, file or process of the job is left', { skip: noRoot, timeout: 60_000 }, async () => {
  const dir = workdir();
  const { uri } = dataset(dir);
  const token = `pm-kill-${process.pid}-${Date.now()}`;
  const job = writeJob(dir, 'dist-killed', { AlgorithmSpecification: { TrainingInputMode: 'Pipe', ContainerEntrypoint: ['sh', '-c', 'sleep 120 & wait', token] } }, uri);
  const jobDir = path.join(dir, 'jobs', 'dist-killed');
  const child = startPipemode(['train', job, '--jobs-dir', path.join(dir, 'jobs')]);
  const withToken = (): number[] => fs.readdirSync('/proc').filter((p) => /^\d+$/.test(p)).filter((p) => {
    try {
      return fs.readFileSync(`/proc/${p}/cmdline`, 'utf8').includes(token);
    } catch {
      return false;
    }
  }).map(Number);
  // each host: unshare, its init shell, the command's shell (all carry the token)
  for (let i = 0; i < 200 && withToken().length < 9; i++) await sleep(50);
  assert.equal(withToken().length, 9, 'the three hosts did not start');
  assert.equal(leftovers(jobDir).length, 3 + 4 + 3, 'namespaces, links and hosts files exist while the job runs');
  child.kill('SIGKILL');
  let left: string[] = [];
  for (let i = 0; i < 100; i++) {
    left = [...leftovers(jobDir), ...withToken().map((p) => `pid ${p}`)];
    if (left.length === 0) break;
    await sleep(50);
  }
  assert.deepEqual(left, []);
  assert.deepEqual(fs.readdirSync('/run/pipemode-hosts').filter((f) => f.startsWith(planHostNetwork(jobDir, 3).tag)), []);
});

test('script mode with torch_distributed: a pytorch-training image, sourcedir.tar.gz, torchrun with 2 processes on each of 3 hosts (world size 6)', { skip: noTorch, timeout: 180_000 }, async () => {
  const dir = workdir();
  const { uri, hashes } = dataset(dir);
  const src = path.join(dir, 'src');
  fs.mkdirSync(src);
  fs.copyFileSync(DIST_PROBE, path.join(src, 'train.py'));
  fs.writeFileSync(path.join(src, 'requirements.txt'), 'numpy\n# a comment\nscipy==1.11\n');
  await tar.c({ gzip: true, cwd: src, file: path.join(dir, 'sourcedir.tar.gz') }, ['train.py', 'requirements.txt']);
  const job = writeJob(dir, 'dist-torchrun', {
    AlgorithmSpecification: { TrainingInputMode: 'Pipe', TrainingImage: '763104351884.dkr.ecr.us-east-1.amazonaws.com/pytorch-training:2.1.0-cpu-py310' },
    HyperParameters: {
      sagemaker_program: '"train.py"', sagemaker_submit_directory: `"${path.join(dir, 'sourcedir.tar.gz')}"`,
      sagemaker_torch_distributed_enabled: 'true', epochs: '3', 'learning-rate': '0.5',
    },
    // Debian's torchrun (torch 1.13 under Python 3.11) cannot parse its own defaults: a shim patches that
    Environment: { PIPEMODE_PYTHON: PYTHON, PIPEMODE_NPROC_PER_NODE: '2', PIPEMODE_TORCHRUN: `${PYTHON} ${path.join(ROOT, 'test/fixtures/trainers/torchrun_compat.py')}` },
  }, uri);
  const r = await runPipemode(['train', job, '--jobs-dir', path.join(dir, 'jobs')]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, /requirements\.txt lists 2 package\(s\) \(numpy, scipy==1\.11\): not installed/);
  const rep = report(dir, 'dist-torchrun');
  assert.equal(rep.world_size, 6);
  const byRank = [...rep.processes].sort((a, b) => a.rank - b.rank);
  assert.deepEqual(byRank.map((p) => p.hostname), ['algo-1', 'algo-1', 'algo-2', 'algo-2', 'algo-3', 'algo-3']);
  for (const p of byRank) {
    assert.deepEqual(p.args, ['--epochs', '3', '--learning-rate', '0.5']);
    assert.equal(p.cwd, path.join(dir, 'jobs', 'dist-torchrun', p.hostname, 'code'));
  }
  assertCovers(rep, hashes);
  assert.deepEqual(leftovers(path.join(dir, 'jobs', 'dist-torchrun')), []);
});

/** Runs as nobody when the tests run as root (the CI), else as this user: the path a non-root user takes. */
const asUser = process.getuid?.() === 0 ? { uid: 65534, gid: 65534 } : {};
const userns = spawnSync('unshare', ['--user', '--map-root-user', '--uts', '--mount', 'true'], asUser).status === 0;

/** A trainer (Debian's Python, readable by anyone) that reports what it sees: names, its uid, the Pipe channel's sha256. */
const WHO_AM_I = `
import hashlib, json, os, socket
with open(os.environ["SM_CHANNEL_TRAIN"] + "_0", "rb") as f:
    data = f.read()
report = {"hostname": socket.gethostname(), "algo1": socket.gethostbyname("algo-1"), "uid": os.getuid(), "gid": os.getgid(),
          "sha256": hashlib.sha256(data).hexdigest(), "current_host": os.environ["SM_CURRENT_HOST"]}
with open(os.path.join(os.environ["SM_MODEL_DIR"], "who.json"), "w") as f:
    json.dump(report, f)
`;

test('one host without root: a user namespace gives it hostname algo-1 and algo-1 → 127.0.0.1; Pipe FIFOs and outputs as before; several hosts share the network', {
  skip: userns ? false : `user namespaces are not available to ${process.getuid?.() === 0 ? 'nobody' : 'this user'} here (unshare --user --map-root-user fails)`, timeout: 60_000,
}, async () => {
  const dir = workdir();
  const { uri } = dataset(dir);
  const bytes = Buffer.concat(fs.readdirSync(uri).sort().map((f) => fs.readFileSync(path.join(uri, f))));
  fs.writeFileSync(path.join(dir, 'who_am_i.py'), WHO_AM_I);
  const job = writeJob(dir, 'userns-one', {
    AlgorithmSpecification: { TrainingInputMode: 'Pipe', ContainerEntrypoint: [PYTHON, path.join(dir, 'who_am_i.py')] },
    InputDataConfig: [{ ChannelName: 'train', DataSource: { S3DataSource: { S3DataType: 'S3Prefix', S3Uri: uri } } }],
  }, uri, 1);
  const shared = writeJob(dir, 'userns-two', { AlgorithmSpecification: { TrainingInputMode: 'Pipe', ContainerEntrypoint: ['sh', '-c', 'cat "$SM_CHANNEL_TRAIN"_0 >/dev/null'] } }, uri, 2);
  if ('uid' in asUser) execFileSync('chown', ['-R', `${asUser.uid}:${asUser.gid}`, dir]);
  const options = { ...asUser, cwd: dir, env: { ...process.env, HOME: dir } };

  const r = await runPipemode(['train', job, '--jobs-dir', path.join(dir, 'jobs')], options);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stderr.split('\n').filter((l) => /not root: algo-1 runs in a user namespace \(hostname algo-1, algo-1 → 127\.0\.0\.1/.test(l)).length, 1, r.stderr);
  const who = JSON.parse(fs.readFileSync(path.join(dir, 'out', 'userns-one', 'output', 'model', 'who.json'), 'utf8')) as Record<string, unknown>;
  const me = { uid: process.getuid?.() === 0 ? 65534 : process.getuid?.(), gid: process.getuid?.() === 0 ? 65534 : process.getgid?.() };
  assert.deepEqual(who, { hostname: 'algo-1', algo1: '127.0.0.1', ...me, sha256: sha(bytes), current_host: 'algo-1' });
  // the model the trainer wrote is the user's own (its uid was mapped back)
  assert.equal(fs.statSync(path.join(dir, 'out', 'userns-one', 'output', 'model', 'who.json')).uid, me.uid);

  const r2 = await runPipemode(['train', shared, '--jobs-dir', path.join(dir, 'jobs')], options);
  assert.equal(r2.code, 0, r2.stderr);
  assert.match(r2.stderr, /hosts share this machine's network and hostname \(not root\): algo-\* names do not resolve here/);
});
