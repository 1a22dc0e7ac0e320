/**
 * The environment of the training process: what SageMaker sets (TRAINING_JOB_NAME,
 * TRAINING_JOB_ARN, the request's Environment) plus the SM_* variables the SageMaker training
 * toolkit derives from the config files (`Environment.to_env_vars`), in its exact formats:
 * name = "SM_" + key.upper() with no other change; strings as they are, None as "", anything
 * else as compact sorted ASCII JSON (python-value.ts). Hyperparameters are json-decoded as the
 * toolkit does (a value that is not JSON stays a string); `sagemaker_*` keys and
 * `_tuning_objective_metric` are framework parameters, not user hyperparameters.
 *
 * The variable list is the toolkit's (sagemaker-training-toolkit 5.x, `Environment.to_env_vars`):
 * one SM_<KEY> per key below, SM_CHANNEL_<NAME> per channel, SM_HP_<NAME> per user hyperparameter,
 * SM_TOPOLOGY only when resourceconfig.json has a `topology`; SM_TRAINING_ENV holds every property
 * of the toolkit's Environment object (training-env.test.ts lists both). Neuron cores are counted
 * as the toolkit does (`neuron-ls -j`, 64 on trn2.48xlarge), and values the toolkit reads from the
 * container's environment (SAGEMAKER_PROGRAM, SAGEMAKER_TRAINING_MODULE, SM_HP_MP_PARAMETERS) are
 * taken from the job's Environment, then pipemode's own.
 */
import fs from 'node:fs';
import os from 'node:os';
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import type { ConfigFiles, HostLayout } from './container-layout.js';
import { sagemakerArn } from './arn.js';
import { PyDict, PyInt, parsePython, pythonJson, pythonStr, toPy, type PyValue } from './python-value.js';

const SAGEMAKER_HYPERPARAMETERS = new Set([
  'sagemaker_program', 'sagemaker_submit_directory', 'sagemaker_enable_cloudwatch_metrics', 'sagemaker_region',
  'sagemaker_container_log_level', 'sagemaker_job_name', 'default_user_module_name', '_tuning_objective_metric',
  'sagemaker_s3_output',
]);
const LOG_LEVEL_INFO = 20;

function decode(value: string): PyValue {
  try {
    return parsePython(value);
  } catch {
    return value;
  }
}

/** The toolkit's `to_cmd_args`: sorted keys, `--key value` (`-k` for one letter), dicts as k=v,… */
export function userArgs(hps: readonly (readonly [string, PyValue])[]): string[] {
  const args: string[] = [];
  for (const [key, value] of [...hps].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
    args.push(key.length > 1 ? `--${key}` : `-${key}`);
    args.push(value instanceof PyDict
      ? [...value.entries].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([k, v]) => `${k}=${pythonStr(v, true)}`).join(',')
      : pythonStr(value));
  }
  return args;
}

/** The user hyperparameters (framework ones left out, values decoded) as command-line arguments: SM_USER_ARGS. */
export function userArgsOf(hyperParameters: Readonly<Record<string, string>>): string[] {
  return userArgs(Object.entries(hyperParameters)
    .filter(([k]) => !SAGEMAKER_HYPERPARAMETERS.has(k) && !k.startsWith('sagemaker_'))
    .map(([k, v]) => [k, decode(v)] as const));
}

/**
 * `nvidia-smi --list-gpus` line count, as the toolkit counts GPUs (0 without a GPU). Without
 * nvidia-smi on PATH it is 0 at once: a spawn that fails still costs a fork (~15 ms of the main
 * thread, at every job start).
 */
export function countGpus(): number {
  if (!onPath('nvidia-smi', process.env.PATH)) return 0;
  try {
    return execFileSync('nvidia-smi', ['--list-gpus'], { stdio: ['ignore', 'pipe', 'ignore'], timeout: 5000 })
      .toString().split('\n').filter((l) => l.startsWith('GPU ')).length;
  } catch {
    return 0;
  }
}

/** Neuron cores as the toolkit counts them: 64 on a trn2.48xlarge, else `neuron-ls -j`'s nc_count summed, 0 without it. */
export function countNeurons(instanceType: string): number {
  if (instanceType.includes('trn2.48xlarge')) return 64;
  if (!onPath('neuron-ls', process.env.PATH)) return 0;
  try {
    const out = JSON.parse(execFileSync('neuron-ls', ['-j'], { stdio: ['ignore', 'pipe', 'ignore'], timeout: 5000 }).toString()) as unknown;
    return Array.isArray(out) ? out.reduce((n: number, d: unknown) => n + (typeof (d as { nc_count?: unknown }).nc_count === 'number' ? (d as { nc_count: number }).nc_count : 0), 0) : 0;
  } catch {
    return 0;
  }
}

/** Whether `name` is an executable on `pathVar` (the toolkit asks `which`). */
function onPath(name: string, pathVar: string | undefined): boolean {
  return (pathVar ?? '').split(':').some((dir) => {
    if (dir === '') return false;
    try {
      fs.accessSync(path.join(dir, name), fs.constants.X_OK);
      return fs.statSync(path.join(dir, name)).isFile();
    } catch {
      return false;
    }
  });
}

/** What the environment needs of a training job request (training/job-spec.ts's JobSpec has it). */
export interface ContainerJob {
  readonly name: string;
  readonly hyperParameters: Readonly<Record<string, string>>;
  readonly channels: readonly { readonly name: string }[];
  readonly environment: Readonly<Record<string, string>>;
}

export interface TrainingEnvInput {
  readonly job: ContainerJob;
  readonly layout: HostLayout;
  readonly files: ConfigFiles;
  readonly region: string;
  readonly gpus: number;
  /** Neuron cores; counted here (countNeurons) when not given. */
  readonly neurons?: number;
}

/** The SM_* variables, in the toolkit's formats. */
export function smVariables({ job, layout, files, gpus, neurons }: TrainingEnvInput): Record<string, string> {
  // what the toolkit reads from the container's environment: the job's Environment, then pipemode's
  const containerEnv = (name: string): string | undefined => job.environment[name] ?? process.env[name];
  const all = Object.entries(job.hyperParameters).map(([k, v]) => [k, decode(v)] as const);
  const framework = all.filter(([k]) => SAGEMAKER_HYPERPARAMETERS.has(k) || k.startsWith('sagemaker_'));
  const user = all.filter(([k]) => !SAGEMAKER_HYPERPARAMETERS.has(k) && !k.startsWith('sagemaker_'));
  const frameworkGet = (k: string): PyValue | undefined => framework.find(([name]) => name === k)?.[1];
  const additional = framework.filter(([k]) => !SAGEMAKER_HYPERPARAMETERS.has(k));

  const rc = files.resourceconfig as { hosts: string[]; current_host: string; current_instance_type: string; current_group_name: string; network_interface_name: string; instance_groups: { instance_group_name: string; hosts: string[] }[]; topology?: unknown[] };
  const channels = job.channels.map((c) => c.name).sort();
  const channelDirs = new PyDict(job.channels.map((c) => [c.name, path.join(layout.dataDir, c.name)] as const));
  const programEnv = containerEnv('SAGEMAKER_PROGRAM');
  const program = programEnv ?? frameworkGet('sagemaker_program');
  const moduleName = program === undefined ? 'None' : pythonStr(program).replace(/\.py$/, '');
  const instanceGroups = rc.instance_groups.map((g) => g.instance_group_name);
  const currentGroupHosts = rc.instance_groups.find((g) => g.instance_group_name === rc.current_group_name)?.hosts ?? [];
  const distributionFlags = ['sagemaker_mpi_enabled', 'sagemaker_parameter_server_enabled', 'sagemaker_distributed_dataparallel_enabled',
    'sagemaker_pytorch_ddp_enabled', 'sagemaker_pytorch_xla_multi_worker_enabled', 'sagemaker_multi_worker_mirrored_strategy_enabled'];
  const distributionGroups = frameworkGet('sagemaker_distribution_instance_groups')
    ?? toPy(distributionFlags.some((f) => frameworkGet(f) === true) ? [rc.current_group_name] : []);
  const distributionHosts = rc.instance_groups.filter((g) => Array.isArray(distributionGroups) && distributionGroups.includes(g.instance_group_name)).flatMap((g) => g.hosts);
  const masterHost = distributionHosts[0] ?? rc.hosts[0] ?? rc.current_host;
  const logLevel = frameworkGet('sagemaker_container_log_level') ?? new PyInt(String(LOG_LEVEL_INFO));
  const submitDir = frameworkGet('sagemaker_submit_directory');

  const common: [string, PyValue][] = [
    ['hosts', toPy(rc.hosts)],
    ['network_interface_name', rc.network_interface_name],
    ['hps', new PyDict(user)],
    ['user_entry_point', program ?? null],
    ['framework_params', new PyDict(additional)],
    ['resource_config', toPy(files.resourceconfig)],
    ['input_data_config', toPy(files.inputdataconfig)],
    ['output_data_dir', layout.outputDataDir],
    ['channels', toPy(channels)],
    ['current_host', rc.current_host],
    ['current_instance_type', rc.current_instance_type],
    ['current_instance_group', rc.current_group_name],
    ['current_instance_group_hosts', toPy(currentGroupHosts)],
    ['instance_groups', toPy(instanceGroups)],
    ['instance_groups_dict', new PyDict(rc.instance_groups.map((g) => [g.instance_group_name, toPy(g)] as const))],
    ['distribution_instance_groups', distributionGroups],
    ['is_hetero', instanceGroups.length > 1],
    ['module_name', moduleName],
    ['log_level', logLevel],
    ['framework_module', containerEnv('SAGEMAKER_TRAINING_MODULE') ?? null],
    ['input_dir', path.join(layout.base, 'input')],
    ['input_config_dir', layout.configDir],
    ['output_dir', layout.outputDir],
    ['num_cpus', new PyInt(String(os.cpus().length))],
    ['num_gpus', new PyInt(String(gpus))],
    ['num_neurons', new PyInt(String(neurons ?? countNeurons(rc.current_instance_type)))],
    ['model_dir', layout.modelDir],
    ['module_dir', submitDir === undefined ? layout.codeDir : pythonStr(submitDir)],
  ];
  const mpParameters = containerEnv('SM_HP_MP_PARAMETERS');
  const topology = Array.isArray(rc.topology) ? rc.topology : [];
  // the toolkit's training_env: `common` (two keys renamed, channels left out) and a few of its own
  const renamed: Readonly<Record<string, string>> = { hps: 'hyperparameters', framework_params: 'additional_framework_parameters' };
  const trainingEnv = new PyDict([
    ...common.filter(([k]) => k !== 'channels').map(([k, v]) => [renamed[k] ?? k, v] as const),
    ['channel_input_dirs', channelDirs],
    ['distribution_hosts', toPy(distributionHosts)],
    ['is_master', rc.current_host === masterHost],
    // the toolkit's `mp_parameters and mp_parameters != "{}"`
    ['is_modelparallel_enabled', mpParameters === undefined ? null : mpParameters === '' ? '' : mpParameters !== '{}'],
    ['is_smddpmprun_installed', onPath('smddpmprun', containerEnv('PATH'))],
    ['is_smddprun_installed', onPath('smddprun', containerEnv('PATH'))],
    ['topology', toPy(topology)],
    ['job_name', job.name],
    ['master_hostname', masterHost],
    ['output_intermediate_dir', layout.intermediateDir],
  ]);
  const env: [string, PyValue][] = [
    ...common,
    ['training_env', trainingEnv],
    ['user_args', toPy(userArgs(user))],
    ['output_intermediate_dir', layout.intermediateDir],
    ...(topology.length > 0 ? [['topology', toPy(topology)] as [string, PyValue]] : []),
    ...job.channels.map((c) => [`channel_${c.name}`, path.join(layout.dataDir, c.name)] as [string, PyValue]),
    ...user.map(([k, v]) => [`hp_${k}`, v] as [string, PyValue]),
  ];
  const out: Record<string, string> = {};
  for (const [key, value] of env) out[`SM_${key.toUpperCase()}`] = value === null ? '' : typeof value === 'string' ? value : pythonJson(value);
  return out;
}

/** The complete environment of the training process (on top of pipemode's own). */
export function trainingEnvironment(input: TrainingEnvInput): Record<string, string> {
  return {
    ...input.job.environment,
    SAGEMAKER_BASE_DIR: input.layout.base,
    TRAINING_JOB_NAME: input.job.name,
    TRAINING_JOB_ARN: sagemakerArn(input.region, 'training-job', input.job.name),
    ...smVariables(input),
  };
}
