/**
 * Issue 11, the data-path holes: pipemode killed mid-epoch, files rewritten in place while they
 * are sent, File mode's temporary names, two writers on one folder, restarts after a crash, a
 * trainer's `setsid` child, and `<ch>_N+1` existing before `<ch>_N` ends. Real CLI, real FIFOs,
 * real processes; every data check compares bytes (sha256).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { resolveChannel } from '../../src/channel/channel-spec.js';
import { downloadChannel } from '../../src/download/download-channel.js';
import { DEFAULT_RETRY_POLICY } from '../../src/storage/retry.js';
import { Stores } from '../../src/storage/stores.js';
import { ChannelStream } from '../../src/stream/channel-stream.js';
import { Prng } from '../../src/plan/prng.js';
import { runPipemode, sha256, startPipemode } from '../helpers/cli.js';

const MiB = 1 << 20;

function workdir(): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), 'pipemode-hard-'));
}

function writeFiles(root: string, files: Map<string, Buffer>): void {
  for (const [k, body] of files) {
    fs.mkdirSync(path.dirname(path.join(root, k)), { recursive: true });
    fs.writeFileSync(path.join(root, k), body);
  }
}

/** A marker file's identity, as readers snapshot it before opening a FIFO. */
function identity(file: string): string | undefined {
  try {
    const st = fs.statSync(file);
    return `${st.ino}:${st.size}:${st.mtimeMs}`;
  } catch {
    return undefined;
  }
}

async function waitFor(what: string, ok: () => boolean, ms = 10_000): Promise<void> {
  for (const end = Date.now() + ms; !ok(); await sleep(10)) if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
}

/** Reads a FIFO to EOF as a reader would; `onBytes` sees the running count. */
async function readFifo(fifo: string, onBytes: (n: number) => void = () => {}): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let n = 0;
  for await (const chunk of fs.createReadStream(fifo, { highWaterMark: 64 * 1024 })) {
    chunks.push(chunk as Buffer);
    n += (chunk as Buffer).length;
    onBytes(n);
  }
  return Buffer.concat(chunks);
}

function exited(child: ChildProcess): Promise<number | null> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) resolve(child.exitCode);
    else child.once('exit', (code) => resolve(code));
  });
}

function stderrOf(child: ChildProcess): () => string {
  let err = '';
  child.stderr?.on('data', (d: Buffer) => (err += d.toString()));
  return () => err;
}

test('item 1: pipemode pipe killed with SIGKILL at random points of an epoch never reads as a complete epoch', { timeout: 120_000 }, async () => {
  const dir = workdir();
  const src = path.join(dir, 'src');
  const files = new Map(Array.from({ length: 4 }, (_, i) => [`obj-${i}.bin`, randomBytes(2 * MiB + i * 4099)] as const));
  writeFiles(src, files);
  const whole = sha256(Buffer.concat([...files.values()]));
  const total = [...files.values()].reduce((n, b) => n + b.length, 0);
  const prng = new Prng(11n, 1);
  let markers = 0;
  for (let round = 0; round < 6; round++) {
    const fifoDir = path.join(dir, `fifo-${round}`);
    const zeroCopy = round % 2 === 0;
    const pm = startPipemode(['pipe', '--dir', fifoDir, '--channel', `train=${src}/`, '--epochs', '3', ...(zeroCopy ? [] : ['--no-zero-copy'])]);
    const fifo = path.join(fifoDir, 'train_0');
    await waitFor('train_0', () => fs.existsSync(fifo));
    const before = identity(`${fifo}.error`);
    const killAt = prng.below(total);
    let killed = false;
    const got = await readFifo(fifo, (n) => {
      if (!killed && n >= killAt) {
        killed = true;
        pm.kill('SIGKILL');
      }
    });
    await exited(pm);
    const marker = identity(`${fifo}.error`);
    const failed = marker !== undefined && marker !== before;
    if (failed) {
      markers++;
      assert.equal((JSON.parse(fs.readFileSync(`${fifo}.error`, 'utf8')) as { code: string }).code, 'PM_ERR_WRITER_DIED');
    } else {
      assert.equal(sha256(got), whole, `round ${round} (zero-copy ${zeroCopy}): killed after ${killAt} bytes, the reader saw a clean EOF after ${got.length} of ${total} bytes`);
    }
  }
  assert.ok(markers >= 3, `most kills land mid-epoch (${markers} of 6 did)`);
});

const SLOW_TRAINER = `
import hashlib, os, sys, time
fifo = os.path.join(os.environ["SM_INPUT_DIR"], "data", "train_0")
out, threshold = sys.argv[1], int(sys.argv[2])
h = hashlib.sha256(); n = 0
with open(fifo, "rb", buffering=0) as f:
    while True:
        b = f.read(64 * 1024)
        if not b:
            break
        h.update(b); n += len(b)
        if n < threshold:
            time.sleep(0.002)
        elif not os.path.exists(out + ".kill"):
            open(out + ".kill", "w").close()  # the test kills pipemode now; read on at full speed
with open(out, "w") as f:
    f.write("%d %s" % (n, h.hexdigest()))
`;

test('item 1: pipemode train killed with SIGKILL mid-epoch: the trainer is killed before it can see EOF', { timeout: 180_000 }, async () => {
  const dir = workdir();
  const src = path.join(dir, 'src');
  const files = new Map(Array.from({ length: 4 }, (_, i) => [`obj-${i}.bin`, randomBytes(2 * MiB)] as const));
  writeFiles(src, files);
  const whole = sha256(Buffer.concat([...files.values()]));
  const trainer = path.join(dir, 'slow.py');
  fs.writeFileSync(trainer, SLOW_TRAINER);
  const prng = new Prng(11n, 2);
  for (let round = 0; round < 3; round++) {
    const out = path.join(dir, `result-${round}`);
    const job = path.join(dir, `job-${round}.json`);
    fs.writeFileSync(job, JSON.stringify({
      TrainingJobName: `killed-${round}`,
      AlgorithmSpecification: { TrainingInputMode: 'Pipe', ContainerEntrypoint: ['python3', trainer], ContainerArguments: [out, String(MiB + prng.below(6 * MiB))] },
      InputDataConfig: [{ ChannelName: 'train', DataSource: { S3DataSource: { S3DataType: 'S3Prefix', S3Uri: `${src}/` } } }],
      OutputDataConfig: { S3OutputPath: path.join(dir, 'out') },
    }));
    const pm = startPipemode(['train', job, '--jobs-dir', path.join(dir, 'jobs')]);
    await waitFor('the trainer', () => fs.existsSync(`${out}.kill`), 30_000);
    pm.kill('SIGKILL');
    await exited(pm);
    await sleep(1500);
    if (fs.existsSync(out)) {
      const [n, digest] = fs.readFileSync(out, 'utf8').split(' ');
      assert.equal(digest, whole, `round ${round}: the trainer recorded "epoch done" after ${n} of ${8 * MiB} bytes`);
    }
  }
});

test('item 2: a local file rewritten in place while it is sent (same inode and size) fails with PM_ERR_OBJECT_CHANGED', { timeout: 60_000 }, async () => {
  for (const zeroCopy of [true, false]) {
    const dir = workdir();
    const src = path.join(dir, 'src');
    const files = new Map(Array.from({ length: 4 }, (_, i) => [`obj-${i}.bin`, randomBytes(4 * MiB)] as const));
    writeFiles(src, files);
    const original = Buffer.concat([...files.values()]);
    const fifoDir = path.join(dir, 'fifo');
    const pm = startPipemode(['pipe', '--dir', fifoDir, '--channel', `train=${src}/`, '--epochs', '1', '--memory-budget', '4M', '--part-size', '1M',
      ...(zeroCopy ? [] : ['--no-zero-copy'])]);
    const err = stderrOf(pm);
    const fifo = path.join(fifoDir, 'train_0');
    await waitFor('train_0', () => fs.existsSync(fifo));
    const stream = fs.createReadStream(fifo, { highWaterMark: 64 * 1024 });
    const chunks: Buffer[] = [];
    let n = 0;
    let rewritten = false;
    for await (const chunk of stream) {
      chunks.push(chunk as Buffer);
      n += (chunk as Buffer).length;
      if (!rewritten && n >= 256 * 1024) {
        rewritten = true;
        stream.pause();
        await sleep(300); // the writer is blocked on the full pipe, in obj-0 / not yet at obj-2
        // obj-0 (being sent): its tail rewritten in place, same inode and size, new mtime
        const fd = fs.openSync(path.join(src, 'obj-0.bin'), 'r+');
        fs.writeSync(fd, randomBytes(MiB), 0, MiB, 3 * MiB);
        fs.closeSync(fd);
        if (!zeroCopy) rewriteKeepingMtime(path.join(src, 'obj-2.bin'));
        stream.resume();
      }
    }
    const got = Buffer.concat(chunks);
    const code = await exited(pm);
    if (code === 0) {
      // only acceptable if every byte delivered is the listed content
      assert.equal(sha256(got), sha256(original), `zero-copy ${zeroCopy}: exit 0 with rewritten bytes`);
    }
    assert.equal(code, 4, `zero-copy ${zeroCopy}: ${err()}`);
    assert.match(err(), /PM_ERR_OBJECT_CHANGED/);
    assert.equal((JSON.parse(fs.readFileSync(`${fifo}.error`, 'utf8')) as { code: string }).code, 'PM_ERR_OBJECT_CHANGED');
  }
});

/** Rewrites a file in place and sets its mtime back to the nanosecond: only its ctime changes. */
function rewriteKeepingMtime(file: string): void {
  const st = fs.statSync(file, { bigint: true });
  fs.writeFileSync(file, randomBytes(Number(st.size)), { flag: 'r+' });
  const ns = st.mtimeNs % 1_000_000_000n;
  execFileSync('touch', ['-m', '-d', `@${st.mtimeNs / 1_000_000_000n}.${String(ns).padStart(9, '0')}`, file]);
  assert.equal(fs.statSync(file, { bigint: true }).mtimeNs, st.mtimeNs);
}

test('item 2: File mode: a local file rewritten in place after it was listed (mtime set back) fails the download', async () => {
  const dir = workdir();
  const src = path.join(dir, 'src');
  writeFiles(src, new Map([['a.bin', randomBytes(MiB)], ['b.bin', randomBytes(MiB)]]));
  const stores = new Stores();
  const spec = resolveChannel({ ChannelName: 'train', DataSource: { S3DataSource: { S3DataType: 'S3Prefix', S3Uri: `${src}/` } } });
  const stream = await ChannelStream.open(spec, stores, { partSize: MiB, maxRequests: 4, memoryBudget: 16 * MiB, retry: DEFAULT_RETRY_POLICY }, { hostRank: 0, hostCount: 1 });
  await sleep(20);
  rewriteKeepingMtime(path.join(src, 'b.bin'));
  await assert.rejects(downloadChannel(stream, path.join(dir, 'data', 'train'), { concurrency: 2, retry: DEFAULT_RETRY_POLICY }), { code: 'PM_ERR_OBJECT_CHANGED' });
  stores.close();
});

test('item 3: File mode: objects t/x and t/x.pipemode-tmp both arrive with their own bytes; nothing is staged inside the channel folder', async () => {
  const dir = workdir();
  const src = path.join(dir, 'src');
  const files = new Map([
    ['t/x', randomBytes(3 * MiB)], ['t/x.pipemode-tmp', randomBytes(2 * MiB)], ['t/x.pipemode-tmp.pipemode-tmp', randomBytes(1000)],
    ['t/.pipemode~staging-train', randomBytes(100)],
  ]);
  writeFiles(src, files);
  const stores = new Stores();
  const spec = resolveChannel({ ChannelName: 'train', DataSource: { S3DataSource: { S3DataType: 'S3Prefix', S3Uri: `${src}/t/` } } });
  const stream = await ChannelStream.open(spec, stores, { partSize: MiB, maxRequests: 4, memoryBudget: 16 * MiB, retry: DEFAULT_RETRY_POLICY }, { hostRank: 0, hostCount: 1 });
  const data = path.join(dir, 'data');
  await downloadChannel(stream, path.join(data, 'train'), { concurrency: 4, retry: DEFAULT_RETRY_POLICY });
  stores.close();
  for (const [key, body] of files) assert.equal(sha256(fs.readFileSync(path.join(data, 'train', key.slice(2)))), sha256(body), key);
  assert.deepEqual(fs.readdirSync(path.join(data, 'train')).sort(), [...files.keys()].map((k) => k.slice(2)).sort());
  assert.deepEqual(fs.readdirSync(data), ['train'], 'the staging folder is gone');
});

test('item 4: a second pipemode pipe on the same folder is refused with PM_ERR_LOCKED naming the holder; the first serves intact bytes', { timeout: 60_000 }, async () => {
  const dir = workdir();
  const a = randomBytes(3 * MiB);
  const b = randomBytes(3 * MiB);
  writeFiles(dir, new Map([['a/data.bin', a], ['b/data.bin', b]]));
  const fifoDir = path.join(dir, 'fifo');
  const first = startPipemode(['pipe', '--dir', fifoDir, '--channel', `train=${dir}/a/`, '--epochs', '1']);
  await waitFor('train_0', () => fs.existsSync(path.join(fifoDir, 'train_0')));
  const second = await runPipemode(['pipe', '--dir', fifoDir, '--channel', `train=${dir}/b/`, '--epochs', '1']);
  assert.equal(second.code, 5, second.stderr);
  assert.match(second.stderr, /PM_ERR_LOCKED/);
  assert.match(second.stderr, new RegExp(`pid ${first.pid}\\b`));
  assert.equal(sha256(await readFifo(path.join(fifoDir, 'train_0'))), sha256(a));
  assert.equal(await exited(first), 0);
  // the lock goes with its holder, even a killed one
  const third = startPipemode(['pipe', '--dir', fifoDir, '--channel', `train=${dir}/b/`, '--epochs', '1']);
  await waitFor('train_0', () => fs.existsSync(path.join(fifoDir, 'train_0')));
  third.kill('SIGKILL');
  await exited(third);
  await waitFor('the guardian to clean up', () => !fs.existsSync(path.join(fifoDir, 'train_0')));
  const fourth = startPipemode(['pipe', '--dir', fifoDir, '--channel', `train=${dir}/b/`, '--epochs', '1']);
  await waitFor('train_0', () => fs.existsSync(path.join(fifoDir, 'train_0')));
  assert.equal(sha256(await readFifo(path.join(fifoDir, 'train_0'))), sha256(b));
  assert.equal(await exited(fourth), 0);
});

test('item 5: a restart releases a reader blocked on a FIFO a killed run left behind, and removes old markers', { timeout: 60_000 }, async () => {
  const dir = workdir();
  const body = randomBytes(2 * MiB);
  writeFiles(dir, new Map([['src/data.bin', body]]));
  const fifoDir = path.join(dir, 'fifo');
  fs.mkdirSync(fifoDir);
  // what a killed run (with no guardian to clean up) leaves: a FIFO with a reader blocked on it,
  // and an old marker of an epoch the new run will serve
  execMkfifo(path.join(fifoDir, 'train_0'));
  fs.writeFileSync(path.join(fifoDir, 'train_1.error'), '{"code":"PM_ERR_TRANSIENT","message":"old"}\n');
  const stale = spawn('python3', ['-c', 'import sys; d = open(sys.argv[1], "rb").read(); print(len(d))', path.join(fifoDir, 'train_0')], { stdio: ['ignore', 'pipe', 'inherit'] });
  let staleOut = '';
  stale.stdout.on('data', (d: Buffer) => (staleOut += d.toString()));
  await sleep(300);
  const pm = startPipemode(['pipe', '--dir', fifoDir, '--channel', `train=${dir}/src/`, '--epochs', '2']);
  const staleCode = await Promise.race([exited(stale), sleep(10_000).then(() => 'hung')]);
  assert.equal(staleCode, 0, 'the stale reader was released');
  assert.equal(staleOut.trim(), '0');
  assert.ok(!fs.existsSync(path.join(fifoDir, 'train_1.error')), 'the old marker of epoch 1 is gone');
  for (const epoch of [0, 1]) {
    const fifo = path.join(fifoDir, `train_${epoch}`);
    await waitFor(`train_${epoch}`, () => fs.existsSync(fifo));
    assert.equal(sha256(await readFifo(fifo)), sha256(body));
  }
  assert.equal(await exited(pm), 0);
  await sleep(2500);
  assert.deepEqual(fs.readdirSync(fifoDir), [], 'the release marker is removed once its reader has seen it');
});

function execMkfifo(file: string): void {
  const r = spawn('mkfifo', ['-m', '600', file]);
  // synchronous enough for a test: wait for it
  const deadline = Date.now() + 5000;
  while (!fs.existsSync(file) && Date.now() < deadline) Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 10);
  r.unref();
}

test('item 8: a trainer\'s setsid child does not outlive the job', { timeout: 60_000 }, async () => {
  const dir = workdir();
  const pidFile = path.join(dir, 'sleeper.pid');
  const trainer = path.join(dir, 'fork.py');
  fs.writeFileSync(trainer, `
import subprocess, sys
p = subprocess.Popen(["setsid", "sleep", "600"], start_new_session=True)
open(sys.argv[1], "w").write(str(p.pid))
`);
  writeFiles(dir, new Map([['src/a.bin', randomBytes(1000)]]));
  const job = path.join(dir, 'job.json');
  fs.writeFileSync(job, JSON.stringify({
    TrainingJobName: 'setsid-child',
    AlgorithmSpecification: { TrainingInputMode: 'File', ContainerEntrypoint: ['python3', trainer], ContainerArguments: [pidFile] },
    InputDataConfig: [{ ChannelName: 'train', DataSource: { S3DataSource: { S3DataType: 'S3Prefix', S3Uri: `${dir}/src/` } } }],
    OutputDataConfig: { S3OutputPath: path.join(dir, 'out') },
  }));
  const r = await runPipemode(['train', job, '--jobs-dir', path.join(dir, 'jobs')]);
  assert.equal(r.code, 0, r.stderr);
  const pid = Number(fs.readFileSync(pidFile, 'utf8'));
  const alive = (): boolean => {
    try {
      const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
      return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
    } catch {
      return false;
    }
  };
  await waitFor('the sleeper to die', () => !alive(), 3000).catch(() => {});
  const wasAlive = alive();
  if (wasAlive) process.kill(pid, 'SIGKILL');
  assert.ok(!wasAlive, `the setsid sleeper (pid ${pid}) outlived the job`);
});

const NEXT_READER = `
import hashlib, os, sys, time
d, epochs = sys.argv[1], int(sys.argv[2])
for n in range(epochs):
    while not os.path.exists(os.path.join(d, "train_%d" % n)):
        time.sleep(0.001)
    with open(os.path.join(d, "train_%d" % n), "rb", buffering=0) as f:
        h = hashlib.sha256()
        while True:
            b = f.read(1 << 20)
            if not b:
                break
            h.update(b)
    # a trainer that opens the next FIFO right after EOF, without waiting: it must be there
    nxt = n + 1 < epochs and os.path.exists(os.path.join(d, "train_%d" % (n + 1)))
    print(h.hexdigest(), "next" if nxt else "no-next", flush=True)
`;

test('item 12: <ch>_N+1 exists before <ch>_N\'s reader sees EOF', { timeout: 60_000 }, async () => {
  const dir = workdir();
  const body = randomBytes(64 * 1024 + 7);
  writeFiles(dir, new Map([['src/a.bin', body]]));
  const epochs = 20;
  for (const zeroCopy of [true, false]) {
    const fifoDir = path.join(dir, `fifo-${zeroCopy}`);
    const pm = startPipemode(['pipe', '--dir', fifoDir, '--channel', `train=${dir}/src/`, '--epochs', String(epochs), ...(zeroCopy ? [] : ['--no-zero-copy'])]);
    await waitFor('train_0', () => fs.existsSync(path.join(fifoDir, 'train_0')));
    const reader = spawn('python3', ['-c', NEXT_READER, fifoDir, String(epochs)], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    reader.stdout.on('data', (d: Buffer) => (out += d.toString()));
    assert.equal(await exited(reader), 0);
    const lines = out.trim().split('\n');
    assert.equal(lines.length, epochs);
    lines.forEach((line, n) => {
      const [digest, next] = line.split(' ');
      assert.equal(digest, sha256(body), `epoch ${n}`);
      assert.equal(next, n + 1 < epochs ? 'next' : 'no-next', `zero-copy ${zeroCopy}: train_${n + 1} missing when train_${n} ended`);
    });
    assert.equal(await exited(pm), 0);
    assert.ok(!fs.existsSync(path.join(fifoDir, `train_${epochs}`)), 'no FIFO beyond --epochs');
  }
});
