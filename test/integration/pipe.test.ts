/**
 * `pipemode pipe` with real FIFOs and a real Python reader following SageMaker's Pipe-mode reader
 * protocol; its lifecycle on signals; FIFOs nobody opens.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { once } from 'node:events';
import { waitForPath } from '../../src/reader/wait-for-path.js';
import { ROOT, startPipemode, sha256 } from '../helpers/cli.js';
import { expectedStream, makeContents, writeLocal, writeS3 } from '../helpers/dataset.js';
import { recordDigests } from '../helpers/recordio.js';

const READER = path.join(ROOT, 'test/fixtures/pipe_reader.py');
const contents = makeContents();

interface EpochRead { channel: string; epoch: number; bytes: number; sha256: string; mode: string; error: string | null }

function runReader(dir: string, plan: [string, number, number | null][]): Promise<EpochRead[]> {
  return new Promise((resolve, reject) => {
    const child = spawn('python3', [READER, dir, JSON.stringify(plan)], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => (code === 0 ? resolve(out.trim().split('\n').map((l) => JSON.parse(l) as EpochRead)) : reject(new Error(`reader exited ${code}`))));
  });
}

function tmpDir(): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), 'pipemode-fifo-'));
}

test('a Python reader reads three epochs of two channels (local and S3), closing one early', async () => {
  const local = writeLocal(contents);
  const remote = await writeS3(contents);
  const dir = tmpDir();
  const pm = startPipemode(['pipe', '--dir', dir, '--channel', `train=${local.raw}`, '--channel', `val=${remote.raw}`,
    '--epochs', '3', '--shuffle-seed', '77', '--record-wrapper', 'RecordIO', '--part-size', '1MiB', '--memory-budget', '4MiB']);
  const closed = once(pm, 'close');
  let stderr = '';
  pm.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
  const reads = await runReader(dir, [['train', 0, null], ['val', 0, null], ['train', 1, 5000], ['val', 1, null], ['val', 2, null], ['train', 2, null]]);
  const [code] = await closed as [number];
  assert.equal(code, 0, stderr);
  for (const r of reads) {
    const want = expectedStream(contents, { dataType: 'S3Prefix', gzip: false, recordio: true, seed: 77n, epoch: r.epoch, hostRank: 0, hostCount: 1 });
    if (r.channel === 'train' && r.epoch === 1) {
      assert.equal(r.bytes, 5000);
      assert.equal(r.sha256, sha256(want.subarray(0, 5000)));
    } else {
      assert.equal(r.sha256, sha256(want), `${r.channel}_${r.epoch}`);
      assert.equal(r.error, null);
    }
    assert.equal(r.mode, '0o600');
  }
  assert.notEqual(reads[0]?.sha256, reads[5]?.sha256, 'epochs are reshuffled');
  assert.deepEqual(fs.readdirSync(dir), [], 'every FIFO is removed when its epoch is done');
  assert.match(stderr, /train_1: .*reader closed early/);
});

test('<ch>_0 exists when pipe reports ready; SIGTERM removes the FIFOs and exits 0', async () => {
  const dir = tmpDir();
  const pm = startPipemode(['pipe', '--dir', dir, '--channel', `a=${writeLocal(contents).raw}`, '--channel', `b=${writeLocal(contents).raw}`]);
  await waitForPath(path.join(dir, 'a_0'), 12_000);
  await waitForPath(path.join(dir, 'b_0'), 12_000);
  assert.ok(fs.statSync(path.join(dir, 'a_0')).isFIFO());
  const started = Date.now();
  pm.kill('SIGTERM');
  const [code] = await once(pm, 'close') as [number];
  assert.equal(code, 0);
  assert.ok(Date.now() - started < 3000, 'exits promptly');
  assert.deepEqual(fs.readdirSync(dir), []);
});

test('SIGTERM mid-epoch: the reader finds an error marker next to its EOF', async () => {
  const dir = tmpDir();
  const big = fs.mkdtempSync(path.join(os.tmpdir(), 'pipemode-big-'));
  fs.writeFileSync(path.join(big, 'big.bin'), Buffer.alloc(64 << 20, 7));
  const pm = startPipemode(['pipe', '--dir', dir, '--channel', `t=${big}/`]);
  await waitForPath(path.join(dir, 't_0'), 12_000);
  const fd = fs.openSync(path.join(dir, 't_0'), 'r');
  const buf = Buffer.alloc(1 << 16);
  fs.readSync(fd, buf); // attached and reading: the epoch is in progress
  pm.kill('SIGTERM');
  await once(pm, 'close');
  while (fs.readSync(fd, buf) > 0); // drain to EOF
  fs.closeSync(fd);
  const marker = JSON.parse(fs.readFileSync(path.join(dir, 't_0.error'), 'utf8')) as { code: string };
  assert.equal(marker.code, 'PM_ERR_ABORTED');
});

test('FIFOs nobody opens block neither the process nor its exit (more channels than libuv threads)', async () => {
  const dir = tmpDir();
  const src = writeLocal(contents).raw;
  const channels = Array.from({ length: 8 }, (_, i) => ['--channel', `c${i}=${src}`]).flat();
  const pm = startPipemode(['pipe', '--dir', dir, ...channels]);
  for (let i = 0; i < 8; i++) await waitForPath(path.join(dir, `c${i}_0`), 12_000);
  // the last channel is still served while the other 7 wait: read it
  const reads = await runReader(dir, [['c7', 0, null]]);
  assert.equal(reads[0]?.sha256, sha256(expectedStream(contents, { dataType: 'S3Prefix', gzip: false, recordio: false, seed: undefined, epoch: 0, hostRank: 0, hostCount: 1 })));
  pm.kill('SIGINT');
  const [code] = await once(pm, 'close') as [number];
  assert.equal(code, 0);
  assert.deepEqual(fs.readdirSync(dir), []);
});

test('--fifos-per-channel 3: three readers get disjoint shares that together are the whole epoch', async () => {
  const dir = tmpDir();
  const src = await writeS3(contents);
  const pm = startPipemode(['pipe', '--dir', dir, '--channel', `train=${src.raw}`, '--fifos-per-channel', '3', '--epochs', '2',
    '--shuffle-seed', '3', '--record-wrapper', 'RecordIO', '--part-size', '1MiB', '--memory-budget', '6MiB']);
  const closed = once(pm, 'close');
  for (const epoch of [0, 1]) {
    // each part read by its own process, all at once, as DataLoader workers would
    const parts = await Promise.all([0, 1, 2].map(async (k) => {
      const file = path.join(dir, `train_${epoch}_${k}`);
      await waitForPath(file, 12_000);
      return fs.promises.readFile(file);
    }));
    const all = parts.flatMap(recordDigests).sort();
    assert.deepEqual(all, [...contents.values()].map((b) => sha256(b)).sort(), `epoch ${epoch}`);
    assert.ok(parts.every((p) => p.length > 0));
  }
  const [code] = await closed as [number];
  assert.equal(code, 0);
  assert.deepEqual(fs.readdirSync(dir), []);
});
