/**
 * Transient and permanent store failures through a fault-injecting proxy in front of the real
 * Ceph RGW, streamed by the real CLI: retried failures leave the bytes identical (sha256), a
 * changed object fails with a typed error and never yields wrong bytes.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DeleteObjectCommand } from '@aws-sdk/client-s3';
import { runPipemode, sha256 } from '../helpers/cli.js';
import { catArgs, expectedStream, makeContents, writeS3, type Combination } from '../helpers/dataset.js';
import { startFaultProxy } from '../helpers/fault-proxy.js';
import { put, s3, s3Endpoint } from '../helpers/s3.js';

const contents = makeContents();
const plain: Combination = { dataType: 'S3Prefix', gzip: false, recordio: false, seed: undefined, epoch: 0, hostRank: 0, hostCount: 1 };
const want = expectedStream(contents, plain);
const env = (url: string): NodeJS.ProcessEnv => ({ ...process.env, AWS_ENDPOINT_URL_S3: url });

test('503 SlowDown, connection resets and truncated bodies are retried: the bytes are exact', async () => {
  const ds = await writeS3(contents);
  const proxy = await startFaultProxy(s3Endpoint(), {
    decide: (r) => {
      if (r.nth === 1) return { kind: 'status', status: 503, code: 'SlowDown' };
      if (r.nth === 2 && r.path.includes('big.bin')) return { kind: 'reset', afterBytes: 300_000 };
      if (r.nth === 3 && r.path.includes('big.bin')) return { kind: 'truncate', afterBytes: 123_457 };
      if (r.nth === 2 && r.path.includes('plain')) return { kind: 'status', status: 500, code: 'InternalError' };
      return undefined;
    },
  });
  try {
    const r = await runPipemode([...catArgs(ds, plain), '-v'], { env: env(proxy.url) });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(sha256(r.stdout), sha256(want));
    assert.ok((proxy.injected.status ?? 0) >= 10 && proxy.injected.reset === 1 && proxy.injected.truncate === 1, JSON.stringify(proxy.injected));
    const retries = Number(/(\d+) retries/.exec(r.stderr)?.[1]);
    assert.equal(retries, (proxy.injected.status ?? 0) + 2);
    // a retried read resumes where the last one stopped, not at the start of its 1 MiB part
    const resumed = proxy.reads.filter((x) => x.path.includes('big.bin') && Number(/bytes=(\d+)-/.exec(x.range)?.[1]) % (1 << 20) !== 0);
    assert.equal(resumed.length, 2, `reads of big.bin resumed mid-part: ${JSON.stringify(proxy.reads.filter((x) => x.path.includes('big.bin')))}`);
  } finally {
    await proxy.close();
  }
});

test('connections closed by the server between requests are replaced transparently', async () => {
  const ds = await writeS3(contents);
  const proxy = await startFaultProxy(s3Endpoint(), { closeAfterEachResponse: true });
  try {
    const r = await runPipemode([...catArgs(ds, plain), '--max-requests', '2'], { env: env(proxy.url) });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(sha256(r.stdout), sha256(want));
  } finally {
    await proxy.close();
  }
});

test('an object overwritten mid-read fails with PM_ERR_OBJECT_CHANGED and only a correct prefix is written', async () => {
  const ds = await writeS3(contents);
  const bucket = new URL(ds.raw.replace('s3://', 'http://')).hostname;
  const proxy = await startFaultProxy(s3Endpoint(), {
    decide: async (r) => {
      if (r.path.includes('big.bin') && r.nth === 2) await put(bucket, 'raw/big.bin', Buffer.from('replaced'));
      return undefined;
    },
  });
  try {
    const r = await runPipemode([...catArgs(ds, plain), '--max-requests', '1'], { env: env(proxy.url) });
    assert.equal(r.code, 4, r.stderr);
    assert.match(r.stderr, /big\.bin changed while it was being read.*\[PM_ERR_OBJECT_CHANGED\]/);
    assert.ok(r.stdout.length < want.length);
    assert.ok(r.stdout.equals(want.subarray(0, r.stdout.length)), 'what was written is a prefix of the right stream');
  } finally {
    await proxy.close();
  }
});

test('an object deleted after listing fails with PM_ERR_NO_SUCH_KEY', async () => {
  const ds = await writeS3(contents);
  const bucket = new URL(ds.raw.replace('s3://', 'http://')).hostname;
  const proxy = await startFaultProxy(s3Endpoint(), {
    decide: async (r) => {
      if (r.path.includes('zero') || !r.path.includes('plain') || r.nth !== 1) return undefined;
      await s3().send(new DeleteObjectCommand({ Bucket: bucket, Key: 'raw/plain a.bin' }));
      return undefined;
    },
  });
  try {
    const r = await runPipemode(catArgs(ds, plain), { env: env(proxy.url) });
    assert.equal(r.code, 3, r.stderr);
    assert.match(r.stderr, /plain a\.bin does not exist.*\[PM_ERR_NO_SUCH_KEY\]/);
  } finally {
    await proxy.close();
  }
});

test('persistent 503s exhaust the retries: exit 4, PM_ERR_RETRIES_EXHAUSTED', async () => {
  const ds = await writeS3(contents);
  const proxy = await startFaultProxy(s3Endpoint(), { decide: () => ({ kind: 'status', status: 503, code: 'SlowDown' }) });
  try {
    const r = await runPipemode([...catArgs(ds, plain), '--max-attempts', '3'], { env: env(proxy.url) });
    assert.equal(r.code, 4, r.stderr);
    assert.match(r.stderr, /gave up reading .* after 3 attempts: .*SlowDown.*\[PM_ERR_RETRIES_EXHAUSTED\]/);
    assert.equal(r.stdout.length, 0);
  } finally {
    await proxy.close();
  }
});

test('wrong credentials: exit 3, PM_ERR_ACCESS_DENIED, and the secret is not printed', async () => {
  const ds = await writeS3(contents);
  const secret = 'definitely-wrong-secret-value';
  const r = await runPipemode(catArgs(ds, plain), { env: { ...process.env, AWS_SECRET_ACCESS_KEY: secret } });
  assert.equal(r.code, 3);
  assert.match(r.stderr, /PM_ERR_ACCESS_DENIED/);
  assert.ok(!r.stderr.includes(secret));
});
