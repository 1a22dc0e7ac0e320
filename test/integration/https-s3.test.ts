/**
 * S3 over HTTPS (storage/s3/lean-http.ts over tls.connect): `pipemode cat` of a real Ceph RGW
 * prefix through a TLS proxy with a throw-away certificate (and, behind it, the fault proxy). The
 * copying path runs (TLS bodies cannot be spliced), the bytes are exact (sha256), a reset and a
 * short body are resumed, and node:https (PIPEMODE_NODE_HTTPS=1) gives the same bytes; a
 * certificate the client does not trust fails with a typed error.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { BIN, sha256 } from '../helpers/cli.js';
import { catArgs, expectedStream, makeContents, writeS3, type Combination } from '../helpers/dataset.js';
import { startFaultProxy } from '../helpers/fault-proxy.js';
import { s3Endpoint } from '../helpers/s3.js';
import { startTlsProxy } from '../helpers/tls-proxy.js';

const contents = makeContents();
const plain: Combination = { dataType: 'S3Prefix', gzip: false, recordio: false, seed: undefined, epoch: 0, hostRank: 0, hostCount: 1 };

/** Runs `pipemode cat` (asynchronously: the proxies live in this process's event loop). */
async function cat(args: readonly string[], env: NodeJS.ProcessEnv): Promise<{ code: number | null; stdout: Buffer; stderr: string }> {
  const child = spawn(process.execPath, [BIN, ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  const out: Buffer[] = [];
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => out.push(d));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
  return { code, stdout: Buffer.concat(out), stderr };
}

test('https: bytes exact through TLS with a reset and a short body resumed; node:https the same; an untrusted certificate is refused', async () => {
  const ds = await writeS3(contents);
  const faults = await startFaultProxy(s3Endpoint(), {
    decide: (r) => {
      if (r.path.includes('big.bin') && r.nth === 1) return { kind: 'reset', afterBytes: 300_000 };
      if (r.path.includes('big.bin') && r.nth === 2) return { kind: 'truncate', afterBytes: 123_457 };
      return undefined;
    },
  });
  const proxy = await startTlsProxy(faults.url);
  try {
    const env = { ...process.env, AWS_ENDPOINT_URL_S3: proxy.url, NODE_EXTRA_CA_CERTS: proxy.caFile };
    const want = sha256(expectedStream(contents, plain));
    const lean = await cat(catArgs(ds, plain), env);
    assert.equal(lean.code, 0, lean.stderr);
    assert.equal(sha256(lean.stdout), want);
    assert.equal(faults.injected.reset, 1);
    assert.equal(faults.injected.truncate, 1);
    const node = await cat(catArgs(ds, plain), { ...env, PIPEMODE_NODE_HTTPS: '1' });
    assert.equal(node.code, 0, node.stderr);
    assert.equal(sha256(node.stdout), want);
    const untrusted = await cat([...catArgs(ds, plain), '--max-attempts', '1'], { ...env, NODE_EXTRA_CA_CERTS: '' });
    assert.notEqual(untrusted.code, 0);
    assert.match(untrusted.stderr, /PM_ERR_[A-Z_]+/);
    assert.match(untrusted.stderr, /certificate/i);
  } finally {
    await proxy.close();
    await faults.close();
  }
});
