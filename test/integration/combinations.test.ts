/**
 * Every combination of S3DataType × Gzip × RecordIO × shuffle × sharding, from the real Ceph RGW
 * and from a local folder, through the real `pipemode cat`: the sha256 of what it writes must
 * equal the sha256 of the stream computed from first principles (test/helpers/dataset.ts).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { inParallel, runPipemode, runPipemodeIntoFifo, sha256 } from '../helpers/cli.js';
import { recordDigests } from '../helpers/recordio.js';
import {
  catArgs, expectedStream, makeContents, writeLocal, writeS3, type Combination, type DataType, type StoredDataset,
} from '../helpers/dataset.js';

const contents = makeContents();

function combinations(): Combination[] {
  const out: Combination[] = [];
  let i = 0;
  for (const dataType of ['S3Prefix', 'ManifestFile', 'AugmentedManifestFile'] as DataType[]) {
    for (const gzip of [false, true]) {
      for (const recordio of [false, true]) {
        for (const seed of [undefined, 1234567890123n]) {
          for (const sharded of [false, true]) {
            const hostCount = sharded ? 3 : 1;
            out.push({ dataType, gzip, recordio, seed, epoch: seed === undefined ? 0 : 2, hostCount, hostRank: sharded ? i++ % 3 : 0 });
          }
        }
      }
    }
  }
  return out;
}

function label(c: Combination): string {
  return `${c.dataType} gzip=${c.gzip} recordio=${c.recordio} seed=${c.seed ?? '-'} epoch=${c.epoch} host=${c.hostRank}/${c.hostCount}`;
}

async function checkAll(ds: StoredDataset, extra: string[] = [], only: (c: Combination) => boolean = () => true): Promise<void> {
  const failures: string[] = [];
  await inParallel(4, combinations().filter(only).map((c) => async () => {
    const r = await runPipemode([...catArgs(ds, c), ...extra]);
    const want = expectedStream(contents, c);
    if (r.code !== 0) failures.push(`${label(c)}: exit ${r.code}: ${r.stderr}`);
    else if (sha256(r.stdout) !== sha256(want)) failures.push(`${label(c)}: ${r.stdout.length} bytes, want ${want.length}, sha256 differs`);
  }));
  assert.deepEqual(failures, []);
}

test('local folder: all 48 combinations stream exactly the expected bytes', async () => {
  await checkAll(writeLocal(contents));
});

test('local folder without zero-copy into a socket: the 24 combinations that could splice give the same bytes through the prefetcher', async () => {
  await checkAll(writeLocal(contents), ['--no-zero-copy'], (c) => !c.gzip);
});

test('local folder into a FIFO: the 24 combinations the worker thread takes, spliced and (--no-zero-copy) copied, give exactly the expected bytes', async () => {
  const ds = writeLocal(contents);
  const failures: string[] = [];
  for (const [extra, path] of [[[], /path: splice \(\d+ files, 0 http objects\)/], [['--no-zero-copy'], /path: copy on the worker thread \(\d+ files read and written, none spliced\)/]] as const) {
    await inParallel(4, combinations().filter((c) => !c.gzip).map((c) => async () => {
      const r = await runPipemodeIntoFifo([...catArgs(ds, c), ...extra]);
      if (r.code !== 0) failures.push(`${label(c)} ${extra.join(' ')}: exit ${r.code}: ${r.stderr}`);
      else if (!path.test(r.stderr)) failures.push(`${label(c)} ${extra.join(' ')}: not the path ${path}: ${r.stderr}`);
      else if (sha256(r.stdout) !== sha256(expectedStream(contents, c))) failures.push(`${label(c)} ${extra.join(' ')}: ${r.stdout.length} bytes, sha256 differs`);
    }));
  }
  assert.deepEqual(failures, []);
});

test('Ceph RGW: all 48 combinations stream exactly the expected bytes', async () => {
  await checkAll(await writeS3(contents));
});

test('the hosts of a sharded job together stream every object exactly once, local and S3 alike', async () => {
  const local = writeLocal(contents);
  const remote = await writeS3(contents);
  for (const ds of [local, remote]) {
    const shards = await Promise.all([0, 1, 2].map((hostRank) =>
      runPipemode(catArgs(ds, { dataType: 'S3Prefix', gzip: false, recordio: true, seed: 5n, epoch: 1, hostRank, hostCount: 3 }))));
    const whole = await runPipemode(catArgs(ds, { dataType: 'S3Prefix', gzip: false, recordio: true, seed: 5n, epoch: 1, hostRank: 0, hostCount: 1 }));
    const records = (b: Buffer): string[] => recordDigests(b).sort();
    assert.deepEqual(shards.flatMap((s) => records(s.stdout)).sort(), records(whole.stdout), ds.kind);
    assert.equal(records(whole.stdout).length, contents.size);
  }
});

test('S3Prefix is a plain string prefix, for S3 and local folders alike', async () => {
  for (const ds of [writeLocal(contents), await writeS3(contents)]) {
    const r = await runPipemode(['cat', ds.raw.replace(/raw\/$/, 'raw/z')]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(sha256(r.stdout), sha256(contents.get('z-lower.bin') as Buffer), ds.kind);
    const sibling = await runPipemode(['cat', ds.raw.replace(/raw\/$/, 'raw-')]);
    assert.equal(sibling.stdout.toString(), 'not part of raw/', ds.kind);
  }
});
