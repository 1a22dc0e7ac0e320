/**
 * Endpoints of `pipemode server`, run by the hosting code of `pipemode serve` with real containers
 * (test/fixtures/hosting/test_container.py through an images file), driven by the official
 * clients only: boto3 (create_model / create_endpoint_config / create_endpoint, the
 * endpoint_in_service and endpoint_deleted waiters, sagemaker-runtime invoke_endpoint on the same
 * port, update_endpoint, update_endpoint_weights_and_capacities, a failing update that rolls back),
 * the AWS CLI (`aws sagemaker create-endpoint`, `aws sagemaker wait endpoint-in-service`) and
 * @aws-sdk/client-sagemaker with waitUntilEndpointInService. Then kill -9 of the server with
 * endpoints InService: the containers go with it, a restart brings the endpoints back InService
 * and answering; a normal stop leaves no container behind.
 */
/* eslint-disable @typescript-eslint/no-unsafe-member-access, @typescript-eslint/no-explicit-any, @typescript-eslint/no-unsafe-call, @typescript-eslint/no-unsafe-return, @typescript-eslint/no-unsafe-argument, @typescript-eslint/no-unsafe-assignment -- client answers are checked field by field */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { ROOT, runPipemode } from '../helpers/cli.js';
import { hasAwsCli, runChild, runPython } from '../helpers/python-aws.js';
import { startServerProcess, type ServerProcess } from '../helpers/server-process.js';

const FIXTURE = path.join(ROOT, 'test/fixtures/hosting/test_container.py');

let tmp: string;
let stateDir: string;
let container: string;
let imagesFile: string;
let server: ServerProcess;
let body: Buffer;
let bodySha: string;

function containerPids(): string[] {
  try {
    return execFileSync('pgrep', ['-f', container], { encoding: 'utf8' }).split('\n').filter((l) => l !== '');
  } catch {
    return [];
  }
}

async function until(what: string, ok: () => boolean, ms = 15_000): Promise<void> {
  const end = Date.now() + ms;
  while (!ok()) {
    if (Date.now() > end) assert.fail(`timed out waiting for ${what}`);
    await sleep(100);
  }
}

async function py(script: string): Promise<Record<string, any>> {
  const r = await runPython(script, { env: server.clientEnv(), timeoutMs: 120_000 });
  assert.equal(r.code, 0, `python failed:\n${r.stderr}\n${r.stdout}\n--- server:\n${server.log()}`);
  return JSON.parse(r.stdout) as Record<string, any>;
}

const BOTO = `
import boto3, hashlib, json, sys
from botocore.exceptions import ClientError, WaiterError
sm = boto3.client("sagemaker")
rt = boto3.client("sagemaker-runtime")
W = {"Delay": 1, "MaxAttempts": 60}
def invoke(name, data, **kw):
    r = rt.invoke_endpoint(EndpointName=name, Body=data, ContentType="application/octet-stream", **kw)
    return {"sha": hashlib.sha256(r["Body"].read()).hexdigest(), "variant": r["InvokedProductionVariant"], "ct": r["ContentType"]}
`;

before(async () => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'pipemode-server-ep-'));
  stateDir = path.join(tmp, 'state');
  // a copy of the container, so its processes are found by a path no other test uses
  container = path.join(tmp, 'test_container.py');
  fs.copyFileSync(FIXTURE, container);
  imagesFile = path.join(tmp, 'images.json');
  fs.writeFileSync(imagesFile, JSON.stringify({ 'test-container:*': ['python3', container] }));
  fs.mkdirSync(path.join(tmp, 'model'));
  fs.writeFileSync(path.join(tmp, 'model', 'weights.bin'), crypto.randomBytes(1000));
  execFileSync('tar', ['czf', path.join(tmp, 'model.tar.gz'), '-C', path.join(tmp, 'model'), '.']);
  body = crypto.randomBytes(200_000);
  bodySha = crypto.createHash('sha256').update(body).digest('hex');
  fs.writeFileSync(path.join(tmp, 'body.bin'), body);
  server = await startServerProcess(stateDir, ['--images', imagesFile]);
});

after(async () => {
  server?.child.kill('SIGTERM');
  await server?.exited;
  fs.rmSync(tmp, { recursive: true, force: true });
});

test('boto3: create, endpoint_in_service, invoke on the same port, update, weights and capacities, rollback, delete', { timeout: 180_000 }, async () => {
  const r = await py(`${BOTO}
data = open(${JSON.stringify(path.join(tmp, 'body.bin'))}, "rb").read()
sm.create_model(ModelName="model-a", PrimaryContainer={"Image": "test-container:1", "ModelDataUrl": ${JSON.stringify(path.join(tmp, 'model.tar.gz'))}})
sm.create_model(ModelName="model-b", PrimaryContainer={"Image": "test-container:2"})
sm.create_model(ModelName="model-bad", PrimaryContainer={"Image": "test-container:3", "Environment": {"TEST_START": "exit"}})
sm.create_model(ModelName="model-unmapped", PrimaryContainer={"Image": "nobody/knows:1"})
sm.create_endpoint_config(EndpointConfigName="cfg-a", ProductionVariants=[{"VariantName": "A", "ModelName": "model-a", "InitialInstanceCount": 1}])
sm.create_endpoint_config(EndpointConfigName="cfg-b", ProductionVariants=[{"VariantName": "B", "ModelName": "model-b", "InitialInstanceCount": 1}])
sm.create_endpoint_config(EndpointConfigName="cfg-bad", ProductionVariants=[{"VariantName": "X", "ModelName": "model-bad", "InitialInstanceCount": 1}])
sm.create_endpoint_config(EndpointConfigName="cfg-unmapped", ProductionVariants=[{"VariantName": "U", "ModelName": "model-unmapped"}])
arn = sm.create_endpoint(EndpointName="ep-boto", EndpointConfigName="cfg-a")["EndpointArn"]
first = sm.describe_endpoint(EndpointName="ep-boto")["EndpointStatus"]
sm.get_waiter("endpoint_in_service").wait(EndpointName="ep-boto", WaiterConfig=W)
d1 = sm.describe_endpoint(EndpointName="ep-boto")
inv1 = invoke("ep-boto", data)
envs = json.loads(rt.invoke_endpoint(EndpointName="ep-boto", Body=b"{}", CustomAttributes="mode=env")["Body"].read())
modelErr = None
try:
    rt.invoke_endpoint(EndpointName="ep-boto", Body=b"x", CustomAttributes="mode=status:500")
except ClientError as e:
    modelErr = [e.response["Error"]["Code"], e.response["OriginalStatusCode"], e.response["ResponseMetadata"]["HTTPStatusCode"]]
missing = None
try:
    rt.invoke_endpoint(EndpointName="nope", Body=b"x")
except ClientError as e:
    missing = [e.response["Error"]["Code"], e.response["Error"]["Message"]]
sm.update_endpoint_weights_and_capacities(EndpointName="ep-boto", DesiredWeightsAndCapacities=[{"VariantName": "A", "DesiredInstanceCount": 2, "DesiredWeight": 2}])
updating = sm.describe_endpoint(EndpointName="ep-boto")["EndpointStatus"]
sm.get_waiter("endpoint_in_service").wait(EndpointName="ep-boto", WaiterConfig=W)
d2 = sm.describe_endpoint(EndpointName="ep-boto")
inv2 = [invoke("ep-boto", data) for _ in range(4)]
sm.update_endpoint(EndpointName="ep-boto", EndpointConfigName="cfg-b")
sm.get_waiter("endpoint_in_service").wait(EndpointName="ep-boto", WaiterConfig=W)
d3 = sm.describe_endpoint(EndpointName="ep-boto")
inv3 = invoke("ep-boto", data)
sm.update_endpoint(EndpointName="ep-boto", EndpointConfigName="cfg-bad")
sm.get_waiter("endpoint_in_service").wait(EndpointName="ep-boto", WaiterConfig=W)
d4 = sm.describe_endpoint(EndpointName="ep-boto")
inv4 = invoke("ep-boto", data)
sm.create_endpoint(EndpointName="ep-unmapped", EndpointConfigName="cfg-unmapped")
sm.create_endpoint(EndpointName="ep-fails", EndpointConfigName="cfg-bad")
failed = []
for n in ["ep-unmapped", "ep-fails"]:
    try:
        sm.get_waiter("endpoint_in_service").wait(EndpointName=n, WaiterConfig=W)
    except WaiterError as e:
        failed.append(sm.describe_endpoint(EndpointName=n))
sm.delete_endpoint(EndpointName="ep-boto")
sm.get_waiter("endpoint_deleted").wait(EndpointName="ep-boto", WaiterConfig=W)
gone = None
try:
    sm.describe_endpoint(EndpointName="ep-boto")
except ClientError as e:
    gone = e.response["Error"]["Code"]
for n in ["ep-unmapped", "ep-fails"]:
    sm.delete_endpoint(EndpointName=n)
print(json.dumps({"arn": arn, "first": first, "d1": d1, "inv1": inv1, "envs": envs, "modelErr": modelErr, "missing": missing, "updating": updating,
  "d2": d2, "inv2": inv2, "d3": d3, "inv3": inv3, "d4": d4, "inv4": inv4, "failed": failed, "gone": gone}, default=str))
`);
  assert.equal(r.arn, 'arn:aws:sagemaker:us-east-1:000000000000:endpoint/ep-boto');
  assert.equal(r.first, 'Creating');
  assert.equal(r.d1.EndpointStatus, 'InService');
  assert.equal(r.d1.ProductionVariants[0].CurrentInstanceCount, 1);
  assert.equal(r.d1.ProductionVariants[0].DeployedImages[0].SpecifiedImage, 'test-container:1');
  assert.deepEqual(r.inv1, { sha: bodySha, variant: 'A', ct: 'application/octet-stream' }, 'the container received and returned exactly the bytes sent');
  assert.ok(String(r.envs.SAGEMAKER_BASE_DIR).startsWith(path.join(stateDir, 'endpoints', 'ep-boto')), JSON.stringify(r.envs));
  assert.deepEqual(r.modelErr, ['ModelError', 500, 424]);
  assert.deepEqual(r.missing, ['ValidationError', 'Endpoint nope of account 000000000000 not found.']);
  assert.equal(r.updating, 'Updating');
  assert.equal(r.d2.EndpointStatus, 'InService');
  assert.deepEqual([r.d2.ProductionVariants[0].CurrentInstanceCount, r.d2.ProductionVariants[0].CurrentWeight], [2, 2]);
  for (const inv of r.inv2) assert.deepEqual(inv, { sha: bodySha, variant: 'A', ct: 'application/octet-stream' });
  assert.deepEqual([r.d3.EndpointStatus, r.d3.EndpointConfigName, r.d3.ProductionVariants.map((v: any) => v.VariantName)], ['InService', 'cfg-b', ['B']]);
  assert.equal(r.inv3.variant, 'B');
  assert.equal(r.inv3.sha, bodySha);
  // the failing update rolled back: the old config serves, the reason is recorded
  assert.deepEqual([r.d4.EndpointStatus, r.d4.EndpointConfigName], ['InService', 'cfg-b']);
  assert.match(r.d4.FailureReason, /told to fail at start/);
  assert.equal(r.inv4.variant, 'B');
  assert.equal(r.failed.length, 2);
  assert.equal(r.failed[0].EndpointStatus, 'Failed');
  assert.match(r.failed[0].FailureReason, /image "nobody\/knows:1" has no command/);
  assert.equal(r.failed[1].EndpointStatus, 'Failed');
  assert.match(r.failed[1].FailureReason, /exited with code 2 before \/ping answered 200.*told to fail at start/s);
  assert.equal(r.gone, 'ValidationException');
  await until('the deleted endpoint\'s containers to end', () => containerPids().length === 0);
});

test('AWS CLI: create-endpoint and wait endpoint-in-service; @aws-sdk/client-sagemaker: waitUntilEndpointInService', { timeout: 120_000 }, async (t) => {
  if (!hasAwsCli()) {
    t.skip('no aws CLI');
    return;
  }
  const env = server.clientEnv();
  const created = await runChild('aws', ['sagemaker', 'create-endpoint', '--endpoint-name', 'ep-cli', '--endpoint-config-name', 'cfg-a'], { env });
  assert.equal(created.code, 0, created.stderr);
  const waited = await runChild('aws', ['sagemaker', 'wait', 'endpoint-in-service', '--endpoint-name', 'ep-cli'], { env, timeoutMs: 90_000 });
  assert.equal(waited.code, 0, waited.stderr);
  const described = await runChild('aws', ['sagemaker', 'describe-endpoint', '--endpoint-name', 'ep-cli'], { env });
  assert.equal(JSON.parse(described.stdout).EndpointStatus, 'InService');

  const script = `
import { createRequire } from 'node:module';
import crypto from 'node:crypto';
const req = createRequire(${JSON.stringify(path.join(ROOT, 'package.json'))});
const { SageMakerClient, CreateEndpointCommand, DescribeEndpointCommand, waitUntilEndpointInService } = req('@aws-sdk/client-sagemaker');
const { SageMakerRuntimeClient, InvokeEndpointCommand } = req('@aws-sdk/client-sagemaker-runtime');
const sm = new SageMakerClient({});
const { EndpointArn } = await sm.send(new CreateEndpointCommand({ EndpointName: 'ep-js', EndpointConfigName: 'cfg-a' }));
const w = await waitUntilEndpointInService({ client: sm, maxWaitTime: 60, minDelay: 1, maxDelay: 1 }, { EndpointName: 'ep-js' });
const d = await sm.send(new DescribeEndpointCommand({ EndpointName: 'ep-js' }));
const rt = new SageMakerRuntimeClient({});
const body = (await import('node:fs')).readFileSync(${JSON.stringify(path.join(tmp, 'body.bin'))});
const r = await rt.send(new InvokeEndpointCommand({ EndpointName: 'ep-js', Body: body, ContentType: 'application/octet-stream' }));
console.log(JSON.stringify({ EndpointArn, state: w.state, status: d.EndpointStatus, variant: r.InvokedProductionVariant,
  sha: crypto.createHash('sha256').update(r.Body).digest('hex') }));
`;
  const js = await runChild(process.execPath, ['--input-type=module', '-e', script], { env, timeoutMs: 90_000 });
  assert.equal(js.code, 0, js.stderr);
  assert.deepEqual(JSON.parse(js.stdout), {
    EndpointArn: 'arn:aws:sagemaker:us-east-1:000000000000:endpoint/ep-js', state: 'SUCCESS', status: 'InService', variant: 'A', sha: bodySha,
  });
});

test('dashboard metrics: requests/s and p50/p99 of an endpoint that answered', async () => {
  const key = new URL(server.dashboardUrl).searchParams.get('key') ?? '';
  const res = await fetch(`${server.url}/dashboard/api/endpoints/ep-js`, { headers: { cookie: `pm_dashboard=${key}` } });
  assert.equal(res.status, 200, await res.clone().text());
  const d = (await res.json()) as any;
  assert.ok(d.metrics.points.length >= 1 && d.metrics.points.some((p: any) => p.requests > 0 && p.p99Ms >= p.p50Ms && p.p50Ms > 0), JSON.stringify(d.metrics));
});

test('kill -9 of the server with endpoints InService: containers go with it, a restart brings them back answering; a normal stop leaves none', { timeout: 120_000 }, async () => {
  const before = containerPids();
  assert.ok(before.length >= 1, 'ep-cli and ep-js run containers');
  server.child.kill('SIGKILL');
  await server.exited;
  await until('the containers of the killed server to end (guardian)', () => containerPids().length === 0);
  server = await startServerProcess(stateDir, ['--images', imagesFile]);
  const r = await py(`${BOTO}
data = open(${JSON.stringify(path.join(tmp, 'body.bin'))}, "rb").read()
out = {}
for n in ["ep-js", "ep-cli"]:
    sm.get_waiter("endpoint_in_service").wait(EndpointName=n, WaiterConfig=W)
    out[n] = [sm.describe_endpoint(EndpointName=n)["EndpointStatus"], invoke(n, data)]
print(json.dumps(out))
`);
  for (const n of ['ep-js', 'ep-cli']) assert.deepEqual(r[n], ['InService', { sha: bodySha, variant: 'A', ct: 'application/octet-stream' }], n);
  assert.ok(containerPids().length >= 2);
  server.child.kill('SIGTERM');
  assert.equal(await server.exited, 0);
  assert.deepEqual(containerPids(), [], 'no container left behind after a normal stop');
  server = await startServerProcess(stateDir, ['--images', imagesFile]);
});

test('pipemode train --images / PIPEMODE_IMAGES: a mapped TrainingImage runs with "train" (ContainerArguments instead); an unmapped one is the clear error', { timeout: 60_000 }, async () => {
  const dir = path.join(tmp, 'train');
  fs.mkdirSync(path.join(dir, 'data'), { recursive: true });
  const data = crypto.randomBytes(50_000);
  fs.writeFileSync(path.join(dir, 'data', 'part.bin'), data);
  const images = path.join(dir, 'images.json');
  // the trainer writes its arguments and the sha256 of its channel into the model
  fs.writeFileSync(images, JSON.stringify({ 'my-trainer:*': ['sh', '-c', 'echo "$*" > "$SM_MODEL_DIR/args.txt"; sha256sum < "$SM_CHANNEL_TRAIN/part.bin" | cut -d" " -f1 > "$SM_MODEL_DIR/sha.txt"', 'trainer'] }));
  const job = (name: string, algo: Record<string, unknown>): string => {
    const file = path.join(dir, `${name}.json`);
    fs.writeFileSync(file, JSON.stringify({
      TrainingJobName: name, RoleArn: 'arn:aws:iam::000000000000:role/x',
      AlgorithmSpecification: { TrainingInputMode: 'File', ...algo },
      InputDataConfig: [{ ChannelName: 'train', DataSource: { S3DataSource: { S3DataType: 'S3Prefix', S3Uri: `${path.join(dir, 'data')}/` } } }],
      OutputDataConfig: { S3OutputPath: path.join(dir, 'out') },
      ResourceConfig: { InstanceCount: 1, InstanceType: 'ml.m5.large', VolumeSizeInGB: 1 }, StoppingCondition: { MaxRuntimeInSeconds: 60 },
    }));
    return file;
  };
  const jobsDir = path.join(dir, 'jobs');
  const model = (name: string): Record<string, string> => {
    const x = path.join(dir, `x-${name}`);
    fs.mkdirSync(x);
    execFileSync('tar', ['xzf', path.join(dir, 'out', name, 'output', 'model.tar.gz'), '-C', x]);
    return { args: fs.readFileSync(path.join(x, 'args.txt'), 'utf8').trim(), sha: fs.readFileSync(path.join(x, 'sha.txt'), 'utf8').trim() };
  };
  const a = await runPipemode(['train', job('mapped', { TrainingImage: 'my-trainer:1' }), '--images', images, '--jobs-dir', jobsDir]);
  assert.equal(a.code, 0, a.stderr);
  assert.deepEqual(model('mapped'), { args: 'train', sha: crypto.createHash('sha256').update(data).digest('hex') });
  const b = await runPipemode(['train', job('args', { TrainingImage: 'my-trainer:2', ContainerArguments: ['--epochs', '3'] }), '--jobs-dir', jobsDir], {
    env: { ...process.env, PIPEMODE_IMAGES: images },
  });
  assert.equal(b.code, 0, b.stderr);
  assert.equal(model('args').args, '--epochs 3');
  const c = await runPipemode(['train', job('unmapped', { TrainingImage: 'other:1' }), '--images', images, '--jobs-dir', jobsDir]);
  assert.equal(c.code, 2);
  assert.match(c.stderr, /no command to run.*TrainingImage other:1 is not pulled.*images file, --images FILE or PIPEMODE_IMAGES/);
});

test('boto3: a CreateTransformJob runs through the server (transform_job_completed_or_stopped), .out files byte for byte', { timeout: 120_000 }, async () => {
  const batch = path.join(tmp, 'batch_container.py');
  fs.copyFileSync(path.join(ROOT, 'test/fixtures/transform/batch_container.py'), batch);
  const images = path.join(tmp, 'images-batch.json');
  fs.writeFileSync(images, JSON.stringify({ 'test-container:*': ['python3', container], 'batch-container:*': ['python3', batch] }));
  server.child.kill('SIGTERM');
  await server.exited;
  server = await startServerProcess(stateDir, ['--images', images]);
  const input = path.join(tmp, 'tin');
  fs.mkdirSync(path.join(input, 'sub'), { recursive: true });
  const files = { 'a.csv': Array.from({ length: 500 }, (_, i) => `${i},${i * 2},${crypto.randomBytes(6).toString('hex')}`).join('\n') + '\n', 'sub/b.csv': '1,2,3\n4,5,6\n' };
  for (const [name, text] of Object.entries(files)) fs.writeFileSync(path.join(input, name), text);
  const output = path.join(tmp, 'tout');
  const r = await py(`${BOTO}
sm.create_model(ModelName="batch-echo", PrimaryContainer={"Image": "batch-container:1"})
job = {"ModelName": "batch-echo", "BatchStrategy": "MultiRecord", "MaxPayloadInMB": 1,
       "TransformInput": {"DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": ${JSON.stringify(`${input}/`)}}}, "ContentType": "text/csv", "SplitType": "Line"},
       "TransformOutput": {"S3OutputPath": ${JSON.stringify(output)}, "AssembleWith": "Line", "Accept": "text/csv"},
       "TransformResources": {"InstanceType": "ml.m5.large", "InstanceCount": 1}}
sm.create_transform_job(TransformJobName="tj-echo", **job)
sm.get_waiter("transform_job_completed_or_stopped").wait(TransformJobName="tj-echo", WaiterConfig=W)
d = sm.describe_transform_job(TransformJobName="tj-echo")
print(json.dumps({"status": d["TransformJobStatus"], "reason": d.get("FailureReason"), "start": "TransformStartTime" in d, "end": "TransformEndTime" in d}))
`);
  assert.equal(r.status, 'Completed', String(r.reason));
  assert.ok(r.start && r.end);
  const sha = (b: Buffer | string): string => crypto.createHash('sha256').update(b).digest('hex');
  for (const [name, text] of Object.entries(files)) {
    assert.equal(sha(fs.readFileSync(path.join(output, `${name}.out`))), sha(text), `${name}.out holds the echoed records in order`);
  }
});
