/**
 * pipemode's Python reader (readers/python): its unittest suite under Debian's /usr/bin/python3 (where
 * python3-torch lives) and under the python3 first on PATH; then, end to end with the real CLI,
 * `pipemode pipe` serving a channel that ChannelReader reads for 3 epochs in Pipe mode (every record's
 * sha256 compared with the source objects), the same files in File mode, an epoch cut short by
 * SIGTERM (the .error marker), and a PyTorch DataLoader with 2 workers reading a RecordIO-protobuf
 * channel from the test S3 server in Pipe mode (--fifos-per-channel 2) and in File mode.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { encodeProtobufRecord } from '../../src/records/protobuf-record.js';
import { compareKeys } from '../../src/storage/object-store.js';
import { ROOT, sha256, startPipemode } from '../helpers/cli.js';
import { newBucket, putAll } from '../helpers/s3.js';
import { frame } from '../helpers/recordio.js';

const PYTHON_DIR = path.join(ROOT, 'readers/python');
const DIGEST = path.join(PYTHON_DIR, 'tests/channel_digest.py');
const DEBIAN_PYTHON = '/usr/bin/python3';

interface Interpreter {
  readonly command: string;
  readonly executable: string;
  readonly version: string;
  /** null when `import torch` works, else why not. */
  readonly noTorch: string | null;
}

/** What `command` is, or why it cannot run. */
function probe(command: string): Interpreter | string {
  const script = 'import sys, json\ntry:\n import torch; t = None\nexcept Exception as e:\n t = f"{type(e).__name__}: {e}"\n'
    + 'print(json.dumps([sys.executable, sys.version.split()[0], t]))';
  const r = spawnSync(command, ['-c', script], { encoding: 'utf8', timeout: 120_000 });
  if (r.error !== undefined || r.status !== 0) return `${command} cannot run: ${r.error?.message ?? r.stderr}`;
  const [executable, version, noTorch] = JSON.parse(r.stdout.trim()) as [string, string, string | null];
  return { command, executable, version, noTorch };
}

const debian = probe(DEBIAN_PYTHON);
const onPath = probe('python3');
const sameInterpreter = typeof debian !== 'string' && typeof onPath !== 'string' && fs.realpathSync(debian.executable) === fs.realpathSync(onPath.executable);
// scripts/test.sh installs python3-torch (as root); it sets PIPEMODE_SKIP_TORCH=1 only where it cannot
const torchSkip = process.env.PIPEMODE_SKIP_TORCH === '1' && (typeof debian === 'string' || debian.noTorch !== null)
  ? `torch is not importable under ${DEBIAN_PYTHON}: apt-get install python3-torch python3-numpy`
  : false;

interface Run { readonly code: number | null; readonly stdout: string; readonly stderr: string }

function run(command: string, args: readonly string[], cwd = ROOT, onLine?: (line: string) => void): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, PYTHONDONTWRITEBYTECODE: '1' } });
    let stdout = '';
    let stderr = '';
    let pending = '';
    child.stdout.on('data', (d: Buffer) => {
      stdout += d.toString();
      pending += d.toString();
      for (let i = pending.indexOf('\n'); i >= 0; i = pending.indexOf('\n')) {
        onLine?.(pending.slice(0, i));
        pending = pending.slice(i + 1);
      }
    });
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

interface EpochDigest { epoch: number; mode?: string; records: string[]; error?: string; message?: string }

function epochsOf(r: Run): EpochDigest[] {
  assert.equal(r.code, 0, `the reader failed:\n${r.stderr}`);
  return r.stdout.trim().split('\n').map((l) => JSON.parse(l) as EpochDigest).filter((e) => 'records' in e);
}

const made: string[] = [];
after(() => {
  for (const dir of made) fs.rmSync(dir, { recursive: true, force: true });
});

function tmp(prefix: string): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  made.push(dir);
  return dir;
}

/** `<base>/input/config/inputdataconfig.json` with one channel. */
function writeConfig(base: string, channel: string, mode: string, recordWrapper = 'None'): void {
  fs.mkdirSync(path.join(base, 'input/config'), { recursive: true });
  fs.mkdirSync(path.join(base, 'input/data'), { recursive: true });
  const config = { [channel]: { TrainingInputMode: mode, S3DistributionType: 'FullyReplicated', RecordWrapperType: recordWrapper } };
  fs.writeFileSync(path.join(base, 'input/config/inputdataconfig.json'), JSON.stringify(config));
}

function writeFiles(root: string, files: ReadonlyMap<string, Buffer>): void {
  for (const [name, body] of files) {
    fs.mkdirSync(path.dirname(path.join(root, name)), { recursive: true });
    fs.writeFileSync(path.join(root, name), body);
  }
}

/** Names in S3 listing order: ascending UTF-8 bytes. */
function keyOrder(names: Iterable<string>): string[] {
  return [...names].sort(compareKeys);
}

function counts(list: readonly string[]): Map<string, number> {
  const m = new Map<string, number>();
  for (const x of list) m.set(x, (m.get(x) ?? 0) + 1);
  return m;
}

// ---------------------------------------------------------------------------------------------
// the unittest suite

for (const [label, interp] of [['Debian', debian], ['PATH', onPath]] as const) {
  const name = typeof interp === 'string' ? `unittest suite (${label} python3)` : `unittest suite under ${interp.command} (${interp.executable}, Python ${interp.version})`;
  const skip = typeof interp === 'string' ? interp : label === 'PATH' && sameInterpreter ? 'python3 on PATH is /usr/bin/python3' : false;
  test(name, { skip, timeout: 300_000 }, async (t) => {
    const { command } = interp as Interpreter;
    const r = await run(command, ['-m', 'unittest', 'discover', 'readers/python/tests']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /^OK/m, r.stderr);
    const ran = /^Ran (\d+) tests?/m.exec(r.stderr);
    assert.ok(ran !== null && Number(ran[1]) > 50, r.stderr);
    t.diagnostic(r.stderr.trim().split('\n').filter((l) => /^(Ran|OK)/.test(l)).join('; '));
    if ((interp as Interpreter).noTorch !== null) t.diagnostic(`PyTorch tests skipped: ${(interp as Interpreter).noTorch ?? ''}`);
  });
}

test('the PyTorch tests run (not skipped) under /usr/bin/python3', { skip: torchSkip, timeout: 300_000 }, async () => {
  const r = await run(DEBIAN_PYTHON, ['-m', 'unittest', '-v', 'test_torch'], path.join(PYTHON_DIR, 'tests'));
  assert.equal(r.code, 0, r.stderr);
  assert.doesNotMatch(r.stderr, /skipped/, r.stderr);
});

// ---------------------------------------------------------------------------------------------
// end to end with `pipemode pipe`

/** Plain objects of awkward sizes and names: each becomes one RecordIO record with --record-wrapper RecordIO. */
function plainObjects(): Map<string, Buffer> {
  const sizes = [0, 1, 2, 3, 4, 5, 1000, 4096, 65_537, 100_003, (1 << 20) + 3];
  const names = ['a.bin', 'b/c.bin', 'b-c.bin', 'B.bin', 'ünï/ファイル.bin', 'deep/1/2/3.bin', 'sp ace.bin', 'z', 'zz/0', 'x+y=z.bin', 'e.bin'];
  return new Map(names.map((n, i) => [n, randomBytes(sizes[i] ?? 10)]));
}

async function servePipe(args: readonly string[]): Promise<{ done: Promise<[number | null]>; stderr: () => string; kill: (s: NodeJS.Signals) => void }> {
  const pm = startPipemode(['pipe', ...args]);
  let stderr = '';
  pm.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
  const done = once(pm, 'close') as Promise<[number | null]>;
  return { done, stderr: () => stderr, kill: (s) => pm.kill(s) };
}

const interpreters = [debian, onPath].filter((i): i is Interpreter => typeof i !== 'string').filter((_, n) => n === 0 || !sameInterpreter);

for (const interp of interpreters) {
  test(`pipe → ChannelReader (${interp.executable}): 3 epochs of a RecordIO-wrapped local folder, every record's sha256`, { timeout: 120_000 }, async () => {
    const objects = plainObjects();
    const source = tmp('pipemode-py-src-');
    writeFiles(source, objects);
    const base = tmp('pipemode-py-base-');
    writeConfig(base, 'train', 'Pipe', 'RecordIO');
    const pm = await servePipe(['--dir', path.join(base, 'input/data'), '--channel', `train=${source}/`, '--epochs', '3', '--record-wrapper', 'RecordIO']);
    const epochs = epochsOf(await run(interp.command, [DIGEST, base, 'train', 'recordio', '3']));
    const [code] = await pm.done;
    assert.equal(code, 0, pm.stderr());
    const want = keyOrder(objects.keys()).map((n) => sha256(objects.get(n) as Buffer));
    assert.equal(epochs.length, 3);
    for (const e of epochs) {
      assert.equal(e.mode, 'Pipe');
      assert.deepEqual(e.records, want, `epoch ${e.epoch}: every object, in key order, byte for byte`);
    }
    assert.deepEqual(fs.readdirSync(path.join(base, 'input/data')), [], 'no FIFO or error marker left');
  });
}

test('the same files in File mode read as the same records (record_format "object")', { timeout: 60_000 }, async () => {
  const interp = interpreters[0];
  assert.ok(interp !== undefined);
  const objects = plainObjects();
  const base = tmp('pipemode-py-file-');
  writeConfig(base, 'train', 'File');
  writeFiles(path.join(base, 'input/data/train'), objects);
  const epochs = epochsOf(await run(interp.command, [DIGEST, base, 'train', 'object', '3']));
  const want = keyOrder(objects.keys()).map((n) => sha256(objects.get(n) as Buffer));
  assert.deepEqual(epochs.map((e) => [e.mode, e.records]), [0, 1, 2].map(() => ['File', want]));
});

test('SIGTERM to pipe mid-epoch: ChannelReader raises EpochIncompleteError from the .error marker', { timeout: 120_000 }, async () => {
  const interp = interpreters[0];
  assert.ok(interp !== undefined);
  const source = tmp('pipemode-py-big-');
  const payloads = Array.from({ length: 48 }, () => randomBytes(1 << 20));
  fs.writeFileSync(path.join(source, 'big.rec'), Buffer.concat(payloads.map(frame)));
  const base = tmp('pipemode-py-sig-');
  writeConfig(base, 'train', 'Pipe');
  const pm = await servePipe(['--dir', path.join(base, 'input/data'), '--channel', `train=${source}/`, '--memory-budget', '4MiB', '--part-size', '1MiB']);
  const reader = run(interp.command, [DIGEST, base, 'train', 'recordio', '1', '--slow', '--timeout', '20'], ROOT, (line) => {
    if (line.includes('"started"')) pm.kill('SIGTERM');
  });
  const [[code], read] = await Promise.all([pm.done, reader]);
  assert.equal(code, 0, pm.stderr());
  const [epoch] = epochsOf(read);
  assert.ok(epoch !== undefined);
  assert.equal(epoch.error, 'PM_ERR_ABORTED', JSON.stringify(epoch));
  assert.ok(epoch.records.length >= 1 && epoch.records.length < payloads.length, `${epoch.records.length} records before the cut`);
  assert.deepEqual(epoch.records, payloads.slice(0, epoch.records.length).map((p) => sha256(p)), 'what was delivered is a correct prefix');
});

// ---------------------------------------------------------------------------------------------
// PyTorch DataLoader, 2 workers, RecordIO-protobuf from the S3 server (Pipe) and from files (File)

/** An aialgs.data.Record: features {"values": Float32Tensor(values)}, label {"values": Float32Tensor([label])}. */
function protobufRecord(values: readonly number[], label: number): Buffer {
  return encodeProtobufRecord({
    features: { values: { float32Tensor: { values: [...values] } } },
    label: { values: { float32Tensor: { values: [label] } } },
  });
}

/** 9 RecordIO-protobuf objects of 1 to 40 records; returns the objects and every payload's sha256. */
function protobufObjects(): { objects: Map<string, Buffer>; payloads: string[] } {
  const objects = new Map<string, Buffer>();
  const payloads: string[] = [];
  let label = 0;
  for (let o = 0; o < 9; o++) {
    const frames: Buffer[] = [];
    for (let i = 0; i < 1 + ((o * 13) % 40); i++, label++) {
      const payload = protobufRecord([label, label / 3, -label, o], label);
      payloads.push(sha256(payload));
      frames.push(frame(payload));
    }
    objects.set(`part-${o}.pbr`, Buffer.concat(frames));
  }
  return { objects, payloads };
}

test('PyTorch DataLoader(num_workers=2), 3 epochs: Pipe mode from S3 with --fifos-per-channel 2 and File mode see the same records',
  { skip: torchSkip, timeout: 300_000 }, async () => {
    const { objects, payloads } = protobufObjects();
    const bucket = await newBucket('pm-pyreader');
    await putAll(bucket, new Map([...objects].map(([k, v]) => [`data/${k}`, v])));

    const pipeBase = tmp('pipemode-py-torch-pipe-');
    writeConfig(pipeBase, 'train', 'Pipe');
    const pm = await servePipe(['--dir', path.join(pipeBase, 'input/data'), '--channel', `train=s3://${bucket}/data/`, '--epochs', '3',
      '--fifos-per-channel', '2', '--shuffle-seed', '11']);
    const pipeEpochs = epochsOf(await run(DEBIAN_PYTHON, [DIGEST, pipeBase, 'train', 'recordio', '3', '--torch-workers', '2']));
    const [code] = await pm.done;
    assert.equal(code, 0, pm.stderr());

    const fileBase = tmp('pipemode-py-torch-file-');
    writeConfig(fileBase, 'train', 'File');
    writeFiles(path.join(fileBase, 'input/data/train'), objects);
    const fileEpochs = epochsOf(await run(DEBIAN_PYTHON, [DIGEST, fileBase, 'train', 'recordio', '3', '--torch-workers', '2']));

    const want = counts(payloads);
    assert.equal(pipeEpochs.length, 3);
    assert.equal(fileEpochs.length, 3);
    for (let n = 0; n < 3; n++) {
      assert.deepEqual(counts(pipeEpochs[n]?.records ?? []), want, `Pipe mode, epoch ${n}: every record exactly once`);
      assert.deepEqual(counts(fileEpochs[n]?.records ?? []), want, `File mode, epoch ${n}: every record exactly once`);
    }
    assert.deepEqual(fs.readdirSync(path.join(pipeBase, 'input/data')), []);
  });

// ---------------------------------------------------------------------------------------------
// installation: `pip install ./readers/python` offline (no index), then import and read

for (const interp of interpreters) {
  const hasPip = spawnSync(interp.command, ['-m', 'pip', '--version'], { encoding: 'utf8' }).status === 0;
  test(`pip installs readers/python offline under ${interp.executable}`, { skip: hasPip ? false : `no pip for ${interp.executable}`, timeout: 120_000 }, async () => {
    const target = fs.mkdtempSync(path.join(os.tmpdir(), 'pipemode-pip-'));
    const install = await run(interp.command, ['-m', 'pip', 'install', '-q', '--no-index', '--target', target, PYTHON_DIR], os.tmpdir());
    assert.equal(install.code, 0, install.stderr);
    const check = spawnSync(interp.command, ['-c', 'import pipemode, sys; print(pipemode.__file__); print(hasattr(pipemode, "ChannelReader"))'], {
      cwd: os.tmpdir(), encoding: 'utf8', env: { ...process.env, PYTHONPATH: target },
    });
    assert.equal(check.status, 0, check.stderr);
    assert.equal(check.stdout.trim().split('\n')[0], path.join(fs.realpathSync(target), 'pipemode', '__init__.py'));
    assert.equal(check.stdout.trim().split('\n')[1], 'True');
  });
}
