// pipemode server: DescribeTrainingJob held at a fixed rate (default 200/s for 20 s), open loop.
// The job is created and waited for with @aws-sdk/client-sagemaker (credentials from the server's
// own credentials file, endpoint by AWS_ENDPOINT_URL); the timed requests are signed beforehand
// with the SDK's signer (@smithy/signature-v4; each one signed, each verified by the server) and
// sent over keep-alive connections, so the generator's own CPU stays out of the latencies.
// Prints the achieved rate, latency p50/p99/max and errors, and PASS/FAIL against the target
// (rate held within 2 %, p99 under 50 ms). Settings: BENCH_SERVER_RATE, BENCH_SERVER_SECONDS.
import { spawn } from 'node:child_process';
import http from 'node:http';
import { createRequire } from 'node:module';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const RATE = Number(process.env.BENCH_SERVER_RATE ?? 200);
const SECONDS = Number(process.env.BENCH_SERVER_SECONDS ?? 20);
const P99_TARGET_MS = 50;

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'pipemode-bench-server-'));
const child = spawn(process.execPath, [path.join(ROOT, 'bin/pipemode.js'), 'server', '--state', path.join(tmp, 'state'), '--port', '0'], { stdio: ['ignore', 'ignore', 'pipe'] });
let err = '';
const ready = await new Promise((resolve, reject) => {
  child.stderr.on('data', (d) => {
    err += d;
    const url = /serving the SageMaker API on (\S+)/.exec(err)?.[1];
    const creds = /AWS_SHARED_CREDENTIALS_FILE=(\S+)/.exec(err)?.[1];
    if (url && creds && err.includes('dashboard:')) resolve({ url, creds });
  });
  child.once('exit', (code) => reject(new Error(`server exited ${code}: ${err}`)));
});
for (const k of Object.keys(process.env)) if (k.startsWith('AWS_')) delete process.env[k];
Object.assign(process.env, { AWS_SHARED_CREDENTIALS_FILE: ready.creds, AWS_PROFILE: 'pipemode', AWS_ENDPOINT_URL: ready.url, AWS_REGION: 'us-east-1', AWS_CONFIG_FILE: '/dev/null' });
const { SageMakerClient, CreateTrainingJobCommand, DescribeTrainingJobCommand, waitUntilTrainingJobCompletedOrStopped } = await import('@aws-sdk/client-sagemaker');
const sm = new SageMakerClient({});
try {
  await sm.send(new CreateTrainingJobCommand({
    TrainingJobName: 'bench-job', RoleArn: 'arn:aws:iam::000000000000:role/x',
    AlgorithmSpecification: { TrainingInputMode: 'File', ContainerEntrypoint: ['true'] },
    OutputDataConfig: { S3OutputPath: path.join(tmp, 'out') },
  }));
  await waitUntilTrainingJobCompletedOrStopped({ client: sm, maxWaitTime: 60, minDelay: 1, maxDelay: 1 }, { TrainingJobName: 'bench-job' });
  // warm-up: connections and JIT
  for (let i = 0; i < 200; i++) await sm.send(new DescribeTrainingJobCommand({ TrainingJobName: 'bench-job' }));

  const require = createRequire(import.meta.url);
  const { SignatureV4 } = require('@smithy/signature-v4');
  const { Sha256 } = { Sha256: require('@smithy/hash-node').Hash.bind(null, 'sha256') };
  const { HttpRequest } = require('@smithy/protocol-http');
  const creds = fs.readFileSync(ready.creds, 'utf8');
  const credentials = { accessKeyId: /aws_access_key_id = (\S+)/.exec(creds)[1], secretAccessKey: /aws_secret_access_key = (\S+)/.exec(creds)[1] };
  const signer = new SignatureV4({ credentials, region: 'us-east-1', service: 'sagemaker', sha256: Sha256 });
  const url = new URL(ready.url);
  const body = JSON.stringify({ TrainingJobName: 'bench-job' });
  const total = RATE * SECONDS;
  const signed = [];
  for (let i = 0; i < total; i++) {
    const req = await signer.sign(new HttpRequest({
      method: 'POST', protocol: 'http:', hostname: url.hostname, port: Number(url.port), path: '/', body,
      headers: { host: url.host, 'content-type': 'application/x-amz-json-1.1', 'x-amz-target': 'SageMaker.DescribeTrainingJob', 'amz-sdk-invocation-id': String(i) },
    }));
    signed.push(req.headers);
  }
  const agent = new http.Agent({ keepAlive: true, maxSockets: 64 });
  const send = (headers) => new Promise((resolve, reject) => {
    const r = http.request({ host: url.hostname, port: url.port, method: 'POST', path: '/', headers, agent }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => (res.statusCode === 200 && JSON.parse(Buffer.concat(chunks)).TrainingJobStatus === 'Completed' ? resolve() : reject(new Error(String(res.statusCode)))));
    });
    r.on('error', reject);
    r.end(body);
  });
  for (let i = 0; i < 50; i++) await send(signed[i]);

  const latencies = [];
  const perSecond = [];
  let errors = 0;
  const inflight = new Set();
  const start = performance.now();
  for (let i = 0; i < total; i++) {
    const due = start + (i * 1000) / RATE;
    const wait = due - performance.now();
    if (wait > 1) await sleep(wait);
    const t0 = performance.now();
    const p = send(signed[i])
      .then(() => { const l = performance.now() - t0; latencies.push(l); perSecond[Math.floor((t0 - start) / 1000)] = Math.max(perSecond[Math.floor((t0 - start) / 1000)] ?? 0, l); }, () => { errors++; })
      .finally(() => inflight.delete(p));
    inflight.add(p);
  }
  await Promise.all(inflight);
  const elapsed = (performance.now() - start) / 1000;
  latencies.sort((a, b) => a - b);
  const q = (f) => latencies[Math.min(latencies.length - 1, Math.floor(f * latencies.length))];
  const achieved = latencies.length / elapsed;
  const pass = achieved >= RATE * 0.98 && q(0.99) < P99_TARGET_MS && errors === 0;
  console.log(`pipemode server: DescribeTrainingJob, ${RATE}/s offered for ${SECONDS} s (each request SigV4-signed, keep-alive)`);
  console.log(`  achieved ${achieved.toFixed(1)}/s, ${latencies.length} answers, ${errors} errors; latency p50 ${q(0.5).toFixed(2)} ms, p99 ${q(0.99).toFixed(2)} ms, max ${latencies[latencies.length - 1].toFixed(2)} ms`);
  console.log(`  p90 ${q(0.9).toFixed(2)} ms, p95 ${q(0.95).toFixed(2)} ms; worst latency per second: ${perSecond.map((x) => x.toFixed(0)).join(' ')} ms`);
  console.log(`  target: rate held, p99 < ${P99_TARGET_MS} ms, no errors: ${pass ? 'PASS' : 'FAIL'}`);
} finally {
  child.kill('SIGTERM');
  await new Promise((r) => child.once('exit', r));
  fs.rmSync(tmp, { recursive: true, force: true });
}
