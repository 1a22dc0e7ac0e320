/**
 * `pipemode server` driven by the official clients only: boto3 (waiters, paginators, errors), the
 * AWS CLI (create-training-job --cli-input-json, wait, logs get-log-events) and
 * @aws-sdk/client-sagemaker with its waiter, each a separate process pointed at the server by
 * AWS_ENDPOINT_URL and the server's credentials file. Jobs are real: `sh` trainers reading a
 * Pipe-mode FIFO and a File-mode channel; their sha256 of the channel bytes, seen through the
 * logs API, must equal the data's. Then: 20 clients at once, models/configs/endpoints/transform
 * records, and restarts (SIGKILL at several points, SIGTERM) compared record by record.
 */
/* eslint-disable @typescript-eslint/no-unsafe-member-access, @typescript-eslint/no-unsafe-argument, @typescript-eslint/no-explicit-any, @typescript-eslint/no-unsafe-call -- client answers are checked field by field */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { ROOT, runPipemode } from '../helpers/cli.js';
import { runChild, runPython } from '../helpers/python-aws.js';
import { startServerProcess, type ServerProcess } from '../helpers/server-process.js';
import { pidAlive } from '../../src/container/container-process.js';

let tmp: string;
let stateDir: string;
let dataDir: string;
let server: ServerProcess;
let dataSha: string;

function jobRequest(name: string, script: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    TrainingJobName: name,
    RoleArn: 'arn:aws:iam::000000000000:role/pipemode',
    AlgorithmSpecification: { TrainingInputMode: 'Pipe', ContainerEntrypoint: ['sh', '-c', script] },
    InputDataConfig: [{ ChannelName: 'train', DataSource: { S3DataSource: { S3DataType: 'S3Prefix', S3Uri: `${dataDir}/`, S3DataDistributionType: 'FullyReplicated' } } }],
    OutputDataConfig: { S3OutputPath: path.join(tmp, 'out') },
    ResourceConfig: { InstanceCount: 1, InstanceType: 'ml.m5.large', VolumeSizeInGB: 1 },
    StoppingCondition: { MaxRuntimeInSeconds: 120 },
    ...extra,
  };
}

const PIPE_SHA = 'echo "sha=$(sha256sum < "$SM_INPUT_DIR/data/train_0" | cut -d" " -f1)"; echo done > "$SM_MODEL_DIR/m.txt"';

async function py(script: string, env = server.clientEnv()): Promise<string> {
  const r = await runPython(script, { env, timeoutMs: 120_000 });
  assert.equal(r.code, 0, `python failed:\n${r.stderr}\n${r.stdout}`);
  return r.stdout;
}

const BOTO = `
import boto3, json, sys, time
from botocore.exceptions import ClientError, WaiterError
sm = boto3.client("sagemaker")
logs = boto3.client("logs")
def err(fn, **kw):
    try:
        fn(**kw)
        return None
    except ClientError as e:
        return [e.response["Error"]["Code"], e.response["Error"]["Message"], e.response["ResponseMetadata"]["HTTPStatusCode"]]
`;

before(async () => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'pipemode-server-'));
  stateDir = path.join(tmp, 'state');
  dataDir = path.join(tmp, 'data');
  fs.mkdirSync(dataDir);
  const parts: Buffer[] = [];
  for (let i = 0; i < 4; i++) {
    const b = crypto.randomBytes(300_000 + i);
    fs.writeFileSync(path.join(dataDir, `part-${i}.bin`), b);
    parts.push(b);
  }
  dataSha = crypto.createHash('sha256').update(Buffer.concat(parts)).digest('hex');
  server = await startServerProcess(stateDir);
});

after(async () => {
  server?.child.kill('SIGTERM');
  await server?.exited;
  fs.rmSync(tmp, { recursive: true, force: true });
});

test('first start: a 0600 credentials file (profile pipemode) and how to use it', () => {
  const st = fs.statSync(server.credentialsFile);
  assert.equal(st.mode & 0o777, 0o600);
  assert.match(fs.readFileSync(server.credentialsFile, 'utf8'), /^\[pipemode\]\naws_access_key_id = PM[A-Z0-9]{18}\n/);
  assert.match(server.log(), /AWS_PROFILE=pipemode AWS_ENDPOINT_URL=http:\/\/127\.0\.0\.1:\d+/);
  assert.ok(!server.log().includes(fs.readFileSync(server.credentialsFile, 'utf8').split('aws_secret_access_key = ')[1]?.trim() ?? 'x'), 'the secret is never printed');
});

test('boto3: create, waiter, describe, logs with the channel bytes, paginator, filters, errors', async () => {
  const out = await py(`${BOTO}
req = json.loads(sys.argv[1]) if len(sys.argv) > 1 else None
jobs = json.loads(${JSON.stringify(JSON.stringify([jobRequest('boto-a', PIPE_SHA), jobRequest('boto-b', PIPE_SHA), jobRequest('boto-fail', 'echo bad >&2; echo "it broke" > "$SM_OUTPUT_DIR/failure"; exit 3')]))})
arns = [sm.create_training_job(**j)["TrainingJobArn"] for j in jobs]
first = sm.describe_training_job(TrainingJobName="boto-a")
sm.get_waiter("training_job_completed_or_stopped").wait(TrainingJobName="boto-a", WaiterConfig={"Delay": 1, "MaxAttempts": 60})
sm.get_waiter("training_job_completed_or_stopped").wait(TrainingJobName="boto-b", WaiterConfig={"Delay": 1, "MaxAttempts": 60})
failed = None
try:
    sm.get_waiter("training_job_completed_or_stopped").wait(TrainingJobName="boto-fail", WaiterConfig={"Delay": 1, "MaxAttempts": 60})
except WaiterError as e:
    failed = str(e)
d = sm.describe_training_job(TrainingJobName="boto-a")
streams = logs.describe_log_streams(logGroupName="/aws/sagemaker/TrainingJobs", logStreamNamePrefix="boto-a/")["logStreams"]
ev = logs.get_log_events(logGroupName="/aws/sagemaker/TrainingJobs", logStreamName=streams[0]["logStreamName"], startFromHead=True)
again = logs.get_log_events(logGroupName="/aws/sagemaker/TrainingJobs", logStreamName=streams[0]["logStreamName"], startFromHead=True, nextToken=ev["nextForwardToken"])
names = []
for page in sm.get_paginator("list_training_jobs").paginate(PaginationConfig={"PageSize": 1}):
    names += [s["TrainingJobName"] for s in page["TrainingJobSummaries"]]
desc = [s["TrainingJobName"] for s in sm.list_training_jobs(SortBy="Name", SortOrder="Descending")["TrainingJobSummaries"]]
contains = [s["TrainingJobName"] for s in sm.list_training_jobs(NameContains="FAIL")["TrainingJobSummaries"]]
completed = sorted(s["TrainingJobName"] for s in sm.list_training_jobs(StatusEquals="Completed")["TrainingJobSummaries"])
after = sm.list_training_jobs(CreationTimeAfter=time.time() + 3600)["TrainingJobSummaries"]
errors = {
  "missing": err(sm.describe_training_job, TrainingJobName="nope"),
  "dup": err(sm.create_training_job, **jobs[0]),
  "field": err(sm.create_training_job, **dict(jobs[0], TrainingJobName="x1", AlgorithmSpecification={"TrainingInputMode": "Pipes", "ContainerEntrypoint": ["true"]})),
  "stopDone": err(sm.stop_training_job, TrainingJobName="boto-a"),
  "token": err(sm.list_training_jobs, NextToken="garbage"),
}
print(json.dumps({"arns": arns, "first": first["TrainingJobStatus"], "d": d, "failed": failed, "fail": sm.describe_training_job(TrainingJobName="boto-fail"),
  "events": [e["message"] for e in ev["events"]], "again": [len(again["events"]), again["nextForwardToken"] == ev["nextForwardToken"]],
  "names": names, "desc": desc, "contains": contains, "completed": completed, "after": after, "errors": errors}, default=str))
`);
  const r = JSON.parse(out) as Record<string, any>;
  assert.deepEqual(r.arns, ['boto-a', 'boto-b', 'boto-fail'].map((n) => `arn:aws:sagemaker:us-east-1:000000000000:training-job/${n}`));
  assert.equal(r.first, 'InProgress');
  assert.equal(r.d.TrainingJobStatus, 'Completed');
  assert.equal(r.d.SecondaryStatus, 'Completed');
  assert.match(r.d.ModelArtifacts.S3ModelArtifacts, /boto-a\/output\/model\.tar\.gz$/);
  assert.deepEqual(r.d.SecondaryStatusTransitions.map((t: { Status: string }) => t.Status), ['Starting', 'Training', 'Uploading', 'Completed']);
  assert.equal(typeof r.d.CreationTime, 'string'); // boto3 parsed the epoch number into a datetime
  assert.deepEqual(r.events, [`sha=${dataSha}`], 'the trainer read exactly the channel bytes, and the logs API returned its output');
  assert.deepEqual(r.again, [0, true], 'a forward token with nothing new comes back unchanged');
  assert.match(r.failed, /Waiter TrainingJobCompletedOrStopped failed/);
  assert.equal(r.fail.TrainingJobStatus, 'Failed');
  assert.equal(r.fail.FailureReason, 'AlgorithmError: it broke, exit code: 3');
  assert.deepEqual(r.names, ['boto-a', 'boto-b', 'boto-fail'], 'paginator pages of 1, in creation order');
  assert.deepEqual(r.desc, ['boto-fail', 'boto-b', 'boto-a']);
  assert.deepEqual(r.contains, ['boto-fail']);
  assert.deepEqual(r.completed, ['boto-a', 'boto-b']);
  assert.deepEqual(r.after, []);
  assert.deepEqual(r.errors.missing, ['ValidationException', 'Requested resource not found.', 400]);
  assert.equal(r.errors.dup[0], 'ResourceInUse');
  assert.match(r.errors.dup[1], /already exists/);
  assert.equal(r.errors.field[0], 'ValidationException');
  assert.match(r.errors.field[1], /AlgorithmSpecification\.TrainingInputMode: must be one of Pipe \| File \| FastFile, got "Pipes" \(did you mean "Pipe"\?\)/);
  assert.deepEqual(r.errors.stopDone, ['ValidationException', 'The request was rejected because the training job is in status Completed.', 400]);
  assert.equal(r.errors.token[0], 'ValidationException');
});

test('boto3: StopTrainingJob → Stopping → Stopped, and the waiter accepts Stopped', async () => {
  const out = await py(`${BOTO}
sm.create_training_job(**json.loads(${JSON.stringify(JSON.stringify(jobRequest('boto-stop', 'trap "echo got TERM; exit 0" TERM; echo started; while true; do sleep 0.1; done')))}))
for _ in range(100):
    if sm.describe_training_job(TrainingJobName="boto-stop")["SecondaryStatus"] == "Training": break
    time.sleep(0.1)
time.sleep(0.5)
sm.stop_training_job(TrainingJobName="boto-stop")
s1 = sm.describe_training_job(TrainingJobName="boto-stop")["TrainingJobStatus"]
sm.get_waiter("training_job_completed_or_stopped").wait(TrainingJobName="boto-stop", WaiterConfig={"Delay": 1, "MaxAttempts": 60})
d = sm.describe_training_job(TrainingJobName="boto-stop")
print(json.dumps([s1, d["TrainingJobStatus"], [t["Status"] for t in d["SecondaryStatusTransitions"]]]))
`);
  const [s1, final, transitions] = JSON.parse(out) as [string, string, string[]];
  assert.ok(s1 === 'Stopping' || s1 === 'Stopped', s1);
  assert.equal(final, 'Stopped');
  assert.deepEqual(transitions, ['Starting', 'Training', 'Stopping', 'Uploading', 'Stopped']);
});

test('AWS CLI: create-training-job --cli-input-json, wait, describe, logs get-log-events', async () => {
  const file = path.join(tmp, 'cli-job.json');
  fs.writeFileSync(file, JSON.stringify(jobRequest('cli-job', PIPE_SHA)));
  const env = server.clientEnv();
  const created = await runChild('aws', ['sagemaker', 'create-training-job', '--cli-input-json', `file://${file}`], { env });
  assert.equal(created.code, 0, created.stderr);
  assert.equal(JSON.parse(created.stdout).TrainingJobArn, 'arn:aws:sagemaker:us-east-1:000000000000:training-job/cli-job');
  // the CLI's waiter sleeps 120 s between polls: let the job end first, so its first poll decides
  for (let i = 0; i < 100; i++) {
    const d = await runChild('aws', ['sagemaker', 'describe-training-job', '--training-job-name', 'cli-job', '--query', 'TrainingJobStatus', '--output', 'text'], { env });
    if (d.stdout.trim() === 'Completed') break;
    await sleep(200);
  }
  const waited = await runChild('aws', ['sagemaker', 'wait', 'training-job-completed-or-stopped', '--training-job-name', 'cli-job'], { env });
  assert.equal(waited.code, 0, waited.stderr);
  const missing = await runChild('aws', ['sagemaker', 'wait', 'training-job-completed-or-stopped', '--training-job-name', 'no-such-job'], { env });
  assert.equal(missing.code, 255);
  assert.match(missing.stderr, /Waiter TrainingJobCompletedOrStopped failed: Waiter encountered a terminal failure state: .*ValidationException/);
  const streams = await runChild('aws', ['logs', 'describe-log-streams', '--log-group-name', '/aws/sagemaker/TrainingJobs', '--log-stream-name-prefix', 'cli-job/'], { env });
  const name = JSON.parse(streams.stdout).logStreams[0].logStreamName as string;
  assert.match(name, /^cli-job\/algo-1-\d{10}$/);
  const events = await runChild('aws', ['logs', 'get-log-events', '--log-group-name', '/aws/sagemaker/TrainingJobs', '--log-stream-name', name, '--start-from-head'], { env });
  assert.equal(events.code, 0, events.stderr);
  assert.deepEqual(JSON.parse(events.stdout).events.map((e: { message: string }) => e.message), [`sha=${dataSha}`]);
  // pipemode describe sees the server's job in its folder
  const described = await runPipemode(['describe', 'cli-job', '--jobs-dir', path.join(stateDir, 'jobs')]);
  assert.equal(described.code, 0);
  assert.equal(JSON.parse(described.stdout.toString()).TrainingJobStatus, 'Completed');
});

test('@aws-sdk/client-sagemaker: CreateTrainingJob and waitUntilTrainingJobCompletedOrStopped', async () => {
  const script = `
import { createRequire } from 'node:module';
const { SageMakerClient, CreateTrainingJobCommand, DescribeTrainingJobCommand, waitUntilTrainingJobCompletedOrStopped } = createRequire(${JSON.stringify(path.join(ROOT, 'package.json'))})('@aws-sdk/client-sagemaker');
const sm = new SageMakerClient({});
const req = ${JSON.stringify(jobRequest('js-job', PIPE_SHA))};
const { TrainingJobArn } = await sm.send(new CreateTrainingJobCommand(req));
const w = await waitUntilTrainingJobCompletedOrStopped({ client: sm, maxWaitTime: 60, minDelay: 1, maxDelay: 1 }, { TrainingJobName: 'js-job' });
const d = await sm.send(new DescribeTrainingJobCommand({ TrainingJobName: 'js-job' }));
let missing;
try { await sm.send(new DescribeTrainingJobCommand({ TrainingJobName: 'nope' })); } catch (e) { missing = [e.name, e.message, e.$metadata.httpStatusCode]; }
console.log(JSON.stringify({ TrainingJobArn, state: w.state, status: d.TrainingJobStatus, created: d.CreationTime instanceof Date, missing }));
`;
  const r = await runChild(process.execPath, ['--input-type=module', '-e', script], { env: server.clientEnv(), timeoutMs: 90_000 });
  assert.equal(r.code, 0, r.stderr);
  const o = JSON.parse(r.stdout) as Record<string, unknown>;
  assert.deepEqual(o, {
    TrainingJobArn: 'arn:aws:sagemaker:us-east-1:000000000000:training-job/js-job', state: 'SUCCESS', status: 'Completed', created: true,
    missing: ['ValidationException', 'Requested resource not found.', 400],
  });
});

test('auth: unsigned, unknown key and a wrong secret are refused with the AWS error types', async () => {
  const unsigned = await fetch(server.url, { method: 'POST', headers: { 'X-Amz-Target': 'SageMaker.ListTrainingJobs', 'Content-Type': 'application/x-amz-json-1.1' }, body: '{}' });
  assert.equal(unsigned.status, 403);
  assert.equal(((await unsigned.json()) as { __type: string }).__type, 'MissingAuthenticationTokenException');
  const out = await py(`${BOTO}
bad_key = boto3.client("sagemaker", aws_access_key_id="PMXXXXXXXXXXXXXXXXXX", aws_secret_access_key="x" * 40)
key = open("${server.credentialsFile}").read().split("aws_access_key_id = ")[1].split()[0]
bad_secret = boto3.client("sagemaker", aws_access_key_id=key, aws_secret_access_key="y" * 40)
print(json.dumps([err(bad_key.list_training_jobs), err(bad_secret.list_training_jobs)]))
`);
  const [unknownKey, wrongSecret] = JSON.parse(out) as [string[], string[]];
  assert.deepEqual([unknownKey[0], unknownKey[2]], ['UnrecognizedClientException', 403]);
  assert.deepEqual([wrongSecret[0], wrongSecret[2]], ['InvalidSignatureException', 403]);
  assert.ok(!server.log().includes('y'.repeat(40)));
});

test('models, endpoint configs, endpoints, transform jobs: records, waiters, errors (an unmapped image, a missing input bucket: Failed)', async () => {
  const out = await py(`${BOTO}
c = {"Image": "my-image:1", "ModelDataUrl": "s3://bucket/model.tar.gz", "Environment": {"A": "1"}}
arn = sm.create_model(ModelName="m1", PrimaryContainer=c, ExecutionRoleArn="arn:aws:iam::000000000000:role/x")["ModelArn"]
sm.create_model(ModelName="m2", PrimaryContainer=c)
dupModel = err(sm.create_model, ModelName="M1", PrimaryContainer=c)
badModel = err(sm.create_model, ModelName="m3", PrimaryContainer=dict(c, Mode="Multi"))
cfg = sm.create_endpoint_config(EndpointConfigName="cfg1", ProductionVariants=[{"VariantName": "a", "ModelName": "m1", "InitialInstanceCount": 1, "InstanceType": "ml.m5.large"}])["EndpointConfigArn"]
cfgMissingModel = err(sm.create_endpoint, EndpointName="e0", EndpointConfigName="nope")
ep = sm.create_endpoint(EndpointName="Ep-One", EndpointConfigName="cfg1")["EndpointArn"]
inService = None
try:
    sm.get_waiter("endpoint_in_service").wait(EndpointName="Ep-One", WaiterConfig={"Delay": 1, "MaxAttempts": 20})
except WaiterError as e:
    inService = str(e)
d = sm.describe_endpoint(EndpointName="Ep-One")
listed = sm.list_endpoints(StatusEquals="Failed")["Endpoints"]
sm.delete_endpoint(EndpointName="Ep-One")
sm.get_waiter("endpoint_deleted").wait(EndpointName="Ep-One", WaiterConfig={"Delay": 1, "MaxAttempts": 5})
models = []
for page in sm.get_paginator("list_models").paginate(PaginationConfig={"PageSize": 1}):
    models += [m["ModelName"] for m in page["Models"]]
t = {"TransformJobName": "t1", "ModelName": "m1", "TransformInput": {"DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": "s3://bucket/in/"}}, "SplitType": "Line"},
     "TransformOutput": {"S3OutputPath": "s3://bucket/out/"}, "TransformResources": {"InstanceType": "ml.m5.large", "InstanceCount": 1}}
tarn = sm.create_transform_job(**t)["TransformJobArn"]
tfail = None
try:
    sm.get_waiter("transform_job_completed_or_stopped").wait(TransformJobName="t1", WaiterConfig={"Delay": 1, "MaxAttempts": 20})
except WaiterError as e:
    tfail = str(e)
td = sm.describe_transform_job(TransformJobName="t1")
tdup = err(sm.create_transform_job, **t)
tnomodel = err(sm.create_transform_job, **dict(t, TransformJobName="t2", ModelName="gone"))
tbad = err(sm.create_transform_job, **dict(t, TransformJobName="t3", TransformInput=dict(t["TransformInput"], SplitType="Lines")))
print(json.dumps({"arn": arn, "dupModel": dupModel, "badModel": badModel, "cfg": cfg, "cfgMissing": cfgMissingModel, "ep": ep, "inService": inService, "d": d,
  "listed": [e["EndpointName"] for e in listed], "afterDelete": err(sm.describe_endpoint, EndpointName="Ep-One"), "models": models,
  "descModel": sm.describe_model(ModelName="m1"), "missingModel": err(sm.describe_model, ModelName="zz"), "missingCfg": err(sm.describe_endpoint_config, EndpointConfigName="zz"),
  "tarn": tarn, "tfail": tfail, "td": td, "tdup": tdup, "tnomodel": tnomodel, "tbad": tbad,
  "delModel": [sm.delete_model(ModelName="m2")["ResponseMetadata"]["HTTPStatusCode"], err(sm.delete_model, ModelName="m2")]}, default=str))
`);
  const r = JSON.parse(out) as Record<string, any>;
  assert.equal(r.arn, 'arn:aws:sagemaker:us-east-1:000000000000:model/m1');
  assert.deepEqual(r.dupModel, ['ValidationException', 'Cannot create already existing model "arn:aws:sagemaker:us-east-1:000000000000:model/m1".', 400]);
  assert.equal(r.badModel[0], 'ValidationException');
  assert.match(r.badModel[1], /PrimaryContainer\.Mode: must be one of SingleModel \| MultiModel/);
  assert.deepEqual(r.cfgMissing, ['ValidationException', 'Could not find endpoint configuration "arn:aws:sagemaker:us-east-1:000000000000:endpoint-config/nope".', 400]);
  assert.equal(r.ep, 'arn:aws:sagemaker:us-east-1:000000000000:endpoint/ep-one', 'ARN names are lower-cased');
  assert.match(r.inService, /Waiter EndpointInService failed/);
  assert.equal(r.d.EndpointStatus, 'Failed');
  assert.match(r.d.FailureReason, /image "my-image:1" has no command to stand in for it/);
  assert.equal(r.d.ProductionVariants[0].VariantName, 'a');
  assert.deepEqual(r.listed, ['Ep-One']);
  assert.deepEqual(r.afterDelete, ['ValidationException', 'Could not find endpoint "arn:aws:sagemaker:us-east-1:000000000000:endpoint/ep-one".', 400]);
  assert.deepEqual(r.models, ['m2', 'm1'], 'ListModels: newest first by default');
  assert.equal(r.descModel.PrimaryContainer.Image, 'my-image:1');
  assert.match(r.missingModel[1], /^Could not find model "/);
  assert.match(r.missingCfg[1], /^Could not find endpoint configuration "/);
  assert.match(r.tfail, /Waiter TransformJobCompletedOrStopped failed/);
  assert.equal(r.td.TransformJobStatus, 'Failed');
  // the transform really runs (the same code as pipemode transform): its input bucket does not exist
  assert.match(r.td.FailureReason, /^ClientError: bucket of s3:\/\/bucket\/in\/ does not exist/);
  assert.equal(r.tdup[0], 'ResourceInUse');
  assert.match(r.tnomodel[1], /^Could not find model "arn:aws:sagemaker:us-east-1:000000000000:model\/gone"\.$/);
  assert.match(r.tbad[1], /TransformInput\.SplitType: must be one of None \| Line \| RecordIO \| TFRecord, got "Lines" \(did you mean "Line"\?\)/);
  assert.deepEqual(r.delModel, [200, ['ValidationException', 'Could not find model "arn:aws:sagemaker:us-east-1:000000000000:model/m2".', 400]]);
});

test('20 clients creating and describing at once', async () => {
  const out = await py(`${BOTO}
import threading
base = json.loads(${JSON.stringify(JSON.stringify(jobRequest('conc', 'echo "$TRAINING_JOB_NAME"')))})
results = [None] * 20
limited = [0]
def client(i):
    c = boto3.client("sagemaker")
    name = "conc-%d" % i
    while True:
        try:
            c.create_training_job(**dict(base, TrainingJobName=name))
            break
        except ClientError as e:
            if e.response["Error"]["Code"] != "ResourceLimitExceeded": raise
            limited[0] += 1
            time.sleep(0.2)
    seen = set()
    for _ in range(200):
        s = c.describe_training_job(TrainingJobName=name)
        seen.add(s["TrainingJobStatus"])
        if s["TrainingJobStatus"] in ("Completed", "Failed", "Stopped"): break
        time.sleep(0.1)
    results[i] = [name, s["TrainingJobStatus"], s["TrainingJobName"]]
ts = [threading.Thread(target=client, args=(i,)) for i in range(20)]
[t.start() for t in ts]; [t.join() for t in ts]
listed = []
for page in sm.get_paginator("list_training_jobs").paginate(NameContains="conc-"):
    listed += [s["TrainingJobName"] for s in page["TrainingJobSummaries"]]
print(json.dumps({"results": results, "listed": sorted(listed)}))
`);
  const r = JSON.parse(out) as { results: [string, string, string][]; listed: string[] };
  for (const [name, status, echoed] of r.results) {
    assert.equal(status, 'Completed', name);
    assert.equal(echoed, name);
  }
  assert.deepEqual(r.listed, Array.from({ length: 20 }, (_, i) => `conc-${i}`).sort());
});

test('a job run by `pipemode train` in the state\'s jobs folder is listed and described by the server', async () => {
  const file = path.join(tmp, 'train-cli.json');
  fs.writeFileSync(file, JSON.stringify(jobRequest('from-cli', PIPE_SHA)));
  const run = await runPipemode(['train', file, '--jobs-dir', path.join(stateDir, 'jobs')]);
  assert.equal(run.code, 0, run.stderr.toString());
  const out = await py(`${BOTO}
print(json.dumps([sm.describe_training_job(TrainingJobName="from-cli")["TrainingJobStatus"], [s["TrainingJobName"] for s in sm.list_training_jobs(NameContains="from-cli")["TrainingJobSummaries"]]]))
`);
  assert.deepEqual(JSON.parse(out), ['Completed', ['from-cli']]);
});

/** Every record as DescribeTrainingJob returns it, by name. */
async function allJobs(srv: ServerProcess): Promise<Record<string, Record<string, unknown>>> {
  const out = await py(`${BOTO}
names = [s["TrainingJobName"] for p in sm.get_paginator("list_training_jobs").paginate() for s in p["TrainingJobSummaries"]]
print(json.dumps({n: sm.describe_training_job(TrainingJobName=n) for n in names}, default=str))
`, srv.clientEnv());
  const all = JSON.parse(out) as Record<string, Record<string, unknown>>;
  for (const r of Object.values(all)) delete r.ResponseMetadata;
  return all;
}

test('restart: kill -9 while Starting and while Training, then SIGTERM: finished records unchanged, running ones Failed "interrupted", trainers gone', async () => {
  const before = await allJobs(server);
  const pidFile = path.join(tmp, 'trainer.pid');
  const longJob = (name: string) => jobRequest(name, `echo $$ > ${pidFile}.${name}; echo training; while true; do sleep 0.2; done`);
  // a second server on the same state folder is refused while this one holds it (exit 2, the holder's pid named)
  const second = await runPipemode(['server', '--state', stateDir, '--port', '0']);
  assert.equal(second.code, 2, second.stderr.toString());
  assert.match(second.stderr.toString(), new RegExp(`in use by another pipemode server \\(pid ${server.child.pid}\\).*\\[PM_ERR_SERVER_STATE\\]`));
  // 1: SIGKILL right after CreateTrainingJob answered
  await py(`${BOTO}
sm.create_training_job(**json.loads(${JSON.stringify(JSON.stringify(longJob('kill-early')))}))
`);
  server.child.kill('SIGKILL');
  await server.exited;
  server = await startServerProcess(stateDir);
  // 2: SIGKILL while the trainer runs
  await py(`${BOTO}
sm.create_training_job(**json.loads(${JSON.stringify(JSON.stringify(longJob('kill-training')))}))
for _ in range(100):
    if sm.describe_training_job(TrainingJobName="kill-training")["SecondaryStatus"] == "Training": break
    time.sleep(0.1)
`);
  for (let i = 0; i < 50 && !fs.existsSync(`${pidFile}.kill-training`); i++) await sleep(100);
  const trainerPid = Number(fs.readFileSync(`${pidFile}.kill-training`, 'utf8'));
  assert.ok(pidAlive(trainerPid));
  server.child.kill('SIGKILL');
  await server.exited;
  for (let i = 0; i < 50 && pidAlive(trainerPid); i++) await sleep(100);
  assert.ok(!pidAlive(trainerPid), 'the trainer died with the server (its guardian killed the group)');
  server = await startServerProcess(stateDir);
  // 3: SIGTERM while a trainer runs
  await py(`${BOTO}
sm.create_training_job(**json.loads(${JSON.stringify(JSON.stringify(longJob('term-training')))}))
for _ in range(100):
    if sm.describe_training_job(TrainingJobName="term-training")["SecondaryStatus"] == "Training": break
    time.sleep(0.1)
`);
  server.child.kill('SIGTERM');
  assert.equal(await server.exited, 0);
  server = await startServerProcess(stateDir);

  const afterAll = await allJobs(server);
  for (const [name, rec] of Object.entries(before)) assert.deepEqual(afterAll[name], rec, `${name} unchanged across three restarts`);
  for (const name of ['kill-early', 'kill-training', 'term-training']) {
    const r = afterAll[name] as { TrainingJobStatus: string; FailureReason: string; SecondaryStatusTransitions: { Status: string; EndTime?: unknown }[] };
    assert.equal(r.TrainingJobStatus, 'Failed', name);
    assert.match(r.FailureReason, /^interrupted: /, name);
    assert.ok(r.SecondaryStatusTransitions.every((t) => t.EndTime !== undefined), `${name}: every transition closed`);
  }
  assert.match((afterAll['term-training'] as { FailureReason: string }).FailureReason, /SIGTERM/);
  const onDisk = JSON.parse(fs.readFileSync(path.join(stateDir, 'jobs', 'kill-training', 'job.json'), 'utf8')) as { TrainingJobStatus: string };
  assert.equal(onDisk.TrainingJobStatus, 'Failed', 'job.json agrees with the store');
});
