/**
 * Framework training without images (script mode): a job whose TrainingImage is one of SageMaker's
 * framework images, with the SageMaker Python SDK's `sagemaker_program` and
 * `sagemaker_submit_directory` hyperparameters, runs as those containers run it:
 *
 *   1. the source (`sourcedir.tar.gz` on S3 or locally, or a local folder) unpacked into the
 *      host's `code/` folder, safely (artifacts.ts refuses entries and links that leave it);
 *   2. `requirements.txt` reported, not installed (the interpreter is used as it is);
 *   3. `<python> <program> <SM_USER_ARGS…>` started in `code/`, with the toolkit's environment
 *      (training-env.ts) — or, with the SDK's `distribution={"torch_distributed": …}`, the way the
 *      PyTorch container does: `torchrun --nnodes N --node_rank i --nproc_per_node P
 *      --master_addr algo-1 --master_port 7777 <program> <args…>` on each host, as
 *      `<python> -m torch.distributed.run` (the same interpreter), P = SM_NUM_GPUS, or SM_NUM_CPUS
 *      without GPUs (PIPEMODE_NPROC_PER_NODE overrides it; PIPEMODE_TORCHRUN, words split at spaces,
 *      replaces the launcher itself).
 *
 * Other `distribution` settings (MPI, SageMaker data/model parallel, parameter servers,
 * MultiWorkerMirroredStrategy, XLA) are refused with ScriptModeError naming the hyperparameter.
 * The interpreter is `python3` on PATH, or PIPEMODE_PYTHON (the job's Environment, then pipemode's).
 *
 * Which images are framework images is decided by `isFrameworkImage` alone (one place to point at
 * an images file later).
 */
import fs from 'node:fs';
import path from 'node:path';
import { Readable } from 'node:stream';
import { ScriptModeError } from '../core/errors.js';
import type { Logger } from '../core/log.js';
import { resolveFetchOptions } from '../fetch/fetch-options.js';
import { readWholeObject } from '../storage/read-object.js';
import { parseSourceUri } from '../storage/source-uri.js';
import type { Stores } from '../storage/stores.js';
import { unpackModelArchive } from '../container/artifacts.js';
import { userArgsOf } from '../container/training-env.js';

/** SageMaker's framework training images (ECR repository names), as globs' core. */
const FRAMEWORK_IMAGES = [
  'pytorch-training', 'tensorflow-training', 'mxnet-training', 'huggingface-pytorch-training',
  'huggingface-tensorflow-training', 'sagemaker-scikit-learn', 'sklearn', 'xgboost', 'sagemaker-chainer',
];

/** Whether `image` is a framework image run by pipemode's script-mode launcher. */
export function isFrameworkImage(image: string | undefined): boolean {
  if (image === undefined) return false;
  const repo = image.split('/').pop()?.split(/[:@]/)[0] ?? '';
  return FRAMEWORK_IMAGES.some((name) => repo.includes(name));
}

/** The SDK's `distribution` hyperparameters pipemode does not run, and what they are. */
const UNSUPPORTED_DISTRIBUTIONS: Readonly<Record<string, string>> = {
  sagemaker_mpi_enabled: 'MPI (mpirun, or SageMaker model parallel)',
  sagemaker_distributed_dataparallel_enabled: 'SageMaker distributed data parallel (smdistributed)',
  sagemaker_pytorch_ddp_enabled: 'pytorchddp (mpirun with SMDDP)',
  sagemaker_parameter_server_enabled: 'TensorFlow parameter servers',
  sagemaker_multi_worker_mirrored_strategy_enabled: 'TensorFlow MultiWorkerMirroredStrategy',
  sagemaker_pytorch_xla_multi_worker_enabled: 'PyTorch XLA',
};
export const TORCH_DISTRIBUTED = 'sagemaker_torch_distributed_enabled';
/** The PyTorch container's rendezvous port for torch_distributed. */
export const TORCHRUN_MASTER_PORT = 7777;

export interface ScriptLaunch {
  readonly image: string;
  /** The program, relative to the source folder. */
  readonly program: string;
  readonly submitDirectory: string;
  readonly distribution: 'none' | 'torch_distributed';
  readonly python: string;
  /** --nproc_per_node override (PIPEMODE_NPROC_PER_NODE). */
  readonly nprocPerNode: number | undefined;
  /** The torchrun command (PIPEMODE_TORCHRUN), default `<python> -m torch.distributed.run`. */
  readonly torchrun: readonly string[];
  readonly userArgs: readonly string[];
}

const enabled = (value: string | undefined): boolean => value !== undefined && /^"?true"?$/i.test(value.trim());

/** Whether script mode applies to the job, and how; undefined if it does not (not a framework image, no sagemaker_program). */
export function scriptModeOf(job: {
  readonly trainingImage: string | undefined;
  readonly hyperParameters: Readonly<Record<string, string>>;
  readonly environment: Readonly<Record<string, string>>;
}, env: NodeJS.ProcessEnv = process.env): ScriptLaunch | undefined {
  const hps = job.hyperParameters;
  if (!isFrameworkImage(job.trainingImage) || hps.sagemaker_program === undefined) return undefined;
  const unquote = (s: string): string => s.trim().replace(/^"(.*)"$/, '$1');
  const program = unquote(hps.sagemaker_program);
  if (program === '' || path.isAbsolute(program) || path.normalize(program).startsWith('..')) {
    throw new ScriptModeError(`HyperParameters.sagemaker_program "${program}" must be a path inside the source folder`, { field: 'HyperParameters.sagemaker_program' });
  }
  if (hps.sagemaker_submit_directory === undefined) {
    throw new ScriptModeError(`HyperParameters.sagemaker_program is set but sagemaker_submit_directory is not: pipemode has no image to find ${program} in (give the source as sourcedir.tar.gz, as the SageMaker Python SDK uploads it)`, {
      field: 'HyperParameters.sagemaker_submit_directory',
    });
  }
  for (const [key, what] of Object.entries(UNSUPPORTED_DISTRIBUTIONS)) {
    if (enabled(hps[key])) {
      throw new ScriptModeError(`HyperParameters.${key}: the ${what} distribution is not supported here; pipemode runs torch_distributed (torchrun) or one process per host`, { field: `HyperParameters.${key}` });
    }
  }
  const nproc = job.environment.PIPEMODE_NPROC_PER_NODE ?? env.PIPEMODE_NPROC_PER_NODE;
  const nprocPerNode = nproc === undefined ? undefined : Number(nproc);
  if (nprocPerNode !== undefined && (!Number.isInteger(nprocPerNode) || nprocPerNode < 1)) {
    throw new ScriptModeError(`PIPEMODE_NPROC_PER_NODE must be a positive integer, got "${nproc}"`, { field: 'Environment.PIPEMODE_NPROC_PER_NODE' });
  }
  const python = job.environment.PIPEMODE_PYTHON ?? env.PIPEMODE_PYTHON ?? 'python3';
  const torchrun = (job.environment.PIPEMODE_TORCHRUN ?? env.PIPEMODE_TORCHRUN)?.trim().split(/\s+/).filter((w) => w !== '');
  return Object.freeze({
    image: job.trainingImage as string,
    program,
    submitDirectory: unquote(hps.sagemaker_submit_directory),
    distribution: enabled(hps[TORCH_DISTRIBUTED]) ? 'torch_distributed' : 'none',
    python,
    nprocPerNode,
    torchrun: Object.freeze(torchrun !== undefined && torchrun.length > 0 ? torchrun : [python, '-m', 'torch.distributed.run']),
    userArgs: Object.freeze(userArgsOf(hps)),
  });
}

/** The command of host `rank` of `count`, run in its code/ folder. */
export function scriptCommand(
  launch: ScriptLaunch, host: { readonly rank: number; readonly count: number; readonly masterAddr: string }, cpus: number, gpus: number,
): string[] {
  if (launch.distribution === 'none') return [launch.python, launch.program, ...launch.userArgs];
  const nproc = launch.nprocPerNode ?? (gpus > 0 ? gpus : cpus);
  return [...launch.torchrun,
    '--nnodes', String(host.count), '--node_rank', String(host.rank), '--nproc_per_node', String(nproc),
    '--master_addr', host.masterAddr, '--master_port', String(TORCHRUN_MASTER_PORT),
    launch.program, ...launch.userArgs];
}

/** The largest source archive read (they are read whole). */
const MAX_SOURCE_BYTES = 1024 * 1024 * 1024;

/** Unpacks the source into `codeDir`; checks the program is there; reports requirements.txt. */
export async function prepareSource(launch: ScriptLaunch, codeDir: string, stores: Stores, log: Logger, signal?: AbortSignal): Promise<{ files: number }> {
  const field = 'HyperParameters.sagemaker_submit_directory';
  let uri;
  try {
    uri = parseSourceUri(launch.submitDirectory);
  } catch (err) {
    throw new ScriptModeError(`${field}: ${(err as Error).message}`, { field }, { cause: err });
  }
  let files: number;
  if (uri.kind === 'file' && fs.statSync(`/${uri.key}`, { throwIfNoEntry: false })?.isDirectory() === true) {
    // a local folder (the SDK's local mode with file://): copied as it is, links kept as links
    fs.cpSync(`/${uri.key}`, codeDir, { recursive: true, verbatimSymlinks: true });
    files = (fs.readdirSync(codeDir, { recursive: true }) as string[]).length;
  } else {
    const archive = await readWholeObject(stores.storeFor(uri), uri.key, MAX_SOURCE_BYTES, resolveFetchOptions({}).retry, signal);
    ({ files } = await unpackModelArchive(Readable.from([archive]), codeDir, launch.submitDirectory));
  }
  const program = path.join(codeDir, launch.program);
  if (!fs.statSync(program, { throwIfNoEntry: false })?.isFile()) {
    throw new ScriptModeError(`HyperParameters.sagemaker_program: ${launch.program} is not in ${launch.submitDirectory}`, { field: 'HyperParameters.sagemaker_program' });
  }
  const requirements = path.join(codeDir, 'requirements.txt');
  if (fs.existsSync(requirements)) {
    const listed = fs.readFileSync(requirements, 'utf8').split('\n').map((l) => l.trim()).filter((l) => l !== '' && !l.startsWith('#'));
    log.info(`${launch.submitDirectory}: requirements.txt lists ${listed.length} package(s) (${listed.slice(0, 5).join(', ')}${listed.length > 5 ? ', …' : ''}): not installed, ${launch.python} runs as it is`);
  }
  return { files };
}
