import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { hostLayout } from './container-layout.js';
import { countGpus, countNeurons, smVariables } from './training-env.js';

/**
 * What the SageMaker training toolkit (sagemaker-training-toolkit 5.x,
 * src/sagemaker_training/environment.py) sets: the keys of `Environment.to_env_vars()`'s dict
 * (each becomes SM_<KEY>; plus channel_<name> per channel, hp_<name> per user hyperparameter and
 * `topology` only when resourceconfig.json has one), and the properties of `Environment`, which
 * `dict(self)` puts into SM_TRAINING_ENV.
 */
const TO_ENV_VARS_KEYS = [
  'hosts', 'network_interface_name', 'hps', 'user_entry_point', 'framework_params', 'resource_config', 'input_data_config',
  'output_data_dir', 'channels', 'current_host', 'current_instance_type', 'current_instance_group', 'current_instance_group_hosts',
  'instance_groups', 'instance_groups_dict', 'distribution_instance_groups', 'is_hetero', 'module_name', 'log_level',
  'framework_module', 'input_dir', 'input_config_dir', 'output_dir', 'num_cpus', 'num_gpus', 'num_neurons', 'model_dir',
  'module_dir', 'training_env', 'user_args', 'output_intermediate_dir',
];
const ENVIRONMENT_PROPERTIES = [
  'current_instance_type', 'is_hetero', 'current_instance_group', 'instance_groups', 'instance_groups_dict',
  'current_instance_group_hosts', 'distribution_hosts', 'distribution_instance_groups', 'master_hostname', 'model_dir',
  'current_host', 'num_gpus', 'num_neurons', 'num_cpus', 'module_name', 'module_dir', 'log_level', 'user_entry_point',
  'is_master', 'job_name', 'additional_framework_parameters', 'hosts', 'channel_input_dirs', 'network_interface_name',
  'input_dir', 'input_config_dir', 'output_dir', 'hyperparameters', 'resource_config', 'input_data_config',
  'output_data_dir', 'output_intermediate_dir', 'framework_module', 'is_modelparallel_enabled', 'is_smddpmprun_installed',
  'is_smddprun_installed', 'topology',
];

const hosts = ['algo-1', 'algo-2'];
function input(extra: { topology?: unknown[]; environment?: Record<string, string> } = {}): Parameters<typeof smVariables>[0] {
  return {
    job: { name: 'j', hyperParameters: { epochs: '3', sagemaker_program: '"train.py"' }, channels: [{ name: 'train' }, { name: 'eval' }], environment: extra.environment ?? {} },
    layout: hostLayout('/opt/ml'),
    files: {
      hyperparameters: {},
      inputdataconfig: { train: { TrainingInputMode: 'File' }, eval: { TrainingInputMode: 'Pipe' } },
      resourceconfig: {
        current_host: 'algo-2', current_instance_type: 'ml.trn2.48xlarge', current_group_name: 'homogeneousCluster', hosts,
        instance_groups: [{ instance_group_name: 'homogeneousCluster', instance_type: 'ml.trn2.48xlarge', hosts }], network_interface_name: 'eth0',
        ...(extra.topology !== undefined ? { topology: extra.topology } : {}),
      },
    },
    region: 'us-east-1',
    gpus: 0,
  };
}

test('SM_* variables: exactly the keys of the toolkit\'s Environment.to_env_vars(), SM_TRAINING_ENV every Environment property', () => {
  const env = smVariables(input());
  const expected = [...TO_ENV_VARS_KEYS, 'channel_train', 'channel_eval', 'hp_epochs'].map((k) => `SM_${k.toUpperCase()}`).sort();
  assert.deepEqual(Object.keys(env).sort(), expected);
  assert.equal(env.SM_NUM_NEURONS, '64'); // the toolkit's fixed count for trn2.48xlarge
  const trainingEnv = JSON.parse(env.SM_TRAINING_ENV ?? '') as Record<string, unknown>;
  assert.deepEqual(Object.keys(trainingEnv).sort(), [...ENVIRONMENT_PROPERTIES].sort());
  assert.equal(trainingEnv.num_neurons, 64);
  assert.deepEqual(trainingEnv.topology, []);
  assert.equal(trainingEnv.is_modelparallel_enabled, null);
  assert.equal(trainingEnv.is_smddprun_installed, false);
  assert.equal(trainingEnv.master_hostname, 'algo-1');
  assert.equal(trainingEnv.is_master, false);
  assert.equal(env.SM_MODULE_NAME, 'train');
});

test('SM_TOPOLOGY only when resourceconfig.json has a topology; the job\'s Environment counts as the container\'s', () => {
  const topology = [{ hostName: 'algo-1', capacityUnitId: 'u1' }];
  const env = smVariables(input({ topology, environment: { SAGEMAKER_PROGRAM: 'entry.py', SM_HP_MP_PARAMETERS: '{"partitions": 2}', SAGEMAKER_TRAINING_MODULE: 'my.module' } }));
  assert.equal(env.SM_TOPOLOGY, '[{"capacityUnitId":"u1","hostName":"algo-1"}]');
  assert.equal(env.SM_USER_ENTRY_POINT, 'entry.py');
  assert.equal(env.SM_MODULE_NAME, 'entry');
  assert.equal(env.SM_FRAMEWORK_MODULE, 'my.module');
  const trainingEnv = JSON.parse(env.SM_TRAINING_ENV ?? '') as Record<string, unknown>;
  assert.equal(trainingEnv.is_modelparallel_enabled, true);
  assert.deepEqual(trainingEnv.topology, topology);
});

test('GPUs and Neuron cores are counted by the tools on PATH, and are 0 without them (nothing spawned)', (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pipemode-gpus-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const saved = process.env.PATH;
  t.after(() => { process.env.PATH = saved; });
  process.env.PATH = dir;
  assert.equal(countGpus(), 0);
  assert.equal(countNeurons('ml.trn1.32xlarge'), 0);
  fs.writeFileSync(path.join(dir, 'nvidia-smi'), '#!/bin/sh\necho "GPU 0: NVIDIA H200 (UUID: GPU-1)"\necho "GPU 1: NVIDIA H200 (UUID: GPU-2)"\n', { mode: 0o755 });
  fs.writeFileSync(path.join(dir, 'neuron-ls'), '#!/bin/sh\necho \'[{"nc_count": 2}, {"nc_count": 2}]\'\n', { mode: 0o755 });
  process.env.PATH = `${dir}:/usr/bin:/bin`;
  assert.equal(countGpus(), 2);
  assert.equal(countNeurons('ml.trn1.32xlarge'), 4);
  assert.equal(countNeurons('ml.trn2.48xlarge'), 64);
});
