import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isFrameworkImage, scriptCommand, scriptModeOf } from './script-mode.js';

const job = (hps: Record<string, string>, image = '763104351884.dkr.ecr.us-west-2.amazonaws.com/pytorch-training:2.1.0-gpu-py310', environment: Record<string, string> = {}) =>
  ({ trainingImage: image, hyperParameters: hps, environment });
const sdk = { sagemaker_program: '"train.py"', sagemaker_submit_directory: '"s3://bucket/job/source/sourcedir.tar.gz"', sagemaker_region: '"us-west-2"', epochs: '10', lr: '0.1' };

test('isFrameworkImage: SageMaker framework repositories, not other images', () => {
  for (const image of ['763104351884.dkr.ecr.us-east-1.amazonaws.com/pytorch-training:2.1.0-cpu-py310', '683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-scikit-learn:1.2-1-cpu-py3',
    '763104351884.dkr.ecr.us-east-1.amazonaws.com/tensorflow-training:2.13-cpu', '683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-xgboost:1.7-1', 'huggingface-pytorch-training@sha256:ab']) {
    assert.ok(isFrameworkImage(image), image);
  }
  for (const image of [undefined, 'my-registry/my-trainer:latest', '382416733822.dkr.ecr.us-east-1.amazonaws.com/linear-learner:1', 'pytorch-inference:2.1']) assert.ok(!isFrameworkImage(image), String(image));
});

test('scriptModeOf: SDK hyperparameters → program, source, user args; nothing for other jobs', () => {
  const launch = scriptModeOf(job(sdk), {});
  assert.ok(launch !== undefined);
  assert.equal(launch.program, 'train.py');
  assert.equal(launch.submitDirectory, 's3://bucket/job/source/sourcedir.tar.gz');
  assert.equal(launch.distribution, 'none');
  assert.equal(launch.python, 'python3');
  assert.deepEqual(launch.userArgs, ['--epochs', '10', '--lr', '0.1']);
  assert.deepEqual(scriptCommand(launch, { rank: 0, count: 1, masterAddr: 'algo-1' }, 4, 0), ['python3', 'train.py', '--epochs', '10', '--lr', '0.1']);
  assert.equal(scriptModeOf(job(sdk, 'my/own:image'), {}), undefined);
  assert.equal(scriptModeOf(job({ epochs: '1' }), {}), undefined);
  assert.equal(scriptModeOf({ trainingImage: undefined, hyperParameters: sdk, environment: {} }, {}), undefined);
  assert.equal(scriptModeOf(job(sdk, 'x/pytorch-training:1', { PIPEMODE_PYTHON: '/usr/bin/python3' }), {})?.python, '/usr/bin/python3');
});

test('torch_distributed: torchrun as the PyTorch container runs it; GPUs, else CPUs, per node', () => {
  const launch = scriptModeOf(job({ ...sdk, sagemaker_torch_distributed_enabled: 'true' }), {});
  assert.ok(launch !== undefined);
  assert.deepEqual(scriptCommand(launch, { rank: 2, count: 3, masterAddr: 'algo-1' }, 8, 0), ['python3', '-m', 'torch.distributed.run',
    '--nnodes', '3', '--node_rank', '2', '--nproc_per_node', '8', '--master_addr', 'algo-1', '--master_port', '7777', 'train.py', '--epochs', '10', '--lr', '0.1']);
  assert.equal(scriptCommand(launch, { rank: 0, count: 3, masterAddr: 'algo-1' }, 8, 4)[8], '4');
  const two = scriptModeOf(job({ ...sdk, sagemaker_torch_distributed_enabled: 'true' }, 'x/pytorch-training:2', { PIPEMODE_NPROC_PER_NODE: '2' }), {});
  assert.equal(scriptCommand(two as NonNullable<typeof two>, { rank: 0, count: 3, masterAddr: 'algo-1' }, 8, 4)[8], '2');
});

test('unsupported distributions and unusable programs are refused with PM_ERR_SCRIPT_MODE naming the hyperparameter', () => {
  for (const key of ['sagemaker_mpi_enabled', 'sagemaker_distributed_dataparallel_enabled', 'sagemaker_parameter_server_enabled', 'sagemaker_pytorch_xla_multi_worker_enabled']) {
    assert.throws(() => scriptModeOf(job({ ...sdk, [key]: 'true' }), {}), (err: { code: string; details: { field: string } }) => err.code === 'PM_ERR_SCRIPT_MODE' && err.details.field === `HyperParameters.${key}`);
  }
  assert.ok(scriptModeOf(job({ ...sdk, sagemaker_mpi_enabled: 'false' }), {}) !== undefined);
  assert.throws(() => scriptModeOf(job({ sagemaker_program: '"train.py"' }), {}), { code: 'PM_ERR_SCRIPT_MODE' });
  assert.throws(() => scriptModeOf(job({ ...sdk, sagemaker_program: '"../x.py"' }), {}), { code: 'PM_ERR_SCRIPT_MODE' });
  assert.throws(() => scriptModeOf(job({ ...sdk, sagemaker_program: '"/etc/x.py"' }), {}), { code: 'PM_ERR_SCRIPT_MODE' });
});
