/**
 * `pipemode train` end to end: real training processes (test/fixtures/trainers/probe.py and the
 * quick-start's linear model), real FIFOs, the real Ceph RGW and local folders.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { once } from 'node:events';
import { setTimeout as sleep } from 'node:timers/promises';
import { GetObjectCommand, ListObjectsV2Command } from '@aws-sdk/client-s3';
import { mountAt } from '../../src/mount/fuse-binding.js';
import { compareKeys } from '../../src/storage/object-store.js';
import { extractArchive } from '../helpers/archive.js';
import { ROOT, runPipemode, startPipemode, sha256 } from '../helpers/cli.js';
import { expectedStream, makeContents, NAMES, writeLocal, writeS3 } from '../helpers/dataset.js';
import { newBucket, put, s3 } from '../helpers/s3.js';
import { frame } from '../helpers/recordio.js';

const PROBE = path.join(ROOT, 'test/fixtures/trainers/probe.py');
const LINEAR = path.join(ROOT, 'examples/linear/train.py');
const contents = makeContents();

interface Report {
  env: Record<string, string>;
  config: Record<string, string>;
  channels: Record<string, { mode: string; epochs?: string[]; files?: Record<string, string> }>;
  pid: number;
  child_pid?: number;
  restored?: string | null;
}

function workdir(): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), 'pipemode-train-'));
}

function writeJob(dir: string, request: Record<string, unknown>): string {
  const file = path.join(dir, 'job.json');
  fs.writeFileSync(file, JSON.stringify(request));
  return file;
}

function train(dir: string, job: string, extra: string[] = []): ReturnType<typeof runPipemode> {
  return runPipemode(['train', job, '--jobs-dir', path.join(dir, 'jobs'), ...extra]);
}

function record(dir: string, name: string): Record<string, unknown> {
  return JSON.parse(fs.readFileSync(path.join(dir, 'jobs', name, 'job.json'), 'utf8')) as Record<string, unknown>;
}

/** Whether `pid` is running (a zombie, killed but not yet reaped by init, is not). */
const alive = (pid: number): boolean => {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
};

test('config files and SM_* variables follow SageMaker and the training toolkit exactly', async () => {
  const dir = workdir();
  const local = writeLocal(contents);
  const job = writeJob(dir, {
    TrainingJobName: 'env-check',
    AlgorithmSpecification: { TrainingInputMode: 'File', ContainerEntrypoint: ['python3', PROBE] },
    HyperParameters: {
      epochs: '10', 'learning-rate': '0.00001', flag: 'true', name: '"quoted"', backend: 'pure_nccl', layers: '[64, 32]',
      opts: '{"b": 2, "a": "x"}', sagemaker_program: '"train.py"', sagemaker_region: '"us-west-2"', x: '1.0',
    },
    Environment: { MY_VAR: 'hello' },
    InputDataConfig: [
      { ChannelName: 'train', ContentType: 'application/x-recordio', InputMode: 'Pipe', RecordWrapperType: 'RecordIO', DataSource: { S3DataSource: { S3DataType: 'S3Prefix', S3Uri: local.raw } } },
      { ChannelName: 'validation', DataSource: { S3DataSource: { S3DataType: 'S3Prefix', S3Uri: `${local.raw}deep/`, S3DataDistributionType: 'ShardedByS3Key' } } },
    ],
    OutputDataConfig: { S3OutputPath: path.join(dir, 'out') },
    ResourceConfig: { InstanceCount: 1, InstanceType: 'ml.p3.2xlarge', VolumeSizeInGB: 50 },
    RoleArn: 'arn:aws:iam::123456789012:role/SageMaker',
  });
  const r = await train(dir, job);
  assert.equal(r.code, 0, r.stderr);
  const base = path.join(dir, 'jobs', 'env-check', 'algo-1');
  const report = JSON.parse(fs.readFileSync(path.join(base, 'model', 'algo-1.json'), 'utf8')) as Report;
  assert.equal(report.config.hyperparameters, JSON.stringify({
    epochs: '10', 'learning-rate': '0.00001', flag: 'true', name: '"quoted"', backend: 'pure_nccl', layers: '[64, 32]',
    opts: '{"b": 2, "a": "x"}', sagemaker_program: '"train.py"', sagemaker_region: '"us-west-2"', x: '1.0',
  }));
  assert.deepEqual(JSON.parse(report.config.inputdataconfig ?? ''), {
    train: { ContentType: 'application/x-recordio', TrainingInputMode: 'Pipe', S3DistributionType: 'FullyReplicated', RecordWrapperType: 'RecordIO' },
    validation: { TrainingInputMode: 'File', S3DistributionType: 'ShardedByS3Key', RecordWrapperType: 'None' },
  });
  assert.deepEqual(JSON.parse(report.config.resourceconfig ?? ''), {
    current_host: 'algo-1', current_instance_type: 'ml.p3.2xlarge', current_group_name: 'homogeneousCluster', hosts: ['algo-1'],
    instance_groups: [{ instance_group_name: 'homogeneousCluster', instance_type: 'ml.p3.2xlarge', hosts: ['algo-1'] }], network_interface_name: 'eth0',
  });
  const env = report.env;
  const expected: Record<string, string> = {
    TRAINING_JOB_NAME: 'env-check',
    TRAINING_JOB_ARN: 'arn:aws:sagemaker:us-east-1:000000000000:training-job/env-check',
    SAGEMAKER_BASE_DIR: base,
    MY_VAR: 'hello',
    SM_MODEL_DIR: `${base}/model`,
    SM_INPUT_DIR: `${base}/input`,
    SM_INPUT_CONFIG_DIR: `${base}/input/config`,
    SM_OUTPUT_DIR: `${base}/output`,
    SM_OUTPUT_DATA_DIR: `${base}/output/data`,
    SM_OUTPUT_INTERMEDIATE_DIR: `${base}/output/intermediate`,
    SM_CHANNELS: '["train","validation"]',
    SM_CHANNEL_TRAIN: `${base}/input/data/train`,
    SM_CHANNEL_VALIDATION: `${base}/input/data/validation`,
    // json-decoded, sorted, compact, ASCII; sagemaker_* split off
    SM_HPS: '{"backend":"pure_nccl","epochs":10,"flag":true,"layers":[64,32],"learning-rate":1e-05,"name":"quoted","opts":{"a":"x","b":2},"x":1.0}',
    SM_HP_EPOCHS: '10',
    'SM_HP_LEARNING-RATE': '1e-05',
    SM_HP_FLAG: 'true',
    SM_HP_NAME: 'quoted',
    SM_HP_BACKEND: 'pure_nccl',
    SM_HP_LAYERS: '[64,32]',
    SM_HP_OPTS: '{"a":"x","b":2}',
    SM_HP_X: '1.0',
    SM_USER_ARGS: '["--backend","pure_nccl","--epochs","10","--flag","True","--layers","[64, 32]","--learning-rate","1e-05","--name","quoted","--opts","a=x,b=2","-x","1.0"]',
    SM_FRAMEWORK_PARAMS: '{}',
    SM_USER_ENTRY_POINT: 'train.py',
    SM_MODULE_NAME: 'train',
    SM_MODULE_DIR: `${base}/code`,
    SM_CURRENT_HOST: 'algo-1',
    SM_HOSTS: '["algo-1"]',
    SM_CURRENT_INSTANCE_TYPE: 'ml.p3.2xlarge',
    SM_CURRENT_INSTANCE_GROUP: 'homogeneousCluster',
    SM_CURRENT_INSTANCE_GROUP_HOSTS: '["algo-1"]',
    SM_INSTANCE_GROUPS: '["homogeneousCluster"]',
    SM_DISTRIBUTION_INSTANCE_GROUPS: '[]',
    SM_IS_HETERO: 'false',
    SM_NETWORK_INTERFACE_NAME: 'eth0',
    SM_LOG_LEVEL: '20',
    SM_NUM_CPUS: String(os.cpus().length),
    SM_NUM_GPUS: '0',
    SM_NUM_NEURONS: '0',
    SM_FRAMEWORK_MODULE: '',
    SM_INPUT_DATA_CONFIG: '{"train":{"ContentType":"application/x-recordio","RecordWrapperType":"RecordIO","S3DistributionType":"FullyReplicated","TrainingInputMode":"Pipe"},"validation":{"RecordWrapperType":"None","S3DistributionType":"ShardedByS3Key","TrainingInputMode":"File"}}',
  };
  for (const [k, v] of Object.entries(expected)) assert.equal(env[k], v, k);
  const trainingEnv = JSON.parse(env.SM_TRAINING_ENV ?? '{}') as Record<string, unknown>;
  assert.equal(trainingEnv.job_name, 'env-check');
  assert.equal(trainingEnv.is_master, true);
  assert.deepEqual(trainingEnv.channel_input_dirs, { train: `${base}/input/data/train`, validation: `${base}/input/data/validation` });
  // the Pipe channel delivered RecordIO records; the File channel the files below the prefix's directory part
  assert.equal(report.channels.train?.mode, 'Pipe');
  // the probe read one epoch: every object below the prefix, in key order, each one RecordIO record
  const trainStream = expectedStream(contents, { dataType: 'S3Prefix', gzip: false, recordio: true, seed: undefined, epoch: 0, hostRank: 0, hostCount: 1 });
  assert.deepEqual(report.channels.train?.epochs, [sha256(trainStream)], 'the Pipe channel\'s bytes');
  assert.deepEqual(report.channels.validation?.files, { '1/2/3/4/5/6/7/8/9/leaf.bin': sha256(contents.get('deep/1/2/3/4/5/6/7/8/9/leaf.bin') as Buffer) });
  const modes = (p: string): string => (fs.statSync(p).mode & 0o777).toString(8);
  assert.equal(modes(base), '700');
  assert.equal(modes(path.join(base, 'input/config/hyperparameters.json')), '600');
});

test('File and Pipe mode of the same job train the same model', async () => {
  const dir = workdir();
  const data = path.join(dir, 'data');
  fs.mkdirSync(data);
  for (let s = 0; s < 5; s++) {
    const rows = Array.from({ length: 300 }, (_, i) => {
      const x1 = ((i * 37 + s * 11) % 200) / 100 - 1;
      const x2 = ((i * 53 + s * 7) % 200) / 100 - 1;
      return `${(3 * x1 - 2 * x2 + 0.5).toFixed(6)},${x1.toFixed(6)},${x2.toFixed(6)}\n`;
    });
    fs.writeFileSync(path.join(data, `part-${s}.csv`), rows.join(''));
  }
  const models: string[] = [];
  for (const mode of ['File', 'Pipe']) {
    const job = writeJob(dir, {
      TrainingJobName: `linear-${mode.toLowerCase()}`,
      AlgorithmSpecification: { TrainingInputMode: mode, ContainerEntrypoint: ['python3', LINEAR] },
      HyperParameters: { epochs: '3' },
      InputDataConfig: [{ ChannelName: 'train', DataSource: { S3DataSource: { S3DataType: 'S3Prefix', S3Uri: `${data}/` } } }],
      OutputDataConfig: { S3OutputPath: `file://${dir}/out` },
    });
    const r = await train(dir, job);
    assert.equal(r.code, 0, r.stderr);
    const files = await extractArchive(fs.readFileSync(path.join(dir, 'out', `linear-${mode.toLowerCase()}`, 'output', 'model.tar.gz')));
    models.push(files.get('model.json')?.toString() ?? 'missing');
    assert.match(r.stdout.toString(), /epoch 2: 1500 records/);
  }
  assert.equal(models[0], models[1]);
  const m = JSON.parse(models[0] ?? '{}') as { w1: number };
  assert.ok(Math.abs(m.w1 - 3) < 0.05);
});

test('a crashing trainer: Failed, with its failure text as FailureReason, exit code 10, outputs uploaded', async () => {
  const dir = workdir();
  const job = writeJob(dir, {
    TrainingJobName: 'crash',
    AlgorithmSpecification: { TrainingInputMode: 'File', ContainerEntrypoint: ['python3', PROBE], ContainerArguments: ['--exit', '3'] },
    OutputDataConfig: { S3OutputPath: path.join(dir, 'out') },
  });
  const r = await train(dir, job);
  assert.equal(r.code, 10, r.stderr);
  const rec = record(dir, 'crash');
  assert.equal(rec.TrainingJobStatus, 'Failed');
  assert.equal(rec.SecondaryStatus, 'Failed');
  assert.equal(rec.FailureReason, 'AlgorithmError: probe algo-1 failed on purpose\nTraceback: none, exit code: 3');
  assert.deepEqual((rec.SecondaryStatusTransitions as { Status: string }[]).map((t) => t.Status), ['Starting', 'Training', 'Uploading', 'Failed']);
  assert.ok(fs.existsSync(path.join(dir, 'out', 'crash', 'output', 'model.tar.gz')));
  const described = await runPipemode(['describe', 'crash', '--jobs-dir', path.join(dir, 'jobs')]);
  assert.equal((JSON.parse(described.stdout.toString()) as { FailureReason: string }).FailureReason, rec.FailureReason);
});

test('Pipe mode: the trainer starts while channels are listed; a listing that fails stops it (no EOF, no hang), Failed with the bucket named', async () => {
  const dir = workdir();
  const job = writeJob(dir, {
    TrainingJobName: 'unlisted',
    AlgorithmSpecification: { TrainingInputMode: 'Pipe', ContainerEntrypoint: ['python3', PROBE] },
    InputDataConfig: [
      { ChannelName: 'train', DataSource: { S3DataSource: { S3DataType: 'S3Prefix', S3Uri: 's3://no-such-bucket-for-pipemode/data/' } } },
    ],
    OutputDataConfig: { S3OutputPath: path.join(dir, 'out') },
  });
  const r = await train(dir, job);
  assert.equal(r.code, 3, r.stderr);
  const rec = record(dir, 'unlisted');
  assert.equal(rec.TrainingJobStatus, 'Failed');
  assert.match(rec.FailureReason as string, /^ClientError: .*no-such-bucket-for-pipemode.*\[PM_ERR_NO_SUCH_BUCKET\]/);
  // the probe waited on train_0 and was stopped: it never saw an epoch end
  assert.ok(!fs.existsSync(path.join(dir, 'jobs', 'unlisted', 'algo-1', 'model', 'algo-1.json')), 'the trainer never got a (false) complete epoch');
  assert.deepEqual(fs.readdirSync(path.join(dir, 'jobs', 'unlisted', 'algo-1', 'input', 'data')).filter((n) => /_\d+$/.test(n)), [], 'FIFOs removed');
});

test('SIGTERM to pipemode: a trainer that ignores SIGTERM is killed after the grace period, with its children; Stopped, exit 11', async () => {
  const dir = workdir();
  const job = writeJob(dir, {
    TrainingJobName: 'stubborn',
    AlgorithmSpecification: { TrainingInputMode: 'File', ContainerEntrypoint: ['python3', PROBE], ContainerArguments: ['--ignore-sigterm', '--fork', '--sleep', '600'] },
    OutputDataConfig: { S3OutputPath: path.join(dir, 'out') },
  });
  const pm = startPipemode(['train', job, '--jobs-dir', path.join(dir, 'jobs'), '--stop-grace', '2']);
  const closed = once(pm, 'close');
  let out = '';
  pm.stdout?.on('data', (d: Buffer) => (out += d.toString()));
  while (!out.includes('ready')) await sleep(20);
  const report = JSON.parse(fs.readFileSync(path.join(dir, 'jobs', 'stubborn', 'algo-1', 'model', 'algo-1.json'), 'utf8')) as Report;
  const started = Date.now();
  pm.kill('SIGTERM');
  const [code] = await closed as [number];
  const took = Date.now() - started;
  assert.equal(code, 11);
  assert.ok(took >= 1900 && took < 10_000, `stopped after ${took} ms`);
  assert.match(out, /SIGTERM ignored/);
  for (let i = 0; i < 40 && alive(report.child_pid ?? 0); i++) await sleep(50);
  assert.ok(!alive(report.pid), 'trainer killed');
  assert.ok(report.child_pid !== undefined && !alive(report.child_pid), 'its child killed too');
  const rec = record(dir, 'stubborn');
  assert.equal(rec.TrainingJobStatus, 'Stopped');
  assert.equal(rec.SecondaryStatus, 'Stopped');
  assert.ok(fs.existsSync(path.join(dir, 'out', 'stubborn', 'output', 'model.tar.gz')), 'a stopped job still uploads');
});

test('MaxRuntimeInSeconds: the job is stopped, MaxRuntimeExceeded, exit 12', async () => {
  const dir = workdir();
  const job = writeJob(dir, {
    TrainingJobName: 'too-long',
    AlgorithmSpecification: { TrainingInputMode: 'File', ContainerEntrypoint: ['python3', PROBE], ContainerArguments: ['--sleep', '600'] },
    OutputDataConfig: { S3OutputPath: path.join(dir, 'out') },
    StoppingCondition: { MaxRuntimeInSeconds: 1 },
  });
  const r = await train(dir, job);
  assert.equal(r.code, 12, r.stderr);
  assert.equal(record(dir, 'too-long').SecondaryStatus, 'MaxRuntimeExceeded');
});

test('if pipemode is killed outright, the training process (and its children) do not outlive it', async () => {
  const dir = workdir();
  const job = writeJob(dir, {
    TrainingJobName: 'orphan',
    AlgorithmSpecification: { TrainingInputMode: 'File', ContainerEntrypoint: ['python3', PROBE], ContainerArguments: ['--fork', '--sleep', '600'] },
    OutputDataConfig: { S3OutputPath: path.join(dir, 'out') },
  });
  const pm = startPipemode(['train', job, '--jobs-dir', path.join(dir, 'jobs')]);
  let out = '';
  pm.stdout?.on('data', (d: Buffer) => (out += d.toString()));
  while (!out.includes('ready')) await sleep(20);
  const report = JSON.parse(fs.readFileSync(path.join(dir, 'jobs', 'orphan', 'algo-1', 'model', 'algo-1.json'), 'utf8')) as Report;
  pm.kill('SIGKILL');
  const childPid = report.child_pid;
  assert.ok(childPid !== undefined && Number.isInteger(childPid) && childPid > 0, `the probe reports its child's pid: ${JSON.stringify(report.child_pid)}`);
  for (let i = 0; i < 100 && (alive(report.pid) || alive(childPid)); i++) await sleep(50);
  assert.ok(!alive(report.pid), 'trainer gone');
  assert.ok(!alive(childPid), 'its child gone');
});

for (const mode of ['File', 'Pipe']) {
  test(`a 3-host job (${mode} mode, ShardedByS3Key, S3) covers every object exactly once; outputs at the documented S3 keys`, async () => {
    const dir = workdir();
    const remote = await writeS3(contents);
    const outBucket = await newBucket('pm-out');
    const job = writeJob(dir, {
      TrainingJobName: `hosts-${mode.toLowerCase()}`,
      AlgorithmSpecification: { TrainingInputMode: mode, ContainerEntrypoint: ['python3', PROBE] },
      InputDataConfig: [{ ChannelName: 'train', RecordWrapperType: mode === 'Pipe' ? 'RecordIO' : 'None', DataSource: { S3DataSource: { S3DataType: 'S3Prefix', S3Uri: remote.raw, S3DataDistributionType: 'ShardedByS3Key' } } }],
      OutputDataConfig: { S3OutputPath: `s3://${outBucket}/results` },
      ResourceConfig: { InstanceCount: 3, InstanceType: 'ml.m5.xlarge' },
    });
    const r = await train(dir, job);
    assert.equal(r.code, 0, r.stderr);
    const get = async (key: string): Promise<Buffer> => Buffer.from(await (await s3().send(new GetObjectCommand({ Bucket: outBucket, Key: key }))).Body?.transformToByteArray() ?? []);
    const listed = await s3().send(new ListObjectsV2Command({ Bucket: outBucket }));
    assert.deepEqual(listed.Contents?.map((o) => o.Key).sort(), [`results/hosts-${mode.toLowerCase()}/output/model.tar.gz`, `results/hosts-${mode.toLowerCase()}/output/output.tar.gz`]);
    const model = await extractArchive(await get(`results/hosts-${mode.toLowerCase()}/output/model.tar.gz`));
    const output = await extractArchive(await get(`results/hosts-${mode.toLowerCase()}/output/output.tar.gz`));
    assert.deepEqual([...model.keys()].sort(), ['algo-1.json', 'algo-2.json', 'algo-3.json']);
    assert.equal(output.get('algo-2.txt')?.toString(), 'output of algo-2');
    const want = NAMES.map((n) => sha256(contents.get(n) as Buffer)).sort();
    const seen: string[] = [];
    for (const [name, body] of model) {
      const rep = JSON.parse(body.toString()) as Report;
      assert.equal(rep.env.SM_CURRENT_HOST, name.replace('.json', ''));
      assert.equal(rep.env.SM_HOSTS, '["algo-1","algo-2","algo-3"]');
      const ch = rep.channels.train;
      if (mode === 'File') {
        seen.push(...Object.values(ch?.files ?? {}));
      } else {
        // the host's epoch 0 is RecordIO records of its share; recover them from the raw digest by re-deriving the shard
        seen.push(...shardRecords(rep.env.SM_CURRENT_HOST ?? '', ch?.epochs?.[0] ?? ''));
      }
    }
    assert.deepEqual(seen.sort(), want);
    const rec = record(dir, `hosts-${mode.toLowerCase()}`);
    if (mode === 'Pipe') {
      const metrics = rec.ChannelMetrics as Record<string, { BytesDelivered: number; GetRequests: number; Retries: number }>;
      assert.deepEqual(Object.keys(metrics).sort(), ['algo-1/train', 'algo-2/train', 'algo-3/train']);
      assert.ok(Object.values(metrics).every((m) => m.BytesDelivered > 0 && m.GetRequests > 0 && m.Retries === 0), JSON.stringify(metrics));
    }
    assert.deepEqual(rec.ModelArtifacts, { S3ModelArtifacts: `s3://${outBucket}/results/hosts-${mode.toLowerCase()}/output/model.tar.gz` });
  });
}

/**
 * Pipe mode reports only the sha256 of a host's whole epoch; the shard a host must get is the
 * listing order dealt round-robin (no shuffle), so rebuild that stream and check the digest.
 */
function shardRecords(host: string, epochDigest: string): string[] {
  const rank = Number(host.replace('algo-', '')) - 1;
  const sorted = [...NAMES].sort(compareKeys);
  const mine = sorted.filter((_, i) => i % 3 === rank).map((n) => contents.get(n) as Buffer);
  const framed = Buffer.concat(mine.map(frame));
  assert.equal(epochDigest, createHash('sha256').update(framed).digest('hex'), `${host}'s epoch 0`);
  return mine.map((b) => sha256(b));
}

test('checkpoints: restored before start, new files uploaded, deleted files deleted in S3', async () => {
  const dir = workdir();
  const bucket = await newBucket('pm-ck');
  await put(bucket, 'ck/old.txt', 'from a previous run');
  const job = writeJob(dir, {
    TrainingJobName: 'checkpointed',
    AlgorithmSpecification: { TrainingInputMode: 'File', ContainerEntrypoint: ['python3', PROBE], ContainerArguments: ['--checkpoint'] },
    OutputDataConfig: { S3OutputPath: path.join(dir, 'out') },
    CheckpointConfig: { S3Uri: `s3://${bucket}/ck`, LocalPath: '/opt/ml/checkpoints' },
  });
  const r = await train(dir, job);
  assert.equal(r.code, 0, r.stderr);
  const report = JSON.parse(fs.readFileSync(path.join(dir, 'jobs', 'checkpointed', 'algo-1', 'model', 'algo-1.json'), 'utf8')) as Report;
  assert.equal(report.restored, 'from a previous run');
  const listed = await s3().send(new ListObjectsV2Command({ Bucket: bucket }));
  assert.deepEqual(listed.Contents?.map((o) => o.Key), ['ck/new.txt']);
});

test('bad requests fail before anything runs: exit 2 with the field named', async () => {
  const dir = workdir();
  const bad = writeJob(dir, { TrainingJobName: 'bad_name', AlgorithmSpecification: { TrainingInputMode: 'Pipe' }, OutputDataConfig: { S3OutputPath: 'out' } });
  let r = await train(dir, bad);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /TrainingJobName: 1-63 letters, digits and hyphens/);
  const typo = writeJob(dir, { TrainingJobName: 'ok', AlgorithmSpecification: { TrainingInputMode: 'Pipe', ContainerEntrypoint: ['true'] }, OutputDataConfig: { S3OutputPath: 'out' }, HyperParameter: {} });
  r = await train(dir, typo);
  assert.match(r.stderr, /HyperParameter: unknown key \(did you mean "HyperParameters"\?\)/);
  const noCommand = writeJob(dir, { TrainingJobName: 'ok', AlgorithmSpecification: { TrainingInputMode: 'Pipe', TrainingImage: 'x/y:1' }, OutputDataConfig: { S3OutputPath: 'out' } });
  r = await train(dir, noCommand);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /no command to run/);
  const gzipFile = writeJob(dir, {
    TrainingJobName: 'ok', AlgorithmSpecification: { TrainingInputMode: 'File', ContainerEntrypoint: ['true'] }, OutputDataConfig: { S3OutputPath: 'out' },
    InputDataConfig: [{ ChannelName: 'train', CompressionType: 'Gzip', DataSource: { S3DataSource: { S3DataType: 'S3Prefix', S3Uri: '/tmp/x' } } }],
  });
  r = await train(dir, gzipFile);
  assert.match(r.stderr, /in File mode, where CompressionType and RecordWrapperType must be None/);
});

test('FastFile mode: the channel is mounted read-only for the trainer (lazily fetched), and unmounted when the job ends', { skip: fs.existsSync('/dev/fuse') ? false : 'no /dev/fuse here' }, async () => {
  const dir = workdir();
  const remote = await writeS3(contents);
  const job = writeJob(dir, {
    TrainingJobName: 'fastfile',
    AlgorithmSpecification: { TrainingInputMode: 'FastFile', ContainerEntrypoint: ['python3', PROBE] },
    InputDataConfig: [{ ChannelName: 'train', DataSource: { S3DataSource: { S3DataType: 'S3Prefix', S3Uri: remote.raw } } }],
    OutputDataConfig: { S3OutputPath: path.join(dir, 'out') },
  });
  const r = await train(dir, job);
  assert.equal(r.code, 0, r.stderr);
  assert.doesNotMatch(r.stderr, /Downloading/);
  const base = path.join(dir, 'jobs', 'fastfile', 'algo-1');
  const report = JSON.parse(fs.readFileSync(path.join(base, 'model', 'algo-1.json'), 'utf8')) as Report;
  assert.equal((JSON.parse(report.config.inputdataconfig ?? '{}') as Record<string, { TrainingInputMode: string }>).train?.TrainingInputMode, 'FastFile');
  assert.deepEqual(report.channels.train?.files, Object.fromEntries(NAMES.map((n) => [n, sha256(contents.get(n) as Buffer)])));
  const mountPoint = path.join(base, 'input', 'data', 'train');
  assert.equal(mountAt(mountPoint), undefined, 'unmounted');
  assert.deepEqual(fs.readdirSync(mountPoint), []);
});

test('FastFile mode: unmounted after a trainer crash, and by the guardian when pipemode itself is killed', { skip: fs.existsSync('/dev/fuse') ? false : 'no /dev/fuse here' }, async () => {
  const dir = workdir();
  const local = writeLocal(contents);
  const request = (name: string, args: string[]): string => {
    fs.writeFileSync(path.join(dir, `${name}.json`), JSON.stringify({
      TrainingJobName: name,
      AlgorithmSpecification: { TrainingInputMode: 'FastFile', ContainerEntrypoint: ['python3', PROBE], ContainerArguments: args },
      InputDataConfig: [{ ChannelName: 'train', DataSource: { S3DataSource: { S3DataType: 'S3Prefix', S3Uri: local.raw } } }],
      OutputDataConfig: { S3OutputPath: path.join(dir, 'out') },
    }));
    return path.join(dir, `${name}.json`);
  };
  const mounted = (name: string): boolean => mountAt(path.join(dir, 'jobs', name, 'algo-1', 'input', 'data', 'train')) !== undefined;

  const crash = await train(dir, request('ff-crash', ['--exit', '2']));
  assert.equal(crash.code, 10, crash.stderr);
  assert.ok(!mounted('ff-crash'));

  const pm = startPipemode(['train', request('ff-killed', ['--sleep', '600']), '--jobs-dir', path.join(dir, 'jobs')]);
  let out = '';
  pm.stdout?.on('data', (d: Buffer) => (out += d.toString()));
  while (!out.includes('ready')) await sleep(20);
  assert.ok(mounted('ff-killed'));
  pm.kill('SIGKILL');
  for (let i = 0; i < 100 && mounted('ff-killed'); i++) await sleep(50);
  assert.ok(!mounted('ff-killed'), 'the guardian unmounted the orphaned FastFile mount');
});

/** The guardian processes (pipe/fifo-guardian-main.js) whose parent is `pid`. */
function guardiansOf(pid: number): number[] {
  const found: number[] = [];
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = fs.readFileSync(`/proc/${entry}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid === pid && alive(Number(entry)) && fs.readFileSync(`/proc/${entry}/cmdline`, 'utf8').includes('fifo-guardian-main')) found.push(Number(entry));
    } catch {
      // gone meanwhile
    }
  }
  return found;
}

test('the guardian the CLI starts early serves a Pipe job and is ended for a job without Pipe channels', { timeout: 60_000 }, async () => {
  const dir = workdir();
  const local = writeLocal(contents);
  const guardiansWhileTraining = async (mode: string): Promise<number[]> => {
    const job = writeJob(dir, {
      TrainingJobName: `guardian-${mode.toLowerCase()}`,
      // the trainer reads its channel's first byte, then waits for the test to look
      AlgorithmSpecification: { TrainingInputMode: mode, ContainerEntrypoint: ['python3', '-c', `import os,time
p = os.environ["SM_CHANNEL_TRAIN"]
f = open(p + "_0", "rb") if ${mode === 'Pipe' ? 'True' : 'False'} else open(os.path.join(p, sorted(os.listdir(p))[0]), "rb")
assert f.read(1)
open(${JSON.stringify(path.join(dir, 'ready'))}, "w").close()
time.sleep(30)`] },
      InputDataConfig: [{ ChannelName: 'train', DataSource: { S3DataSource: { S3DataType: 'S3Prefix', S3Uri: local.raw } } }],
      OutputDataConfig: { S3OutputPath: path.join(dir, 'out') },
    });
    fs.rmSync(path.join(dir, 'ready'), { force: true });
    const child = startPipemode(['train', job, '--jobs-dir', path.join(dir, 'jobs'), '-q']);
    const exited = once(child, 'exit');
    try {
      const deadline = Date.now() + 30_000;
      while (!fs.existsSync(path.join(dir, 'ready'))) {
        assert.ok(Date.now() < deadline, `${mode}: the trainer never read its first byte`);
        await sleep(50);
      }
      // a guardian that was told to end goes within moments of its own start-up
      let guardians = guardiansOf(child.pid as number);
      for (let i = 0; i < 100 && guardians.length > (mode === 'Pipe' ? 1 : 0); i++) {
        await sleep(50);
        guardians = guardiansOf(child.pid as number);
      }
      return guardians;
    } finally {
      child.kill('SIGTERM');
      await exited;
    }
  };
  assert.equal((await guardiansWhileTraining('Pipe')).length, 1, 'a Pipe job has exactly one guardian');
  assert.deepEqual(await guardiansWhileTraining('File'), [], 'a File job keeps no guardian');
});
