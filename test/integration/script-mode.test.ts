/**
 * Plain script mode end to end (a framework image, the SDK's sagemaker_program and
 * sagemaker_submit_directory, no distribution): a real sourcedir.tar.gz on the test S3 server (Ceph
 * RGW), then the same source as a local archive and a local folder; the program
 * (test/fixtures/trainers/script_mode/train.py, under `python3` on PATH) parses its arguments,
 * checks them against SM_USER_ARGS, imports a module of its own archive, reads a File-mode channel
 * from S3 and writes a model, packed into model.tar.gz on S3.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { GetObjectCommand } from '@aws-sdk/client-s3';
import * as tar from 'tar';
import { extractArchive } from '../helpers/archive.js';
import { ROOT, runPipemode } from '../helpers/cli.js';
import { newBucket, put, s3 } from '../helpers/s3.js';

const SOURCE = path.join(ROOT, 'test/fixtures/trainers/script_mode');
const SOURCE_FILES = ['train.py', 'helpers/__init__.py', 'helpers/digest.py', 'requirements.txt'];
const IMAGE = '683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-scikit-learn:1.2-1-cpu-py3';

const sha = (b: Buffer | string): string => createHash('sha256').update(b).digest('hex');

interface Report {
  argv: string[];
  parsed: Record<string, unknown>;
  cwd: string;
  env: Record<string, string>;
  training_env: Record<string, unknown>;
  files: Record<string, string>;
}

/** The request the SageMaker Python SDK sends for `SKLearn(entry_point="train.py", source_dir=…, hyperparameters=…).fit()`. */
function request(name: string, submitDirectory: string, data: string, output: string): Record<string, unknown> {
  return {
    TrainingJobName: name,
    AlgorithmSpecification: { TrainingImage: IMAGE, TrainingInputMode: 'File' },
    HyperParameters: {
      epochs: '3', lr: '0.05', optimizer: '"adam"', layers: '[64, 32]', 'use-bias': 'true',
      sagemaker_program: '"train.py"', sagemaker_submit_directory: JSON.stringify(submitDirectory),
      sagemaker_container_log_level: '20', sagemaker_job_name: JSON.stringify(name), sagemaker_region: '"us-east-1"',
    },
    InputDataConfig: [{ ChannelName: 'train', DataSource: { S3DataSource: { S3DataType: 'S3Prefix', S3Uri: data } } }],
    OutputDataConfig: { S3OutputPath: output },
    ResourceConfig: { InstanceCount: 1, InstanceType: 'ml.m5.large' },
  };
}

test('script mode without distribution: sourcedir.tar.gz from S3, argv = SM_USER_ARGS, the SM_* environment, a File channel read, model.tar.gz on S3; requirements.txt reported, not installed', { timeout: 90_000 }, async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pipemode-script-'));
  const archive = path.join(dir, 'sourcedir.tar.gz');
  await tar.c({ gzip: true, cwd: SOURCE, file: archive }, SOURCE_FILES);
  const bucket = await newBucket('pm-script');
  await put(bucket, 'src/sourcedir.tar.gz', fs.readFileSync(archive));
  const data = new Map([['a.csv', '1,2,3\n4,5,6\n'], ['sub/b.csv', 'x,y\n'.repeat(500)], ['sub/deeper/c.bin', Buffer.alloc(70_000, 9).toString('latin1')]]);
  for (const [key, body] of data) await put(bucket, `data/train/${key}`, Buffer.from(body, 'latin1'));
  const submit = `s3://${bucket}/src/sourcedir.tar.gz`;
  const name = 'script-plain';
  fs.writeFileSync(path.join(dir, 'job.json'), JSON.stringify(request(name, submit, `s3://${bucket}/data/train/`, `s3://${bucket}/out`)));

  const r = await runPipemode(['train', path.join(dir, 'job.json'), '--jobs-dir', path.join(dir, 'jobs')]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, new RegExp(`TrainingImage ${IMAGE.replace(/[.]/g, '\\.')}: script mode: train\\.py from s3://${bucket}/src/sourcedir\\.tar\\.gz\\n`));
  assert.match(r.stderr, /sourcedir\.tar\.gz: requirements\.txt lists 2 package\(s\) \(pipemode-never-installed==1\.0, numpy>=1\.20\): not installed/);

  // the source unpacked into code/, byte for byte
  const base = path.join(dir, 'jobs', name, 'algo-1');
  for (const f of SOURCE_FILES) assert.equal(sha(fs.readFileSync(path.join(base, 'code', f))), sha(fs.readFileSync(path.join(SOURCE, f))), f);

  const get = async (key: string): Promise<Buffer> => Buffer.from(await (await s3().send(new GetObjectCommand({ Bucket: bucket, Key: key }))).Body?.transformToByteArray() ?? []);
  const model = await extractArchive(await get(`out/${name}/output/model.tar.gz`));
  assert.deepEqual([...model.keys()].sort(), ['report.json', 'weights/w.bin']);
  const rep = JSON.parse((model.get('report.json') as Buffer).toString()) as Report;

  // arguments as the toolkit builds them: sorted keys, values json-decoded then Python's str()
  assert.deepEqual(rep.argv, ['--epochs', '3', '--layers', '[64, 32]', '--lr', '0.05', '--optimizer', 'adam', '--use-bias', 'True']);
  assert.deepEqual(rep.parsed, { epochs: 3, lr: 0.05, optimizer: 'adam', layers: [64, 32], use_bias: 'True' });
  assert.equal(rep.cwd, path.join(base, 'code'));
  const env = rep.env;
  assert.deepEqual(JSON.parse(env.SM_USER_ARGS as string), rep.argv);
  assert.deepEqual(JSON.parse(env.SM_HPS as string), { epochs: 3, layers: [64, 32], lr: 0.05, optimizer: 'adam', 'use-bias': true });
  assert.deepEqual(
    [env.SM_HP_EPOCHS, env.SM_HP_OPTIMIZER, env['SM_HP_USE-BIAS'], env.SM_HP_LAYERS, env.SM_HP_SAGEMAKER_PROGRAM],
    ['3', 'adam', 'true', '[64,32]', undefined]);
  assert.equal(env.SM_USER_ENTRY_POINT, 'train.py');
  assert.equal(env.SM_MODULE_NAME, 'train');
  assert.equal(env.SM_MODULE_DIR, submit);
  assert.equal(env.SM_FRAMEWORK_PARAMS, '{}');
  assert.equal(env.SM_LOG_LEVEL, '20');
  assert.equal(env.SM_CHANNELS, '["train"]');
  assert.equal(env.SM_CHANNEL_TRAIN, path.join(base, 'input/data/train'));
  assert.equal(env.SM_MODEL_DIR, path.join(base, 'model'));
  assert.equal(env.SM_OUTPUT_DATA_DIR, path.join(base, 'output/data'));
  assert.equal(env.SM_CURRENT_HOST, 'algo-1');
  assert.equal(env.SM_HOSTS, '["algo-1"]');
  assert.equal(env.SM_NUM_CPUS, String(os.cpus().length));
  assert.equal(rep.training_env.job_name, name);
  assert.equal(rep.training_env.module_dir, submit);

  // the channel the program read is the data set, and its model is made from it
  assert.deepEqual(rep.files, Object.fromEntries([...data].map(([k, v]) => [k, sha(Buffer.from(v, 'latin1'))])));
  let h: Buffer = Buffer.from(Object.keys(rep.files).sort().map((k) => rep.files[k]).join(''));
  for (let e = 0; e < 3; e++) h = createHash('sha256').update(h).digest();
  assert.equal(sha(model.get('weights/w.bin') as Buffer), sha(Buffer.concat([h, h, h, h])));
  const output = await extractArchive(await get(`out/${name}/output/output.tar.gz`));
  assert.deepEqual(JSON.parse((output.get('metrics.json') as Buffer).toString()), { files: 3, epochs: 3 });

  // the same source as a local archive and as a local folder (the SDK's local mode)
  const copy = path.join(dir, 'folder');
  fs.cpSync(SOURCE, copy, { recursive: true });
  for (const [variant, source] of [['script-local-archive', archive], ['script-local-folder', copy]] as const) {
    fs.writeFileSync(path.join(dir, `${variant}.json`), JSON.stringify(request(variant, source, `s3://${bucket}/data/train/`, path.join(dir, 'out'))));
    const rl = await runPipemode(['train', path.join(dir, `${variant}.json`), '--jobs-dir', path.join(dir, 'jobs')]);
    assert.equal(rl.code, 0, rl.stderr);
    assert.match(rl.stderr, /requirements\.txt lists 2 package\(s\)/);
    const local = await extractArchive(fs.readFileSync(path.join(dir, 'out', variant, 'output', 'model.tar.gz')));
    const lrep = JSON.parse((local.get('report.json') as Buffer).toString()) as Report;
    assert.deepEqual(lrep.argv, rep.argv);
    assert.equal(lrep.env.SM_MODULE_DIR, source);
    assert.deepEqual(lrep.files, rep.files);
  }
});
