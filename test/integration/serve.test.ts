/**
 * `pipemode serve` as a real process with real hosting containers (test/fixtures/hosting/
 * test_container.py and pipemode's Python model server with a TorchScript model), called by the
 * official clients: @aws-sdk/client-sagemaker-runtime, boto3 and the AWS CLI.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {
  InvokeEndpointAsyncCommand, InvokeEndpointCommand, InvokeEndpointWithResponseStreamCommand, ModelError, ModelNotReadyException, SageMakerRuntimeClient,
} from '@aws-sdk/client-sagemaker-runtime';
import { ROOT, runPipemode, sha256, startPipemode } from '../helpers/cli.js';
import { awsChildEnv, hasAwsCli, hasBotocore, runChild, runPython } from '../helpers/python-aws.js';

const FIXTURE = path.join(ROOT, 'test/fixtures/hosting/test_container.py');
const CREDS = { accessKeyId: 'AKIDTEST', secretAccessKey: 'secret-for-tests' };

interface Serve {
  readonly url: string;
  readonly child: ChildProcess;
  stderr(): string;
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

function tempDir(): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), 'pipemode-serve-'));
}

function imagesFile(dir: string): string {
  // a copy per test, so its processes are found by a path no other test uses
  const copy = path.join(dir, 'test_container.py');
  fs.copyFileSync(FIXTURE, copy);
  const file = path.join(dir, 'images.json');
  fs.writeFileSync(file, JSON.stringify({ 'test-container:*': ['python3', copy] }));
  return file;
}

async function startServe(args: readonly string[], env: NodeJS.ProcessEnv = process.env): Promise<Serve> {
  const child = startPipemode(['serve', '--port', '0', ...args], { env });
  let err = '';
  const exited = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
  const url = await new Promise<string>((resolve, reject) => {
    child.stderr?.on('data', (d: Buffer) => {
      err += d.toString();
      const m = /pipemode: endpoint \S+ InService at (http:\/\/\S+)\n/.exec(err);
      if (m !== null) resolve(m[1] as string);
    });
    void exited.then((code) => reject(new Error(`serve exited ${code}:\n${err}`)));
  });
  return {
    url, child, stderr: () => err,
    stop: async (signal = 'SIGTERM') => {
      child.kill(signal);
      return exited;
    },
  };
}

function client(url: string, credentials = CREDS): SageMakerRuntimeClient {
  return new SageMakerRuntimeClient({ endpoint: url, region: 'us-east-1', credentials, maxAttempts: 1 });
}

function writeEndpoint(dir: string, doc: unknown, name = 'endpoint.json'): string {
  const file = path.join(dir, name);
  fs.writeFileSync(file, JSON.stringify(doc, null, 2));
  return file;
}

function childPids(pattern: string): string[] {
  try {
    return execFileSync('pgrep', ['-f', pattern], { encoding: 'utf8' }).split('\n').filter((l) => l !== '');
  } catch {
    return [];
  }
}

const twoVariants = (dir: string, extraEnv: Record<string, string> = {}) => ({
  EndpointName: 'test-ep',
  Models: [
    { ModelName: 'model-a', PrimaryContainer: { Image: 'test-container:1', ModelDataUrl: path.join(dir, 'model.tar.gz'), Environment: { TEST_MARK: 'a', ...extraEnv } } },
    { ModelName: 'model-b', PrimaryContainer: { Image: 'test-container:1', Environment: { TEST_MARK: 'b' } } },
  ],
  EndpointConfig: {
    ProductionVariants: [
      { VariantName: 'A', ModelName: 'model-a', InitialInstanceCount: 2, InitialVariantWeight: 3 },
      { VariantName: 'B', ModelName: 'model-b', InitialInstanceCount: 1, InitialVariantWeight: 1 },
    ],
    AsyncInferenceConfig: { OutputConfig: { S3OutputPath: path.join(dir, 'async-out'), S3FailurePath: path.join(dir, 'async-fail') } },
  },
});

test('serve: the Runtime API with variants, weights, headers, errors, streams, async, crashes — JS SDK, boto3 and the AWS CLI', { timeout: 120_000 }, async (t) => {
  const dir = tempDir();
  fs.mkdirSync(path.join(dir, 'src'));
  fs.writeFileSync(path.join(dir, 'src', 'weights.bin'), 'w1');
  execFileSync('tar', ['czf', path.join(dir, 'model.tar.gz'), '-C', path.join(dir, 'src'), '.']);
  const file = writeEndpoint(dir, twoVariants(dir));
  const serve = await startServe([file, '--images', imagesFile(dir), '--work-dir', path.join(dir, 'work')]);
  const rt = client(serve.url);
  try {
    await t.test('InvokeEndpoint: body, Content-Type, custom attributes and variant come back', async () => {
      const body = Buffer.from(Array.from({ length: 5000 }, (_, i) => i % 251));
      const out = await rt.send(new InvokeEndpointCommand({ EndpointName: 'test-ep', Body: body, ContentType: 'application/x-test', CustomAttributes: 'k=v', TargetVariant: 'A' }));
      assert.equal(sha256(Buffer.from(out.Body)), sha256(body));
      assert.equal(out.ContentType, 'application/x-test');
      assert.equal(out.CustomAttributes, 'k=v');
      assert.equal(out.InvokedProductionVariant, 'A');
      assert.match(out.$metadata.requestId ?? '', /^[0-9a-f-]{36}$/);
    });

    await t.test('headers reach the container; the model folder is /opt/ml/model, read-only', async () => {
      const out = await rt.send(new InvokeEndpointCommand({ EndpointName: 'test-ep', Body: Buffer.from('x'), ContentType: 'text/csv', Accept: 'application/json',
        CustomAttributes: 'mode=headers', InferenceId: 'inf-1', TargetVariant: 'A' }));
      const seen = JSON.parse(Buffer.from(out.Body).toString()) as Record<string, string>;
      assert.equal(seen['content-type'], 'text/csv');
      assert.equal(seen.accept, 'application/json');
      assert.equal(seen['x-amzn-sagemaker-inference-id'], 'inf-1');
      assert.equal(seen['x-amzn-sagemaker-target-variant'], 'A');
      assert.equal(seen.authorization, undefined, 'the signature is not passed on');
      const env = JSON.parse(Buffer.from((await rt.send(new InvokeEndpointCommand({ EndpointName: 'test-ep', Body: Buffer.from('x'), CustomAttributes: 'mode=env', TargetVariant: 'A' }))).Body).toString()) as Record<string, unknown>;
      assert.equal(env.TEST_MARK, 'a');
      assert.match(String(env.SAGEMAKER_BIND_TO_PORT), /^\d+$/);
      assert.match(String(env.SAGEMAKER_BASE_DIR), /instances\/A\/instance-\d$/);
      assert.deepEqual(env.base_model, ['weights.bin']);
      assert.equal(env.model_writable, false);
      if (process.getuid?.() === 0) assert.deepEqual(env.opt_ml_model, ['weights.bin']);
    });

    await t.test('container 4xx/5xx → 424 ModelError with OriginalStatusCode, OriginalMessage, LogStreamArn', async () => {
      for (const code of [400, 503]) {
        const err = await rt.send(new InvokeEndpointCommand({ EndpointName: 'test-ep', Body: Buffer.from('x'), CustomAttributes: `mode=status:${code}`, TargetVariant: 'B' }))
          .then(() => undefined, (e: unknown) => e);
        assert.ok(err instanceof ModelError, String(err));
        assert.equal(err.$metadata.httpStatusCode, 424);
        assert.equal(err.OriginalStatusCode, code);
        assert.equal(err.OriginalMessage, `failed with ${code}`);
        assert.match(err.message, new RegExp(`Received ${code < 500 ? 'client' : 'server'} error \\(${code}\\) from primary with message "failed with ${code}"`));
        assert.match(err.LogStreamArn ?? '', /log-group:\/aws\/sagemaker\/Endpoints\/test-ep:log-stream:B\/instance-1$/);
      }
    });

    await t.test('400 ValidationError: unknown endpoint, unknown variant, body over 6 MiB, bad headers', async () => {
      const cases: [string, InvokeEndpointCommand, RegExp][] = [
        ['endpoint', new InvokeEndpointCommand({ EndpointName: 'nope', Body: Buffer.from('x') }), /Endpoint nope of account 000000000000 not found/],
        ['variant', new InvokeEndpointCommand({ EndpointName: 'test-ep', Body: Buffer.from('x'), TargetVariant: 'C' }), /does not have a variant named C/],
        ['size', new InvokeEndpointCommand({ EndpointName: 'test-ep', Body: Buffer.alloc(6_291_457) }), /larger than 6291456 bytes/],
        ['attrs', new InvokeEndpointCommand({ EndpointName: 'test-ep', Body: Buffer.from('x'), CustomAttributes: 'x'.repeat(1025) }), /customAttributes/],
      ];
      for (const [what, cmd, message] of cases) {
        const err = await rt.send(cmd).then(() => undefined, (e: unknown) => e as { name: string; message: string; $metadata: { httpStatusCode: number } });
        assert.equal(err?.name, 'ValidationError', what);
        assert.equal(err.$metadata.httpStatusCode, 400, what);
        assert.match(err.message, message, what);
      }
      const exact = await rt.send(new InvokeEndpointCommand({ EndpointName: 'test-ep', Body: Buffer.alloc(6_291_456, 7), TargetVariant: 'B' }));
      assert.equal(Buffer.from(exact.Body).length, 6_291_456);
    });

    await t.test('variants get traffic by weight (3:1), spread over instances', async () => {
      const counts = new Map<string, number>();
      const n = 400;
      const conn = await Promise.all(Array.from({ length: n }, () => rt.send(new InvokeEndpointCommand({ EndpointName: 'test-ep', Body: Buffer.from('w') }))));
      for (const o of conn) counts.set(o.InvokedProductionVariant ?? '', (counts.get(o.InvokedProductionVariant ?? '') ?? 0) + 1);
      const a = counts.get('A') ?? 0;
      // binomial(400, 0.75): sd 8.7; ±5 sd
      assert.ok(a > 300 - 44 && a < 300 + 44, `A got ${a} of ${n}`);
      assert.equal(a + (counts.get('B') ?? 0), n);
      const metrics = await (await fetch(`${serve.url}/metrics`)).text();
      const inst = [1, 2].map((i) => Number(new RegExp(`^Invocations\\{endpoint="test-ep",variant="A",instance="instance-${i}"\\} (\\d+)`, 'm').exec(metrics)?.[1]));
      assert.ok(inst.every((x) => x > 50), `both instances of A served: ${inst.join(', ')}`);
      assert.match(metrics, /^OverheadLatency_sum\{endpoint="test-ep",variant="A",instance="instance-1"\} \d+/m);
      assert.match(metrics, /^InvocationsPerInstance\{endpoint="test-ep",variant="A"\} /m);
    });

    await t.test('InvokeEndpointWithResponseStream: PayloadParts as the chunks arrive; a break is ModelStreamError', async () => {
      const out = await rt.send(new InvokeEndpointWithResponseStreamCommand({ EndpointName: 'test-ep', Body: Buffer.from('x'), CustomAttributes: 'mode=stream:4', TargetVariant: 'B' }));
      assert.equal(out.ContentType, 'text/plain');
      assert.equal(out.InvokedProductionVariant, 'B');
      const parts: { text: string; at: number }[] = [];
      for await (const ev of out.Body ?? []) if (ev.PayloadPart?.Bytes) parts.push({ text: Buffer.from(ev.PayloadPart.Bytes).toString(), at: Date.now() });
      assert.equal(parts.map((p) => p.text).join(''), 'part-0\npart-1\npart-2\npart-3\n');
      assert.ok(parts.length >= 2, `${parts.length} events`);
      assert.ok((parts.at(-1)?.at ?? 0) - (parts[0]?.at ?? 0) >= 150, 'events arrive as the container writes, not at the end');
      const broken = await rt.send(new InvokeEndpointWithResponseStreamCommand({ EndpointName: 'test-ep', Body: Buffer.from('x'), CustomAttributes: 'mode=stream-crash', TargetVariant: 'B' }));
      let got = '';
      const err = await (async () => {
        for await (const ev of broken.Body ?? []) if (ev.PayloadPart?.Bytes) got += Buffer.from(ev.PayloadPart.Bytes).toString();
      })().then(() => undefined, (e: unknown) => e as { name: string; ErrorCode?: string });
      assert.equal(got, 'part-0\npart-1\n');
      assert.equal(err?.name, 'ModelStreamError');
      assert.equal(err.ErrorCode, 'StreamBroken');
      // B restarts after the crash (single instance): wait until it is back
      for (let i = 0; i < 100 && !/InstanceInService\{endpoint="test-ep",variant="B",instance="instance-1"\} 1/.test(await (await fetch(`${serve.url}/metrics`)).text()); i++) {
        await new Promise((r) => setTimeout(r, 100));
      }
    });

    await t.test('crash mid-request: that request fails at once with ModelError; the other instance keeps serving; the crashed one restarts', async () => {
      const t0 = Date.now();
      const err = await rt.send(new InvokeEndpointCommand({ EndpointName: 'test-ep', Body: Buffer.from('x'), CustomAttributes: 'mode=crash', TargetVariant: 'A' }))
        .then(() => undefined, (e: unknown) => e);
      assert.ok(err instanceof ModelError, String(err));
      assert.equal(err.OriginalStatusCode, 0);
      assert.ok(Date.now() - t0 < 5000);
      for (let i = 0; i < 20; i++) {
        const ok = await rt.send(new InvokeEndpointCommand({ EndpointName: 'test-ep', Body: Buffer.from('still'), TargetVariant: 'A' }));
        assert.equal(Buffer.from(ok.Body).toString(), 'still');
      }
      let metrics = '';
      for (let i = 0; i < 100; i++) {
        metrics = await (await fetch(`${serve.url}/metrics`)).text();
        if (/InstanceRestarts\{endpoint="test-ep",variant="A",instance="instance-\d"\} 1/.test(metrics) && !/InstanceInService\{[^}]*variant="A"[^}]*\} 0/.test(metrics)) break;
        await new Promise((r) => setTimeout(r, 100));
      }
      assert.match(metrics, /InstanceRestarts\{endpoint="test-ep",variant="A",instance="instance-\d"\} 1/);
      assert.match(serve.stderr(), /\[A\/instance-\d\] test container: crashing mid-request/);
      assert.ok(fs.readdirSync(path.join(dir, 'work', 'logs')).includes('A-instance-1.log'));
    });

    await t.test('InvokeEndpointAsync: input from InputLocation, 202 with OutputLocation, answer written there', async () => {
      const input = path.join(dir, 'async-input.bin');
      fs.writeFileSync(input, 'async body');
      const out = await rt.send(new InvokeEndpointAsyncCommand({ EndpointName: 'test-ep', InputLocation: input, ContentType: 'text/plain', InferenceId: 'job-1' }));
      assert.equal(out.$metadata.httpStatusCode, 202);
      assert.equal(out.InferenceId, 'job-1');
      assert.equal(out.OutputLocation, `file://${path.join(dir, 'async-out', 'job-1.out')}`);
      const target = path.join(dir, 'async-out', 'job-1.out');
      for (let i = 0; i < 100 && !fs.existsSync(target); i++) await new Promise((r) => setTimeout(r, 50));
      assert.equal(fs.readFileSync(target, 'utf8'), 'async body');
    });

    await t.test('boto3: invoke_endpoint, invoke_endpoint_with_response_stream (≥ 2 events), ModelError', { skip: !hasBotocore() }, async () => {
      const script = `
import boto3, json, os, botocore
c = boto3.client('sagemaker-runtime', endpoint_url=os.environ['URL'], region_name='us-east-1', aws_access_key_id='AKID', aws_secret_access_key='s',
                 config=botocore.config.Config(retries={'max_attempts': 0}))
r = c.invoke_endpoint(EndpointName='test-ep', Body=b'boto body', ContentType='text/plain', CustomAttributes='c=1', TargetVariant='A')
out = {'body': r['Body'].read().decode(), 'ct': r['ContentType'], 'variant': r['InvokedProductionVariant'], 'attrs': r['CustomAttributes']}
s = c.invoke_endpoint_with_response_stream(EndpointName='test-ep', Body=b'x', CustomAttributes='mode=stream:3', TargetVariant='B')
out['events'] = [e['PayloadPart']['Bytes'].decode() for e in s['Body'] if 'PayloadPart' in e]
out['sct'] = s['ContentType']
try:
    c.invoke_endpoint(EndpointName='test-ep', Body=b'x', CustomAttributes='mode=status:422', TargetVariant='B')
except c.exceptions.ModelError as e:
    out['err'] = [e.response['Error']['Code'], e.response['OriginalStatusCode'], e.response['OriginalMessage']]
print(json.dumps(out))
`;
      const r = await runPython(script, { env: awsChildEnv({ URL: serve.url }) });
      assert.equal(r.code, 0, r.stderr);
      const out = JSON.parse(r.stdout) as { body: string; ct: string; variant: string; attrs: string; events: string[]; sct: string; err: unknown[] };
      assert.deepEqual([out.body, out.ct, out.variant, out.attrs], ['boto body', 'text/plain', 'A', 'c=1']);
      assert.ok(out.events.length >= 2);
      assert.equal(out.events.join(''), 'part-0\npart-1\npart-2\n');
      assert.equal(out.sct, 'text/plain');
      assert.deepEqual(out.err, ['ModelError', 422, 'failed with 422']);
    });

    await t.test('AWS CLI: aws sagemaker-runtime invoke-endpoint', { skip: !hasAwsCli() }, async () => {
      const outFile = path.join(dir, 'cli-out.bin');
      const r = await runChild('aws', ['sagemaker-runtime', 'invoke-endpoint', '--endpoint-url', serve.url, '--region', 'us-east-1', '--endpoint-name', 'test-ep',
        '--body', 'fileb://' + path.join(dir, 'model.tar.gz'), '--content-type', 'application/gzip', '--target-variant', 'B', outFile],
      { env: awsChildEnv({ AWS_ACCESS_KEY_ID: 'AKID', AWS_SECRET_ACCESS_KEY: 's' }) });
      assert.equal(r.code, 0, r.stderr);
      const meta = JSON.parse(r.stdout) as { ContentType: string; InvokedProductionVariant: string };
      assert.equal(meta.ContentType, 'application/gzip');
      assert.equal(meta.InvokedProductionVariant, 'B');
      assert.equal(sha256(fs.readFileSync(outFile)), sha256(fs.readFileSync(path.join(dir, 'model.tar.gz'))));
    });
  } finally {
    const code = await serve.stop('SIGTERM');
    assert.equal(code, 0, serve.stderr());
    assert.deepEqual(childPids(path.join(dir, 'test_container.py')), [], 'no container left behind');
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('serve: a container that never gets healthy fails the endpoint with its output (exit 13); one that exits names its code', { timeout: 60_000 }, async () => {
  const dir = tempDir();
  try {
    const doc = twoVariants(dir, { TEST_START: 'never-healthy' });
    doc.Models[0]!.PrimaryContainer.ModelDataUrl = undefined as unknown as string;
    const r = await runPipemode(['serve', writeEndpoint(dir, doc), '--images', imagesFile(dir), '--port', '0', '--startup-timeout', '2', '--work-dir', path.join(dir, 'w')]);
    assert.equal(r.code, 13, r.stderr);
    assert.match(r.stderr, /endpoint test-ep Failed: A\/instance-\d: \/ping did not answer 200 within 2 s[\s\S]*test container: listening on \d+[\s\S]*PM_ERR_ENDPOINT_FAILED/);
    const exits = twoVariants(dir, { TEST_START: 'exit' });
    exits.Models[0]!.PrimaryContainer.ModelDataUrl = undefined as unknown as string;
    const r2 = await runPipemode(['serve', writeEndpoint(dir, exits), '--images', imagesFile(dir), '--port', '0', '--work-dir', path.join(dir, 'w2')]);
    assert.equal(r2.code, 13, r2.stderr);
    assert.match(r2.stderr, /exited with code 2 before \/ping answered 200; its last output:\ntest container: told to fail at start/);
    assert.deepEqual(childPids(path.join(dir, 'test_container.py')), []);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('serve: SIGTERM with a container that ignores SIGTERM: SIGKILL after the grace period, exit 0, nothing left', { timeout: 60_000 }, async () => {
  const dir = tempDir();
  try {
    const env = { ...process.env };
    const serve = await startServe(['--image', 'test-container:1', '--images', imagesFile(dir), '--stop-grace', '2', '--work-dir', path.join(dir, 'w')],
      { ...env, TEST_IGNORE_SIGTERM: '1' });
    const t0 = Date.now();
    const code = await serve.stop('SIGTERM');
    assert.equal(code, 0, serve.stderr());
    assert.ok(Date.now() - t0 >= 1900, 'waited for the grace period');
    assert.deepEqual(childPids(path.join(dir, 'test_container.py')), []);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('serve: a killed pipemode leaves no container behind (the guardian)', { timeout: 60_000 }, async () => {
  const dir = tempDir();
  try {
    const serve = await startServe(['--image', 'test-container:1', '--images', imagesFile(dir), '--instances', '2', '--work-dir', path.join(dir, 'w')]);
    const before = childPids(path.join(dir, 'test_container.py')).length;
    await serve.stop('SIGKILL');
    assert.equal(before, 2);
    for (let i = 0; i < 50 && childPids(path.join(dir, 'test_container.py')).length > 0; i++) await new Promise((r) => setTimeout(r, 100));
    assert.deepEqual(childPids(path.join(dir, 'test_container.py')), []);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('serve: bad ENDPOINT files, unmapped images and unsafe archives are clear errors', { timeout: 60_000 }, async () => {
  const dir = tempDir();
  try {
    fs.writeFileSync(path.join(dir, 'broken.json'), '{\n  "EndpointName": "x",\n  "Models": [,]\n}');
    let r = await runPipemode(['serve', path.join(dir, 'broken.json')]);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /broken\.json:3:\d+: invalid JSON.*PM_ERR_SPEC_FILE/);
    const typo = twoVariants(dir) as unknown as { EndpointConfig: { ProductionVariants: Record<string, unknown>[] } };
    typo.EndpointConfig.ProductionVariants[0]!.InitialInstanceCont = 2;
    r = await runPipemode(['serve', writeEndpoint(dir, typo, 'typo.yaml')]);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /EndpointConfig\.ProductionVariants\[0\]\.InitialInstanceCont: unknown key \(did you mean "InitialInstanceCount"\?\)/);
    const wrongModel = twoVariants(dir);
    wrongModel.EndpointConfig.ProductionVariants[1]!.ModelName = 'model-c';
    r = await runPipemode(['serve', writeEndpoint(dir, wrongModel)]);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /ProductionVariants\[1\]\.ModelName: no model "model-c" in Models/);
    r = await runPipemode(['serve', '--image', '123.dkr.ecr.us-east-1.amazonaws.com/mine:1', '--port', '0', '--work-dir', path.join(dir, 'w0')]);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /image "123\.dkr\.ecr\.us-east-1\.amazonaws\.com\/mine:1" has no command.*--images FILE or set PIPEMODE_IMAGES.*PM_ERR_IMAGE_NOT_MAPPED/);
    for (const [name, script] of [
      ['dotdot', 'i=tarfile.TarInfo("../evil"); d=b"x"; i.size=1; t.addfile(i, io.BytesIO(d))'],
      ['abslink', 'i=tarfile.TarInfo("passwd"); i.type=tarfile.SYMTYPE; i.linkname="/etc/passwd"; t.addfile(i)'],
    ] as const) {
      const archive = path.join(dir, `${name}.tar.gz`);
      execFileSync('python3', ['-c', `import tarfile, io\nt=tarfile.open("${archive}", "w:gz")\n${script}\nt.close()`]);
      r = await runPipemode(['serve', '--image', 'test-container:1', '--images', imagesFile(dir), '--model-data', archive, '--port', '0', '--work-dir', path.join(dir, `w-${name}`)]);
      assert.equal(r.code, 13, r.stderr);
      assert.match(r.stderr, name === 'dotdot' ? /"\.\.\/evil" would land outside the model folder/ : /"passwd" links to the absolute path "\/etc\/passwd"/);
      assert.equal(fs.existsSync(path.join(dir, 'evil')), false);
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('serve: --api-keys makes SigV4 mandatory; binding beyond loopback needs it', { timeout: 60_000 }, async () => {
  const dir = tempDir();
  try {
    const keys = path.join(dir, 'keys');
    fs.writeFileSync(keys, `[default]\naws_access_key_id = ${CREDS.accessKeyId}\naws_secret_access_key = ${CREDS.secretAccessKey}\n`, { mode: 0o600 });
    const r = await runPipemode(['serve', '--image', 'test-container:1', '--images', imagesFile(dir), '--host', '0.0.0.0', '--port', '0']);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /--host 0\.0\.0\.0 reaches beyond this machine: give --api-keys FILE/);
    const serve = await startServe(['--image', 'test-container:1', '--images', imagesFile(dir), '--api-keys', keys, '--work-dir', path.join(dir, 'w')]);
    try {
      const ok = await client(serve.url).send(new InvokeEndpointCommand({ EndpointName: 'local-endpoint', Body: Buffer.from('signed') }));
      assert.equal(Buffer.from(ok.Body).toString(), 'signed');
      const bad = await client(serve.url, { accessKeyId: CREDS.accessKeyId, secretAccessKey: 'wrong' })
        .send(new InvokeEndpointCommand({ EndpointName: 'local-endpoint', Body: Buffer.from('x') })).then(() => undefined, (e: unknown) => e as { name: string; $metadata: { httpStatusCode: number } });
      assert.equal(bad?.name, 'InvalidSignatureException');
      assert.equal(bad.$metadata.httpStatusCode, 403);
      const unsigned = await fetch(`${serve.url}/endpoints/local-endpoint/invocations`, { method: 'POST', body: 'x' });
      assert.equal(unsigned.status, 403);
      assert.equal(unsigned.headers.get('x-amzn-errortype'), 'MissingAuthenticationTokenException');
    } finally {
      assert.equal(await serve.stop(), 0);
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('serve: a PyTorch model.tar.gz on the framework image, served by pipemode\'s Python model server, called with boto3', {
  timeout: 90_000, skip: process.env.PIPEMODE_SKIP_TORCH === '1' || !hasBotocore(),
}, async () => {
  const dir = tempDir();
  try {
    const src = path.join(dir, 'model');
    fs.mkdirSync(src);
    execFileSync('/usr/bin/python3', ['-c', `
import torch
torch.manual_seed(0)
m = torch.nn.Linear(3, 2)
with torch.no_grad():
    m.weight.copy_(torch.tensor([[1.0, 2.0, 3.0], [-1.0, 0.5, 0.0]])); m.bias.copy_(torch.tensor([0.5, -0.5]))
torch.jit.script(m).save("${src}/model.pt")
`]);
    execFileSync('tar', ['czf', path.join(dir, 'model.tar.gz'), '-C', src, '.']);
    const serve = await startServe(['--image', '763104351884.dkr.ecr.us-east-1.amazonaws.com/pytorch-inference:2.1-cpu-py310', '--model-data', path.join(dir, 'model.tar.gz'),
      '--name', 'torch-ep', '--work-dir', path.join(dir, 'w')], { ...process.env, PIPEMODE_PYTHON: '/usr/bin/python3' });
    try {
      const r = await runPython(`
import boto3, json, os
c = boto3.client('sagemaker-runtime', endpoint_url=os.environ['URL'], region_name='us-east-1', aws_access_key_id='AKID', aws_secret_access_key='s')
r = c.invoke_endpoint(EndpointName='torch-ep', Body=json.dumps([[1, 1, 1], [0, 2, -1]]), ContentType='application/json', Accept='application/json')
print(json.dumps({'ct': r['ContentType'], 'body': json.loads(r['Body'].read())}))
`, { env: awsChildEnv({ URL: serve.url }) });
      assert.equal(r.code, 0, r.stderr);
      const out = JSON.parse(r.stdout) as { ct: string; body: number[][] };
      assert.match(out.ct, /^application\/json/);
      const expected = [[6.5, -1.0], [1.5, 0.5]];
      out.body.forEach((row, i) => row.forEach((x, j) => assert.ok(Math.abs(x - (expected[i]?.[j] ?? NaN)) < 1e-5, `${i},${j}: ${x}`)));
    } finally {
      assert.equal(await serve.stop('SIGINT'), 0, serve.stderr());
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Waits (up to 60 s) until `cond` holds. */
async function until(what: string, cond: () => Promise<boolean>): Promise<void> {
  for (let k = 0; k < 600; k++) {
    if (await cond()) return;
    await sleep(100);
  }
  assert.fail(`not reached within 60 s: ${what}`);
}

test('serve: /ping checked after start — a failing instance leaves rotation, is restarted after 3 failures in a row, returns when /ping passes; '
  + 'none in service → 429 ModelNotReadyException (JS SDK); port blocks; pipemode\'s environment reaches the containers', { timeout: 180_000 }, async () => {
  const dir = tempDir();
  const work = path.join(dir, 'w');
  const serve = await startServe(['--image', 'test-container:1', '--images', imagesFile(dir), '--instances', '2', '--health-interval', '2', '--work-dir', work],
    { ...process.env, TEST_INHERITED: 'from-pipemode', AWS_ACCESS_KEY_ID: 'AKIDINHERITED', AWS_SECRET_ACCESS_KEY: 'not-a-real-secret' });
  const rt = client(serve.url);
  const base = (i: number): string => path.join(work, 'instances', 'AllTraffic', `instance-${i}`);
  const failPing = (i: number, how: '500' | 'hang'): void => fs.writeFileSync(path.join(base(i), 'ping-fail'), how);
  const passPing = (i: number): void => fs.rmSync(path.join(base(i), 'ping-fail'), { force: true });
  const metric = async (name: string, i: number): Promise<number> => Number(new RegExp(
    `^${name}\\{endpoint="local-endpoint",variant="AllTraffic",instance="instance-${i}"\\} (\\d+)`, 'm').exec(await (await fetch(`${serve.url}/metrics`)).text())?.[1]);
  const envOf = async (): Promise<Record<string, string | string[]>> => JSON.parse(Buffer.from((await rt.send(new InvokeEndpointCommand({
    EndpointName: 'local-endpoint', Body: Buffer.from('x'), CustomAttributes: 'mode=env' }))).Body).toString()) as Record<string, string | string[]>;
  /** The instances (base dirs) that answered `n` requests. */
  const served = async (n: number): Promise<Set<string>> => {
    const seen = new Set<string>();
    for (let k = 0; k < n; k++) seen.add(String((await envOf()).SAGEMAKER_BASE_DIR));
    return seen;
  };
  try {
    const envs = new Map<string, Record<string, string | string[]>>();
    for (let k = 0; k < 40 && envs.size < 2; k++) {
      const env = await envOf();
      envs.set(String(env.SAGEMAKER_BASE_DIR), env);
    }
    assert.equal(envs.size, 2, 'both instances answer');
    const frontPort = Number(new URL(serve.url).port);
    const blocks = [...envs.values()].map((env) => {
      const m = /^(\d+)-(\d+)$/.exec(String(env.SAGEMAKER_SAFE_PORT_RANGE));
      assert.ok(m !== null, String(env.SAGEMAKER_SAFE_PORT_RANGE));
      return { port: Number(env.SAGEMAKER_BIND_TO_PORT), lo: Number(m[1]), hi: Number(m[2]) };
    });
    for (const b of blocks) {
      assert.ok(b.hi - b.lo + 1 >= 9, `a range of ports: ${b.lo}-${b.hi}`);
      for (const other of blocks) {
        assert.ok(other.port < b.lo || other.port > b.hi, `port ${other.port} is outside the safe range ${b.lo}-${b.hi}`);
        if (other !== b) assert.ok(other.hi < b.lo || other.lo > b.hi, 'safe ranges do not overlap');
      }
      assert.ok(frontPort < b.lo || frontPort > b.hi, 'the front\'s port is outside every safe range');
    }
    for (const env of envs.values()) {
      assert.equal(env.TEST_INHERITED, 'from-pipemode');
      assert.ok((env.aws_names as string[]).includes('AWS_ACCESS_KEY_ID'), 'pipemode\'s AWS credentials are inherited');
    }

    // a passing check brings an instance back without a restart
    failPing(1, '500');
    await until('instance-1 out of rotation', async () => (await metric('InstanceInService', 1)) === 0);
    assert.deepEqual([...await served(10)], [base(2)], 'no request reaches an instance failing its checks');
    passPing(1);
    await until('instance-1 back in rotation', async () => (await metric('InstanceInService', 1)) === 1);
    assert.equal(await metric('InstanceRestarts', 1), 0);
    assert.match(serve.stderr(), /\[AllTraffic\/instance-1\] pipemode: health check failed \(\/ping answered 500\); out of rotation/);
    assert.match(serve.stderr(), /\[AllTraffic\/instance-1\] pipemode: \/ping answers 200 again; back in service/);

    // failures in a row restart it; it stays out until /ping passes
    failPing(1, '500');
    await until('instance-1 restarted', async () => (await metric('InstanceRestarts', 1)) === 1);
    assert.match(serve.stderr(), /\[AllTraffic\/instance-1\] pipemode: 3 health checks failed in a row; stopping the container to restart it/);
    assert.equal(await metric('InstanceInService', 1), 0);
    assert.deepEqual([...await served(10)], [base(2)]);
    passPing(1);
    await until('instance-1 back after its restart', async () => (await metric('InstanceInService', 1)) === 1);
    await until('instance-1 serves again', async () => (await served(10)).has(base(1)));

    // no instance in service: 429 ModelNotReadyException at once, not a hang
    failPing(1, 'hang');
    failPing(2, 'hang');
    await until('both out of rotation', async () => (await metric('InstanceInService', 1)) === 0 && (await metric('InstanceInService', 2)) === 0);
    const t0 = Date.now();
    const err = await rt.send(new InvokeEndpointCommand({ EndpointName: 'local-endpoint', Body: Buffer.from('x') })).then(() => undefined, (e: unknown) => e);
    assert.ok(err instanceof ModelNotReadyException, String(err));
    assert.equal(err.name, 'ModelNotReadyException');
    assert.equal(err.$metadata.httpStatusCode, 429);
    assert.match(err.message, /not ready: no instance is in service/);
    assert.ok(Date.now() - t0 < 10_000, 'answered, not held');
    passPing(1);
    passPing(2);
    await until('both back', async () => (await metric('InstanceInService', 1)) === 1 && (await metric('InstanceInService', 2)) === 1);
  } finally {
    const code = await serve.stop('SIGTERM');
    assert.equal(code, 0, serve.stderr());
    assert.deepEqual(childPids(path.join(dir, 'test_container.py')), [], 'no container left behind');
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('serve: timeouts as SageMaker words them (ModelError 424; a stream ends with ModelStreamError ModelInvocationTimeExceeded — JS SDK and boto3), '
  + 'the 6 MiB answer limit, the async inline body limit, --clean-env', { timeout: 120_000 }, async (t) => {
  const dir = tempDir();
  const serve = await startServe(['--image', 'test-container:1', '--images', imagesFile(dir), '--invocation-timeout', '2', '--clean-env', '--work-dir', path.join(dir, 'w')],
    { ...process.env, TEST_INHERITED: 'from-pipemode', AWS_ACCESS_KEY_ID: 'AKIDINHERITED', AWS_SECRET_ACCESS_KEY: 'not-a-real-secret' });
  const rt = client(serve.url);
  const call = (mode: string, body = Buffer.from('x')): Promise<unknown> =>
    rt.send(new InvokeEndpointCommand({ EndpointName: 'local-endpoint', Body: body, CustomAttributes: `mode=${mode}` })).then((o) => o, (e: unknown) => e);
  try {
    await t.test('--clean-env: no AWS_* and no other variable of pipemode\'s reaches the container', async () => {
      const out = await call('env') as { Body: Uint8Array };
      const env = JSON.parse(Buffer.from(out.Body).toString()) as Record<string, unknown>;
      assert.deepEqual(env.aws_names, []);
      assert.equal(env.TEST_INHERITED, undefined);
      assert.match(String(env.SAGEMAKER_BIND_TO_PORT), /^\d+$/);
    });

    await t.test('no answer within the invocation timeout: 424 ModelError, status 0, SageMaker\'s timeout wording', async () => {
      const err = await call('slow:5');
      assert.ok(err instanceof ModelError, String(err));
      assert.equal(err.$metadata.httpStatusCode, 424);
      assert.equal(err.OriginalStatusCode, 0);
      assert.match(err.message, /^Received server error \(0\) from primary with message "Your invocation timed out while waiting for a response from container primary\. Review the latency metrics/);
      const ok = await call('echo', Buffer.from('after')) as { Body: Uint8Array };
      assert.equal(Buffer.from(ok.Body).toString(), 'after', 'the instance still serves');
    });

    await t.test('a stream that hangs after its headers ends with ModelStreamError ModelInvocationTimeExceeded (JS SDK)', async () => {
      const out = await rt.send(new InvokeEndpointWithResponseStreamCommand({ EndpointName: 'local-endpoint', Body: Buffer.from('x'), CustomAttributes: 'mode=stream-hang' }));
      let got = '';
      const err = await (async () => {
        for await (const ev of out.Body ?? []) if (ev.PayloadPart?.Bytes) got += Buffer.from(ev.PayloadPart.Bytes).toString();
      })().then(() => undefined, (e: unknown) => e as { name: string; ErrorCode?: string; message: string });
      assert.equal(got, 'part-0\n');
      assert.equal(err?.name, 'ModelStreamError');
      assert.equal(err.ErrorCode, 'ModelInvocationTimeExceeded');
      assert.match(err.message, /did not complete sending the inference response in the allotted time/);
    });

    await t.test('the same stream through boto3\'s event-stream decoder', { skip: !hasBotocore() }, async () => {
      const r = await runPython(`
import boto3, botocore, json, os
c = boto3.client('sagemaker-runtime', endpoint_url=os.environ['URL'], region_name='us-east-1', aws_access_key_id='AKID', aws_secret_access_key='s',
                 config=botocore.config.Config(retries={'max_attempts': 0}))
s = c.invoke_endpoint_with_response_stream(EndpointName='local-endpoint', Body=b'x', CustomAttributes='mode=stream-hang')
parts = []
try:
    for e in s['Body']:
        parts.append(e['PayloadPart']['Bytes'].decode())
    print(json.dumps({'parts': parts}))
except botocore.exceptions.EventStreamError as e:
    print(json.dumps({'parts': parts, 'code': e.response['Error']['Code'], 'message': e.response['Error']['Message']}))
`, { env: awsChildEnv({ URL: serve.url }) });
      assert.equal(r.code, 0, r.stderr);
      const out = JSON.parse(r.stdout) as { parts: string[]; code: string; message: string };
      assert.deepEqual(out.parts, ['part-0\n']);
      assert.equal(out.code, 'ModelStreamError');
      assert.match(out.message, /allotted time/);
    });

    await t.test('answers: exactly 6,291,456 bytes are relayed (sha256); one more is refused with ModelError', async () => {
      const limit = 6_291_456;
      const expected = Buffer.from(Array.from({ length: limit + 1 }, (_, i) => i % 251));
      const ok = await call(`big:${limit}`) as { Body: Uint8Array };
      assert.equal(sha256(Buffer.from(ok.Body)), sha256(expected.subarray(0, limit)));
      const err = await call(`big:${limit + 1}`);
      assert.ok(err instanceof ModelError, String(err));
      assert.equal(err.$metadata.httpStatusCode, 424);
      assert.equal(err.OriginalStatusCode, 0);
      assert.match(err.message, /larger than 6291456 bytes \(6 MiB\), the limit of InvokeEndpoint/);
    });

    await t.test('InvokeEndpointAsync: an inline body over 128,000 bytes is refused saying so; 128,000 passes the size check', async () => {
      const post = (n: number): Promise<Response> => fetch(`${serve.url}/endpoints/local-endpoint/async-invocations`, { method: 'POST', body: Buffer.alloc(n, 1) });
      const over = await post(128_001);
      assert.equal(over.status, 400);
      assert.equal(over.headers.get('x-amzn-errortype'), 'ValidationError');
      assert.match(await over.text(), /larger than 128000 bytes, the limit of InvokeEndpointAsync's inline Body/);
      const at = await post(128_000);
      assert.equal(at.status, 400);
      assert.match(await at.text(), /inputLocation/);
    });
  } finally {
    const code = await serve.stop('SIGTERM');
    assert.equal(code, 0, serve.stderr());
    assert.deepEqual(childPids(path.join(dir, 'test_container.py')), [], 'no container left behind');
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
