/**
 * The socket → FIFO splice path (pipe/splice-http.ts) end to end: `pipemode cat` of a real Ceph
 * RGW prefix into a real FIFO, through the fault-injecting proxy. Every run checks which path ran
 * (PIPEMODE_REPORT_PATH) and compares the bytes (sha256): connection resets and short bodies
 * mid-splice resume at the first byte not yet in the pipe, error statuses are retried, a response
 * of the wrong range fails with a typed error and no wrong byte, and PIPEMODE_SPLICE_HTTP=0 takes
 * the copying path with the same bytes.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { runPipemodeIntoFifo, sha256 } from '../helpers/cli.js';
import { catArgs, expectedStream, makeContents, writeS3, type Combination } from '../helpers/dataset.js';
import { startFaultProxy, type Fault, type ProxiedRead } from '../helpers/fault-proxy.js';
import { s3Endpoint } from '../helpers/s3.js';

const contents = makeContents();
const plain: Combination = { dataType: 'S3Prefix', gzip: false, recordio: false, seed: undefined, epoch: 0, hostRank: 0, hostCount: 1 };
const recordio: Combination = { ...plain, recordio: true };

async function withProxy<T>(decide: (r: ProxiedRead) => Fault | undefined, run: (url: string, reads: ProxiedRead[], injected: Record<string, number>, maxOutstanding: () => number) => Promise<T>): Promise<T> {
  const proxy = await startFaultProxy(s3Endpoint(), { decide });
  try {
    return await run(proxy.url, proxy.reads, proxy.injected, proxy.maxOutstanding);
  } finally {
    await proxy.close();
  }
}

test('splice path: bytes exact, with RecordIO framing too; the copying path gives the same bytes', async () => {
  const ds = await writeS3(contents);
  for (const c of [plain, recordio]) {
    const r = await runPipemodeIntoFifo(catArgs(ds, c), process.env);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /path: splice \(0 files, \d+ http objects: \d+ GETs, 0 retries, \d+ bytes spliced from sockets in \d+ splices, 0 copied\)/);
    assert.equal(sha256(r.stdout), sha256(expectedStream(contents, c)));
  }
  const copy = await runPipemodeIntoFifo(catArgs(ds, plain), { ...process.env, PIPEMODE_SPLICE_HTTP: '0' });
  assert.equal(copy.code, 0, copy.stderr);
  assert.match(copy.stderr, /path: copy/);
  assert.equal(sha256(copy.stdout), sha256(expectedStream(contents, plain)));
});

test('splice path: a reset and a short body mid-splice and a 503 are resumed; the bytes are exact', async () => {
  const ds = await writeS3(contents);
  await withProxy((r) => {
    if (r.path.includes('big.bin') && r.nth === 1) return { kind: 'reset', afterBytes: 300_000 };
    if (r.path.includes('big.bin') && r.nth === 2) return { kind: 'truncate', afterBytes: 123_457 };
    if (r.path.includes('plain') && r.nth === 1) return { kind: 'status', status: 503, code: 'SlowDown' };
    return undefined;
  }, async (url, reads, injected) => {
    const r = await runPipemodeIntoFifo(catArgs(ds, plain), { ...process.env, AWS_ENDPOINT_URL_S3: url });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(sha256(r.stdout), sha256(expectedStream(contents, plain)));
    assert.equal(injected.reset, 1);
    assert.equal(injected.truncate, 1);
    const path = /path: splice \(.* (\d+) retries, (\d+) bytes spliced from sockets in \d+ splices, 0 copied\)/.exec(r.stderr);
    assert.ok(path !== null, r.stderr);
    assert.ok(Number(path[1]) >= 3, r.stderr);
    // the resumed reads start where the pipe stopped, not at a part boundary
    const resumed = reads.filter((x) => x.path.includes('big.bin') && Number(/bytes=(\d+)-/.exec(x.range)?.[1]) % (1 << 20) !== 0);
    assert.equal(resumed.length, 2, JSON.stringify(reads.filter((x) => x.path.includes('big.bin'))));
  });
});

test('splice path: a response for the wrong range fails with a typed error, never wrong bytes', async () => {
  const ds = await writeS3(contents);
  await withProxy((r) => (r.path.includes('big.bin') && r.nth === 1 ? { kind: 'bad-range' } : undefined), async (url) => {
    const r = await runPipemodeIntoFifo(catArgs(ds, plain), { ...process.env, AWS_ENDPOINT_URL_S3: url });
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /PM_ERR_STORE_PROTOCOL|asked for bytes/);
    const want = expectedStream(contents, plain);
    // what arrived is a correct prefix of the stream
    assert.ok(r.stdout.length < want.length);
    assert.equal(sha256(r.stdout), sha256(want.subarray(0, r.stdout.length)));
  });
});

test('splice path: part size, GETs in flight and the memory budget come from the fetch options', async () => {
  const ds = await writeS3(contents);
  const part = 256 * 1024;
  await withProxy(() => undefined, async (url, reads, _injected, maxOutstanding) => {
    // budget 512 KiB / 256 KiB parts: two GETs at a time, although 16 are allowed
    const args = [...catArgs(ds, plain), '--part-size', '256KiB', '--memory-budget', '512KiB', '--max-requests', '16'];
    const r = await runPipemodeIntoFifo(args, { ...process.env, AWS_ENDPOINT_URL_S3: url });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /path: splice/);
    assert.equal(sha256(r.stdout), sha256(expectedStream(contents, plain)));
    const big = reads.filter((x) => x.path.includes('big.bin'));
    assert.equal(big.length, Math.ceil((3.5 * 2 ** 20 + 3) / part), JSON.stringify(big));
    for (const x of reads) {
      const m = /bytes=(\d+)-(\d+)/.exec(x.range);
      assert.ok(m !== null && Number(m[2]) - Number(m[1]) + 1 <= part, x.range);
    }
    assert.ok(maxOutstanding() <= 2, `${maxOutstanding()} GETs outstanding at once`);
  });
});
