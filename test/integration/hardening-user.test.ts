/**
 * pipemode tried as a hostile or unlucky user would (issue 11): names and manifests that try to
 * escape, user and machine mistakes that must read as coded errors (never exit 1), a killed run's
 * record, host logs and the job commands, live progress, and installing from a fresh clone.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { ROOT, runPipemode, startPipemode, BIN } from '../helpers/cli.js';
import { newBucket, put, s3Endpoint } from '../helpers/s3.js';
import { startFaultProxy } from '../helpers/fault-proxy.js';

const tmp = (): string => fs.mkdtempSync(path.join(os.tmpdir(), 'pipemode-hard-'));
const isRoot = process.getuid?.() === 0;

function writeJob(dir: string, name: string, entrypoint: string[], extra: Record<string, unknown> = {}): string {
  const data = path.join(dir, 'data');
  fs.mkdirSync(data, { recursive: true });
  fs.writeFileSync(path.join(data, 'a.bin'), 'abc');
  const file = path.join(dir, `${name}.json`);
  fs.writeFileSync(file, JSON.stringify({
    TrainingJobName: name,
    AlgorithmSpecification: { TrainingInputMode: 'File', ContainerEntrypoint: entrypoint },
    InputDataConfig: [{ ChannelName: 'train', DataSource: { S3DataSource: { S3DataType: 'S3Prefix', S3Uri: `${data}/` } } }],
    OutputDataConfig: { S3OutputPath: path.join(dir, 'out') },
    ...extra,
  }));
  return file;
}

async function expectCoded(args: string[], exit: number, pattern: RegExp): Promise<string> {
  const r = await runPipemode(args);
  assert.equal(r.code, exit, `${args.join(' ')}: ${r.stderr}`);
  assert.match(r.stderr, pattern);
  assert.doesNotMatch(r.stderr, /internal error|at .*\.js:\d+/);
  return r.stderr;
}

// 6 ------------------------------------------------------------------------------------------
test('ChannelName "." or ".." is refused with exit 2 (it would write into input/ and over the config files)', async () => {
  const dir = tmp();
  for (const name of ['.', '..']) {
    const job = writeJob(dir, 'dots', ['true'], {
      InputDataConfig: [{ ChannelName: name, DataSource: { S3DataSource: { S3DataType: 'S3Prefix', S3Uri: `${dir}/` } } }],
    });
    await expectCoded(['train', job, '--jobs-dir', path.join(dir, 'jobs')], 2, /ChannelName: must not be "\." or "\.\."[^\n]*\[PM_ERR_CONFIG\]/);
    await expectCoded(['pipe', '--dir', path.join(dir, 'f'), '--channel', `${name}=${dir}/`], 2, /PM_ERR_CONFIG/);
  }
  assert.equal(fs.existsSync(path.join(dir, 'jobs', 'dots', 'algo-1', 'input', 'config', 'hyperparameters.json')), false);
});

// 7 ------------------------------------------------------------------------------------------
test('a manifest in S3 cannot read local files; a "../" entry is refused for every store', async () => {
  const dir = tmp();
  fs.writeFileSync(path.join(dir, 'secret'), 'local secret');
  const bucket = await newBucket('pm-hard');
  await put(bucket, 'm/manifest.json', JSON.stringify([{ prefix: `file://${dir}/` }, 'secret']));
  await put(bucket, 'm/abs.json', JSON.stringify([{ prefix: `${dir}/` }, 'secret']));
  await put(bucket, 'm/aug.jsonl', `${JSON.stringify({ 'source-ref': `file://${dir}/secret` })}\n`);
  await put(bucket, 'm/dots.json', JSON.stringify([{ prefix: `s3://${bucket}/m/` }, '../x']));
  await put(bucket, 'x', 'outside');
  for (const key of ['manifest.json', 'abs.json']) {
    const r = await expectCoded(['cat', `s3://${bucket}/m/${key}`, '--s3-data-type', 'ManifestFile'], 3, /may name objects in S3 only[^\n]*\[PM_ERR_MANIFEST\]/);
    assert.doesNotMatch(r, /local secret/);
  }
  await expectCoded(['cat', `s3://${bucket}/m/aug.jsonl`, '--s3-data-type', 'AugmentedManifestFile', '--attribute-names', 'source-ref'], 3, /names a local file[^\n]*\[PM_ERR_MANIFEST\]/);
  await expectCoded(['cat', `s3://${bucket}/m/dots.json`, '--s3-data-type', 'ManifestFile'], 3, /entry 1 "\.\.\/x"[^\n]*segment[^\n]*\[PM_ERR_MANIFEST\]/);
  fs.mkdirSync(path.join(dir, 'p'));
  fs.writeFileSync(path.join(dir, 'local.json'), JSON.stringify([{ prefix: `${dir}/p/` }, '../secret']));
  await expectCoded(['cat', path.join(dir, 'local.json'), '--s3-data-type', 'ManifestFile'], 3, /segment[^\n]*\[PM_ERR_MANIFEST\]/);
});

// 9, 15 --------------------------------------------------------------------------------------
test('kill -9 of train: describe and list read Failed "interrupted"; logs keeps the trainer\'s output; stop from another terminal', async () => {
  const dir = tmp();
  const jobs = path.join(dir, 'jobs');
  const job = writeJob(dir, 'killed', ['sh', '-c', 'echo started; echo to-stderr >&2; sleep 60']);
  const child = startPipemode(['train', job, '--jobs-dir', jobs]);
  const log = path.join(jobs, 'killed', 'algo-1.log');
  for (let i = 0; i < 100 && !(fs.existsSync(log) && fs.readFileSync(log, 'utf8').includes('to-stderr')); i++) await sleep(100);
  const running = await runPipemode(['describe', 'killed', '--jobs-dir', jobs]);
  assert.equal((JSON.parse(running.stdout.toString()) as { TrainingJobStatus: string }).TrainingJobStatus, 'InProgress');
  child.kill('SIGKILL');
  await new Promise((resolve) => child.once('close', resolve));
  const described = await runPipemode(['describe', 'killed', '--jobs-dir', jobs]);
  assert.equal(described.code, 0, described.stderr);
  const record = JSON.parse(described.stdout.toString()) as { TrainingJobStatus: string; FailureReason: string };
  assert.equal(record.TrainingJobStatus, 'Failed');
  assert.match(record.FailureReason, /^interrupted: the pipemode process that ran it \(pid \d+\) ended while the job was Training/);
  const list = await runPipemode(['list', '--jobs-dir', jobs]);
  assert.match(list.stdout.toString(), /killed\s+Failed\s+Failed/);
  const logs = await runPipemode(['logs', 'killed', '--jobs-dir', jobs]);
  assert.equal(logs.stdout.toString(), 'started\nto-stderr\n');

  // stop JOB from another terminal: the runner gets SIGTERM, the job ends Stopped (exit 11)
  const job2 = writeJob(dir, 'stoppable', ['sh', '-c', 'echo up; exec sleep 60']);
  const runner = startPipemode(['train', job2, '--jobs-dir', jobs, '--stop-grace', '1']);
  const closed = new Promise<number | null>((resolve) => runner.once('close', resolve));
  for (let i = 0; i < 100 && !(fs.existsSync(path.join(jobs, 'stoppable', 'algo-1.log')) && fs.readFileSync(path.join(jobs, 'stoppable', 'algo-1.log'), 'utf8').includes('up')); i++) await sleep(100);
  const follow = startPipemode(['logs', 'stoppable', '--jobs-dir', jobs, '--follow']);
  let followed = '';
  follow.stdout?.on('data', (d: Buffer) => (followed += d.toString()));
  const followClosed = new Promise((resolve) => follow.once('close', resolve));
  const stop = await runPipemode(['stop', 'stoppable', '--jobs-dir', jobs, '--wait']);
  assert.equal(stop.code, 0, stop.stderr);
  assert.match(stop.stderr, /stoppable: Stopped \(Stopped\)/);
  assert.equal(await closed, 11);
  await followClosed; // --follow ends with the job
  assert.equal(followed, 'up\n');
  await expectCoded(['stop', 'stoppable', '--jobs-dir', jobs], 2, /is not running: it is Stopped \[PM_ERR_CONFIG\]/);
});

// 10 -----------------------------------------------------------------------------------------
test('user and machine mistakes are coded errors naming the path or flag, never exit 1', async () => {
  const dir = tmp();
  const file = path.join(dir, 'a-file');
  fs.writeFileSync(file, 'x');
  await expectCoded(['pipe', '--dir', file, '--channel', `a=${dir}/`], 5, /--dir [^\n]*a-file: cannot create FIFOs there[^\n]*\(EEXIST\) \[PM_ERR_FIFO\]/);
  const job = writeJob(dir, 'mistakes', ['true']);
  await expectCoded(['train', job, '--jobs-dir', file], 2, /--jobs-dir [^\n]*a-file[^\n]*not a folder \(ENOTDIR[^\n]*\[PM_ERR_LOCAL_PATH\]/);
  await expectCoded(['train', job, '--jobs-dir', path.join(dir, 'jobs'), '--base-dir', path.join(file, 'base')], 2, /--base-dir [^\n]*a-file\/base[^\n]*ENOTDIR[^\n]*\[PM_ERR_LOCAL_PATH\]/);
  const outUnderFile = writeJob(dir, 'out-under-file', ['true'], { OutputDataConfig: { S3OutputPath: path.join(file, 'out') } });
  await expectCoded(['train', outUnderFile, '--jobs-dir', path.join(dir, 'jobs')], 2, /ClientError: OutputDataConfig\.S3OutputPath [^\n]*a-file\/out[^\n]*\[PM_ERR_LOCAL_PATH\]/);
  const missing = writeJob(dir, 'no-entrypoint', ['no-such-trainer-here']);
  await expectCoded(['train', missing, '--jobs-dir', path.join(dir, 'jobs')], 2, /cannot start the command "no-such-trainer-here": not found[^\n]*\[PM_ERR_ENTRYPOINT\]/);
  const empty = writeJob(dir, 'empty-failure', ['sh', '-c', ': > "$SM_OUTPUT_DIR/failure"; exit 3']);
  const r = await runPipemode(['train', empty, '--jobs-dir', path.join(dir, 'jobs')]);
  assert.equal(r.code, 10);
  assert.match(r.stderr, /AlgorithmError: the training command exited with code 3 and wrote no failure reason/);
  assert.doesNotMatch(r.stderr, /AlgorithmError: ,/);
  fs.writeFileSync(path.join(dir, 'jobs', 'empty-failure', 'job.json'), '{"TrainingJob');
  await expectCoded(['describe', 'empty-failure', '--jobs-dir', path.join(dir, 'jobs')], 3, /job record [^\n]*job\.json is not valid JSON[^\n]*\[PM_ERR_JOB_RECORD\]/);
  // a key that is a file and a folder at once
  fs.mkdirSync(path.join(dir, 'clash', 'a'), { recursive: true });
  const bucket = await newBucket('pm-clash');
  await put(bucket, 'd/a', 'file');
  await put(bucket, 'd/a/b', 'inside');
  const clash = writeJob(dir, 'clash', ['true'], { InputDataConfig: [{ ChannelName: 'train', DataSource: { S3DataSource: { S3DataType: 'S3Prefix', S3Uri: `s3://${bucket}/d/` } } }] });
  await expectCoded(['train', clash, '--jobs-dir', path.join(dir, 'jobs')], 3, /"a" would have to be a file and a folder at once[^\n]*\[PM_ERR_UNSAFE_KEY\]/);
  // the S3 endpoint and credentials
  await expectCoded(['cat', `s3://${bucket}/d/`, '--endpoint-url', 'notaurl'], 2, /--endpoint-url "notaurl" is not an S3 endpoint URL[^\n]*\[PM_ERR_CONFIG\]/);
  const noCreds = await runPipemode(['cat', `s3://${bucket}/d/`], {
    env: { ...process.env, AWS_ACCESS_KEY_ID: '', AWS_SECRET_ACCESS_KEY: '', AWS_PROFILE: '', AWS_SHARED_CREDENTIALS_FILE: path.join(dir, 'none'), AWS_CONFIG_FILE: path.join(dir, 'none'), HOME: dir },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  assert.notEqual(noCreds.code, 1, noCreds.stderr);
  assert.doesNotMatch(noCreds.stderr, /PM_ERR_STORE_PROTOCOL/);
  assert.match(noCreds.stderr, /\[PM_ERR_(CONFIG|ACCESS_DENIED)\]/);
  // commander's own parse errors
  await expectCoded(['cat', dir, '--no-such-flag'], 2, /^pipemode: error: unknown option '--no-such-flag' \[PM_ERR_CONFIG\]/);
  await expectCoded(['train'], 2, /^pipemode: error: missing required argument 'job' \[PM_ERR_CONFIG\]/);
  // --log-format json: every line a JSON object with time, level, message, code
  const json = await runPipemode(['--log-format', 'json', 'cat', path.join(dir, 'nothing-here')]);
  assert.equal(json.code, 3);
  const line = JSON.parse(json.stderr.trim().split('\n').at(-1) ?? '') as Record<string, string>;
  assert.equal(line.level, 'error');
  assert.equal(line.code, 'PM_ERR_EMPTY_SOURCE');
  assert.ok(!Number.isNaN(Date.parse(line.time ?? '')));
});

test('as another user: an unwritable --dir is PM_ERR_FIFO; cat into a pipe owned by someone else still delivers every byte', { skip: isRoot ? false : 'needs root (setpriv)' }, async () => {
  const dir = tmp();
  fs.chmodSync(dir, 0o755);
  fs.writeFileSync(path.join(dir, 'a.bin'), Buffer.alloc(300_000, 7));
  fs.chmodSync(path.join(dir, 'a.bin'), 0o644);
  const locked = path.join(dir, 'locked');
  fs.mkdirSync(locked, { mode: 0o755 });
  const asNobody = (args: string[]): ReturnType<typeof spawnSync> => spawnSync('setpriv', ['--reuid', 'nobody', '--regid', 'nogroup', '--clear-groups', process.execPath, BIN, ...args], { cwd: '/', encoding: 'buffer' });
  const fifo = asNobody(['pipe', '--dir', locked, '--channel', `a=${dir}/`]);
  assert.equal(fifo.status, 5, fifo.stderr.toString());
  assert.match(fifo.stderr.toString(), /--dir [^\n]*locked: cannot create FIFOs there: permission denied \(EACCES\) \[PM_ERR_FIFO\]/);
  // stdout is a pipe this (root) process created: nobody cannot reopen /proc/self/fd/1
  const cat = asNobody(['cat', `${dir}/`]);
  assert.equal(cat.status, 0, cat.stderr.toString());
  assert.equal(cat.stdout.length, 300_000);
  assert.ok((cat.stdout as Buffer).every((b) => b === 7));
});

test('a full disk: a channel larger than the free space, or one that fills it part-way, is PM_ERR_NO_SPACE and leaves no partial download', { skip: isRoot ? false : 'needs root (mount tmpfs)' }, async (t) => {
  const dir = tmp();
  const small = path.join(dir, 'small');
  fs.mkdirSync(small);
  const mounted = spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'tmpfs', small]);
  if (mounted.status !== 0) return t.skip(`cannot mount a tmpfs here: ${mounted.stderr.toString().trim()}`);
  try {
    const big = path.join(dir, 'big');
    fs.mkdirSync(big);
    fs.writeFileSync(path.join(big, 'a.bin'), Buffer.alloc(2 * 1024 * 1024, 1));
    const job = writeJob(dir, 'full', ['true'], { InputDataConfig: [{ ChannelName: 'train', DataSource: { S3DataSource: { S3DataType: 'S3Prefix', S3Uri: `${big}/` } } }] });
    await expectCoded(['train', job, '--jobs-dir', path.join(dir, 'jobs'), '--base-dir', path.join(small, 'ml')], 4, /the channel needs 2\.00 MiB, the disk has [^\n]* free[^\n]*\[PM_ERR_NO_SPACE\]/);
    // many one-byte files: few bytes, but a page each: the disk fills up part-way
    const many = path.join(dir, 'many');
    fs.mkdirSync(many);
    for (let i = 0; i < 600; i++) fs.writeFileSync(path.join(many, `f${String(i).padStart(4, '0')}`), 'x');
    const job2 = writeJob(dir, 'fills', ['true'], { InputDataConfig: [{ ChannelName: 'train', DataSource: { S3DataSource: { S3DataType: 'S3Prefix', S3Uri: `${many}/` } } }] });
    await expectCoded(['train', job2, '--jobs-dir', path.join(dir, 'jobs'), '--base-dir', path.join(small, 'ml2')], 4, /the disk filled up while downloading[^\n]*the partial download was removed[^\n]*\[PM_ERR_NO_SPACE\]/);
    assert.equal(fs.existsSync(path.join(small, 'ml2', 'input', 'data', 'train')), false);
  } finally {
    spawnSync('umount', ['-l', small]);
  }
});

// 11 -----------------------------------------------------------------------------------------
test('FastFile mount on a non-empty folder says so (no raw libfuse lines, no "needs root" as root)', { skip: fs.existsSync('/dev/fuse') ? false : 'no /dev/fuse here' }, async () => {
  const dir = tmp();
  const point = path.join(dir, 'point');
  fs.mkdirSync(point);
  fs.writeFileSync(path.join(point, 'already-here'), 'x');
  const stderr = await expectCoded(['mount', `${dir}/`, point], 6, /cannot mount at [^\n]*point: the folder is not empty \(1 entry, e\.g\. "already-here"\)[^\n]*\[PM_ERR_MOUNT\]/);
  assert.doesNotMatch(stderr, /^fuse:/m);
  if (isRoot) assert.doesNotMatch(stderr, /needs root/);
});

/**
 * `pipemode pipe --progress-interval 1` of one channel into a reader that takes 1 MiB every `pauseMs`;
 * returns the progress lines, the path lines and what the reader got (bytes and sha256).
 */
async function progressOf(channel: string, pauseMs: number, extra: readonly string[] = [], env: NodeJS.ProcessEnv = process.env): Promise<{ lines: string[]; paths: string[]; got: string; code: number | null; stderr: string }> {
  const fifos = path.join(tmp(), 'f');
  const child = startPipemode(['pipe', '--dir', fifos, '--channel', `train=${channel}`, '--epochs', '1', '--progress-interval', '1', ...extra], { env: { ...env, PIPEMODE_REPORT_PATH: '1' } });
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
  const closed = new Promise<number | null>((resolve) => child.once('close', resolve));
  for (let i = 0; i < 200 && !fs.existsSync(path.join(fifos, 'train_0')); i++) await sleep(50);
  const reader = spawn('python3', ['-c', `import hashlib, time\nf=open(${JSON.stringify(path.join(fifos, 'train_0'))},'rb')\nh=hashlib.sha256()\nn=0\nwhile True:\n  b=f.read(1<<20)\n  if not b: break\n  n+=len(b); h.update(b); time.sleep(${pauseMs / 1000})\nprint(n, h.hexdigest())`], { stdio: ['ignore', 'pipe', 'inherit'] });
  let got = '';
  reader.stdout.on('data', (d: Buffer) => (got += d.toString()));
  await new Promise((resolve) => reader.once('close', resolve));
  const code = await closed;
  const lines = stderr.split('\n').filter((l) => /^pipemode: train: .*\/s, .* so far, buffered /.test(l));
  const paths = stderr.split('\n').filter((l) => l.startsWith('pipemode: path: '));
  return { lines, paths, got: got.trim(), code, stderr };
}

// 16 -----------------------------------------------------------------------------------------
test('pipe shows live per-channel progress: throughput and what is waited for', async () => {
  // through the prefetcher (S3 with --no-zero-copy), with a budget much smaller than the object:
  // the fetching must wait for the slow reader (1 MiB every 500 ms: about 4 s, several lines)
  const body = Buffer.alloc(8 * 1024 * 1024, 3);
  const bucket = await newBucket('pm-progress');
  await put(bucket, 'd/a.bin', body);
  const r = await progressOf(`s3://${bucket}/d/`, 500, ['--no-zero-copy', '--memory-budget', '2MiB', '--part-size', '1MiB']);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.got, `${body.length} ${createHash('sha256').update(body).digest('hex')}`, 'the slow reader got the exact bytes');
  assert.match(r.paths.join('\n'), /path: copy \(read\/write through net\.Socket\)/);
  const lines = r.lines.filter((l) => /^pipemode: train: .*\/s, .* so far, buffered .*; (waiting for data \d+%, waiting for the reader \d+%|idle)/.test(l));
  assert.ok(lines.length >= 2, r.stderr);
  assert.ok(lines.some((l) => /waiting for the reader [1-9]\d*%/.test(l)), r.stderr);
});

test('live progress of spliced epochs (local files, plain-http S3): bytes counted as they go, and what the worker waits for', async () => {
  const body = randomBytes(6 * 1024 * 1024);
  const want = `${body.length} ${createHash('sha256').update(body).digest('hex')}`;
  const dir = tmp();
  fs.mkdirSync(path.join(dir, 'd'));
  fs.writeFileSync(path.join(dir, 'd', 'a.bin'), body);
  // a slow reader (1 MiB every 400 ms): the worker mostly waits for it, and the count grows before the end
  const local = await progressOf(`${dir}/d/`, 400);
  assert.equal(local.code, 0, local.stderr);
  assert.equal(local.got, want, 'the reader got the exact bytes');
  assert.match(local.paths.join('\n'), /path: splice \(1 files/);
  const sofar = (l: string): string => /, (\S+ \S+) so far,/.exec(l)?.[1] ?? '';
  assert.ok(local.lines.some((l) => !['0 B', '6.00 MiB'].includes(sofar(l))), `a line part-way through the epoch:\n${local.stderr}`);
  assert.ok(local.lines.some((l) => /waiting for the reader [1-9]\d*%/.test(l)), local.stderr);

  // plain-http S3 is spliced from the socket too; every GET held back 400 ms: the worker waits for data
  const bucket = await newBucket('pm-progress');
  await put(bucket, 'p/a.bin', body);
  const proxy = await startFaultProxy(s3Endpoint(), { decide: () => ({ kind: 'stall', ms: 400 }) });
  try {
    const s3 = await progressOf(`s3://${bucket}/p/`, 0, ['--part-size', '1MiB', '--memory-budget', '1MiB'], { ...process.env, AWS_ENDPOINT_URL_S3: proxy.url });
    assert.equal(s3.code, 0, s3.stderr);
    assert.equal(s3.got, want, 'the reader got the exact bytes');
    assert.match(s3.paths.join('\n'), /path: splice \(0 files, 1 http objects/);
    assert.ok(s3.lines.some((l) => !['0 B', '6.00 MiB'].includes(sofar(l))), `a line part-way through the epoch:\n${s3.stderr}`);
    assert.ok(s3.lines.some((l) => /waiting for data [1-9]\d*%/.test(l)), s3.stderr);
  } finally {
    await proxy.close();
  }
});

// 14 -----------------------------------------------------------------------------------------
test('install from a fresh clone: npm install -g puts pipemode on PATH; pip installs the Python package', { timeout: 120_000 }, async (t) => {
  const dir = tmp();
  const clone = path.join(dir, 'pipemode');
  const git = spawnSync('git', ['clone', '-q', ROOT, clone], { encoding: 'utf8' });
  if (git.status !== 0) return t.skip(`not a git checkout here: ${git.stderr.trim()}`);
  // offline stand-ins for the README's `npm install` and `npm run build`: this checkout's
  // dependencies and build (the clone holds the same sources)
  fs.symlinkSync(path.join(ROOT, 'node_modules'), path.join(clone, 'node_modules'));
  fs.cpSync(path.join(ROOT, 'dist'), path.join(clone, 'dist'), { recursive: true });
  const prefix = path.join(dir, 'prefix');
  const npm = spawnSync('npm', ['install', '-g', clone, '--prefix', prefix, '--offline', '--no-audit', '--no-fund'], { encoding: 'utf8' });
  assert.equal(npm.status, 0, npm.stderr);
  const version = (JSON.parse(fs.readFileSync(path.join(clone, 'package.json'), 'utf8')) as { version: string }).version;
  const onPath = spawnSync('pipemode', ['--version'], { encoding: 'utf8', env: { ...process.env, PATH: `${path.join(prefix, 'bin')}:${process.env.PATH ?? ''}` }, cwd: dir });
  assert.equal(onPath.status, 0, onPath.stderr);
  assert.equal(onPath.stdout.trim() || onPath.stderr.trim(), version);
  const target = path.join(dir, 'site');
  const pip = spawnSync('python3', ['-m', 'pip', 'install', '-q', '--no-index', '--no-deps', '--no-build-isolation', '--target', target, path.join(clone, 'readers/python')], { encoding: 'utf8', cwd: dir });
  if (pip.status !== 0 && /No module named pip/.test(pip.stderr)) return t.skip('no pip');
  assert.equal(pip.status, 0, pip.stderr);
  const imported = spawnSync('python3', ['-c', 'import pipemode; print(pipemode.__file__)'], { encoding: 'utf8', cwd: dir, env: { ...process.env, PYTHONPATH: target } });
  assert.equal(imported.status, 0, imported.stderr);
  assert.equal(imported.stdout.trim(), path.join(fs.realpathSync(target), 'pipemode', '__init__.py'));
});
