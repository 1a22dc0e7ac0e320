/**
 * The TypeScript reader (`pipemode/reader`) against real FIFOs served by the real CLI: the same
 * records in Pipe mode (local and S3 sources) as in File mode over the same files, reshuffled
 * epochs with the same multiset, early leaving and skipped epochs, split channels, an epoch cut
 * short (pipemode's .error marker), stale markers, and the configuration errors a trainer meets.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { openChannel, type ChannelReader } from 'pipemode/reader';
import { createFifo } from '../../src/pipe/fifo.js';
import { compareKeys } from '../../src/storage/object-store.js';
import { startPipemode, sha256 } from '../helpers/cli.js';
import { makeContents, writeLocal, writeS3 } from '../helpers/dataset.js';

const contents = makeContents();

/** Child processes to kill when the file's tests end, whatever happened (a stuck writer must not outlive them). */
const children: ChildProcess[] = [];
after(() => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
});

/** A SageMaker-style base folder: input/config/inputdataconfig.json and input/data/. */
/** `channels` maps names to TrainingInputMode values as they appear in the file (any case). */
function baseDir(channels: Record<string, string>, recordWrapper = 'None'): string {
  const base = fs.mkdtempSync(path.join(os.tmpdir(), 'pipemode-base-'));
  fs.mkdirSync(path.join(base, 'input', 'config'), { recursive: true });
  fs.mkdirSync(path.join(base, 'input', 'data'), { recursive: true });
  const config = Object.fromEntries(Object.entries(channels).map(([name, mode]) => [name, { TrainingInputMode: mode, S3DistributionType: 'FullyReplicated', RecordWrapperType: recordWrapper }]));
  fs.writeFileSync(path.join(base, 'input', 'config', 'inputdataconfig.json'), JSON.stringify(config));
  return base;
}

async function hashes(records: AsyncIterable<Buffer>): Promise<string[]> {
  const out: string[] = [];
  for await (const r of records) out.push(sha256(r));
  return out;
}

function serve(args: string[]): { done: Promise<void>; stderr: () => string; kill: (s: NodeJS.Signals) => void } {
  const pm = startPipemode(['pipe', ...args]);
  children.push(pm);
  let stderr = '';
  pm.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
  const closed = once(pm, 'close');
  return {
    done: closed.then(([code]) => assert.equal(code, 0, stderr)),
    stderr: () => stderr,
    kill: (s) => pm.kill(s),
  };
}

test('Pipe mode (local and S3 sources, RecordIO-wrapped) gives exactly the records File mode reads from the same files (format "object")', async () => {
  const local = writeLocal(contents);
  const remote = await writeS3(contents);
  const base = baseDir({ train: 'Pipe', val: 'Pipe', files: 'File' }, 'RecordIO');
  const data = path.join(base, 'input', 'data');
  fs.symlinkSync(local.raw, path.join(data, 'files'));
  const pm = serve(['--dir', data, '--channel', `train=${local.raw}`, '--channel', `val=${remote.raw}`, '--epochs', '3',
    '--record-wrapper', 'RecordIO', '--part-size', '1MiB', '--memory-budget', '4MiB']);
  const fileMode = openChannel('files', { format: 'object', baseDir: base });
  assert.equal(fileMode.mode, 'File');
  const want = await hashes(fileMode.epoch(0));
  assert.equal(want.length, contents.size);
  assert.deepEqual([...want].sort(), [...contents.values()].map(sha256).sort());
  const train = openChannel('train', { format: 'object', baseDir: base });
  const val = openChannel('val', { format: 'recordio', baseDir: base }); // the same, said differently
  assert.equal(train.mode, 'Pipe');
  // the two channels read at once, three epochs each
  const [t, v] = await Promise.all([train, val].map(async (ch) => {
    const epochs: string[][] = [];
    for await (const epoch of ch.epochs(3)) epochs.push(await hashes(epoch));
    return epochs;
  }));
  for (const epochs of [t, v]) {
    assert.equal(epochs?.length, 3);
    for (const e of epochs ?? []) assert.deepEqual(e, want, 'same records, same (key) order as File mode');
  }
  assert.deepEqual(await hashes(fileMode.epoch(1)), want, 'File mode reads every file again each epoch');
  await pm.done;
});

test('a shuffled channel gives each epoch the same multiset of records in a new order', async () => {
  const src = writeLocal(contents).raw;
  const base = baseDir({ train: 'pipe' }); // the mode is matched case-insensitively
  const data = path.join(base, 'input', 'data');
  const pm = serve(['--dir', data, '--channel', `train=${src}`, '--epochs', '2', '--shuffle-seed', '11', '--record-wrapper', 'RecordIO']);
  const ch = openChannel('train', { format: 'recordio', baseDir: base });
  const e0 = await hashes(ch.nextEpoch());
  const e1 = await hashes(ch.nextEpoch());
  assert.deepEqual([...e0].sort(), [...contents.values()].map(sha256).sort());
  assert.deepEqual([...e1].sort(), [...e0].sort());
  assert.notDeepEqual(e1, e0);
  await pm.done;
});

test('leaving an epoch early, or not reading it at all, lets pipemode move on to the next', async () => {
  const src = writeLocal(contents).raw;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pipemode-fifo-'));
  const pm = serve(['--dir', dir, '--channel', `c=${src}`, '--epochs', '4', '--record-wrapper', 'RecordIO']);
  const ch = openChannel('c', { format: 'recordio', mode: 'Pipe', path: path.join(dir, 'c') });
  const seen: number[] = [];
  const read: string[][] = [];
  for await (const epoch of ch.epochs(4)) {
    if (epoch.index === 1) continue; // never iterated: skipped for us
    let n = 0;
    const got: string[] = [];
    const records = epoch[Symbol.asyncIterator]();
    for (let r = await records.next(); !r.done; r = await records.next()) {
      got.push(sha256(r.value));
      if (++n === 2 && epoch.index === 2) break;
    }
    await records.return?.();
    seen.push(n);
    read.push(got);
  }
  assert.deepEqual(seen, [contents.size, 2, contents.size]);
  // no shuffle: every epoch is the objects in key order; the early-left epoch is its first two
  const inKeyOrder = [...contents.keys()].sort(compareKeys).map((k) => sha256(contents.get(k) as Buffer));
  assert.deepEqual(read, [inKeyOrder, inKeyOrder.slice(0, 2), inKeyOrder], 'epochs 0 and 3 whole and in order, epoch 2 its first two records');
  await pm.done;
  assert.match(pm.stderr(), /c_1: .*reader closed early/);
  assert.match(pm.stderr(), /c_2: .*reader closed early/);
});

test('a channel split into FIFOs per reader (--fifos-per-channel): the parts together are the epoch, as in File mode', async () => {
  const src = writeLocal(contents).raw;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pipemode-fifo-'));
  const pm = serve(['--dir', dir, '--channel', `c=${src}`, '--epochs', '1', '--fifos-per-channel', '2', '--record-wrapper', 'RecordIO']);
  const parts = await Promise.all([0, 1].map((index) => hashes(openChannel('c', { format: 'object', mode: 'Pipe', path: path.join(dir, 'c'), shard: { index, count: 2 } }).epoch(0))));
  const files = await Promise.all([0, 1].map((index) => hashes(openChannel('c', { format: 'object', mode: 'File', path: src, shard: { index, count: 2 } }).epoch(0))));
  assert.deepEqual(parts, files, 'each part holds the same files in both modes (no shuffle: dealt in key order)');
  assert.deepEqual(parts.flat().sort(), [...contents.values()].map(sha256).sort());
  await pm.done;
});

test('an epoch cut short by pipemode (stopped mid-epoch) is an error at EOF, not a short epoch', async () => {
  const src = fs.mkdtempSync(path.join(os.tmpdir(), 'pipemode-lines-'));
  fs.writeFileSync(path.join(src, 'lines.txt'), 'a line of text\n'.repeat(4 << 20)); // 60 MiB
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pipemode-fifo-'));
  const pm = startPipemode(['pipe', '--dir', dir, '--channel', `t=${src}/`]);
  children.push(pm);
  const ch = openChannel('t', { format: 'lines', mode: 'Pipe', path: path.join(dir, 't') });
  let lines = 0;
  await assert.rejects(async () => {
    for await (const line of ch.epoch(0)) {
      assert.equal(line.toString(), 'a line of text');
      if (++lines === 1) pm.kill('SIGTERM'); // reading: the epoch is in progress
    }
  }, (err: Error & { code?: string }) => {
    assert.equal(err.code, 'PM_ERR_ABORTED');
    assert.match(err.message, /^epoch 0 of channel "t" ended incomplete \(.*t_0\.error\): /);
    return true;
  });
  assert.ok(lines < 4 << 20, 'the lines read before the failure are a strict prefix');
  await once(pm, 'close');
});

test('an error marker written by the writer is reported with its code; a stale one from an earlier run is ignored', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pipemode-fifo-'));
  const writeEpoch = async (name: string, body: string, marker: object | undefined): Promise<void> => {
    const fifo = path.join(dir, name);
    const script = `
      const fs = require('fs');
      const fd = fs.openSync(${JSON.stringify(fifo)}, 'w');
      fs.writeSync(fd, ${JSON.stringify(body)});
      ${marker === undefined ? '' : `fs.writeFileSync(${JSON.stringify(`${fifo}.error`)}, ${JSON.stringify(JSON.stringify(marker))});`}
      fs.closeSync(fd);`;
    createFifo(fifo);
    assert.ok(fs.statSync(fifo).isFIFO());
    children.push(spawn(process.execPath, ['-e', script], { stdio: 'ignore' }));
  };
  const ch: ChannelReader = openChannel('x', { format: 'lines', mode: 'Pipe', path: path.join(dir, 'x') });
  await writeEpoch('x_0', 'one\ntwo\nthr', { code: 'PM_ERR_RETRIES_EXHAUSTED', message: 'gave up reading s3://b/k at byte 7' });
  const got: string[] = [];
  await assert.rejects(async () => {
    for await (const r of ch.epoch(0)) got.push(r.toString());
  }, { code: 'PM_ERR_RETRIES_EXHAUSTED', message: /ended incomplete .*: gave up reading s3:\/\/b\/k at byte 7$/ });
  assert.deepEqual(got, ['one', 'two'], 'complete records first; the cut line is not passed off as a record');
  fs.writeFileSync(path.join(dir, 'x_1.error'), '{"code": "PM_ERR_ABORTED", "message": "from an earlier run"}');
  await writeEpoch('x_1', 'a\nb\n', undefined);
  const epoch1: string[] = [];
  for await (const r of ch.epoch(1)) epoch1.push(r.toString());
  assert.deepEqual(epoch1, ['a', 'b'], 'the stale marker is ignored: the epoch is read whole');
});

test('configuration errors say what is wrong and how to fix it', async () => {
  const base = baseDir({ train: 'Pipe', validation: 'File' });
  assert.throws(() => openChannel('trian', { format: 'recordio', baseDir: base }), {
    code: 'PM_ERR_CONFIG',
    message: /^channel "trian" is not in .*inputdataconfig\.json \(its channels: train, validation\); did you mean "train"\?$/,
  });
  assert.throws(() => openChannel('train', { format: 'recordio', baseDir: path.join(base, 'nowhere') }), {
    code: 'PM_ERR_CONFIG', message: /cannot read the input data config .*pass \{ mode, path \} to openChannel/,
  });
  assert.throws(() => openChannel('train', { format: 'csv' as 'lines', baseDir: base }), { code: 'PM_ERR_CONFIG', message: /format must be one of recordio, tfrecord, protobuf, lines, object, got "csv"/ });
  assert.throws(() => openChannel('train', { format: 'object', baseDir: base }), { code: 'PM_ERR_CONFIG', message: /format "object" in Pipe mode needs RecordWrapperType RecordIO .* the channel has "None"/ });
  const missing = openChannel('train', { format: 'recordio', baseDir: base, fifoTimeoutMs: 100 });
  await assert.rejects(hashes(missing.epoch(0)), { code: 'PM_ERR_FIFO', message: /train_0 did not appear within 0 s/ });
  const controller = new AbortController();
  const waiting = hashes(openChannel('train', { format: 'recordio', baseDir: base, signal: controller.signal }).epoch(0));
  controller.abort();
  await assert.rejects(waiting, { code: 'PM_ERR_ABORTED' });
  await assert.rejects(hashes(openChannel('validation', { format: 'lines', baseDir: base }).epoch(0)), { code: 'PM_ERR_NO_SUCH_KEY', message: /no channel folder/ });
});
