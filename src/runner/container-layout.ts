/**
 * The SageMaker training-container layout under a base dir (`/opt/ml` on SageMaker; relocatable,
 * as the training toolkit's SAGEMAKER_BASE_DIR allows), and the three config files SageMaker
 * writes before the container starts, in the documented shapes (pipe-mode-contract.md §1-§2):
 *
 *   input/config/hyperparameters.json   {"name": "value", …}  (values are strings)
 *   input/config/inputdataconfig.json   {"<ch>": {ContentType?, TrainingInputMode, S3DistributionType, RecordWrapperType}}
 *   input/config/resourceconfig.json    {current_host, current_instance_type, current_group_name, hosts, instance_groups, network_interface_name}
 *   input/data/  model/  output/data/  output/failure  checkpoints/
 *
 * Directories are created with mode 0700: a job's data and model are nobody else's business.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { JobSpec } from './job-spec.js';

export interface HostLayout {
  readonly base: string;
  readonly configDir: string;
  readonly dataDir: string;
  readonly modelDir: string;
  readonly outputDir: string;
  readonly outputDataDir: string;
  readonly intermediateDir: string;
  readonly failureFile: string;
  readonly checkpointDir: string;
  readonly codeDir: string;
}

/** Where SageMaker's default checkpoint path lands under a relocated base dir. */
const SAGEMAKER_BASE = '/opt/ml';

export function hostLayout(base: string, checkpointLocalPath?: string): HostLayout {
  const abs = path.resolve(base);
  let checkpointDir = path.join(abs, 'checkpoints');
  if (checkpointLocalPath !== undefined) {
    const p = path.normalize(checkpointLocalPath);
    // /opt/ml/... paths move with the base dir; anything else is taken as it is
    checkpointDir = p === SAGEMAKER_BASE || p.startsWith(`${SAGEMAKER_BASE}/`) ? path.join(abs, path.relative(SAGEMAKER_BASE, p)) : path.resolve(p);
  }
  return Object.freeze({
    base: abs,
    configDir: path.join(abs, 'input', 'config'),
    dataDir: path.join(abs, 'input', 'data'),
    modelDir: path.join(abs, 'model'),
    outputDir: path.join(abs, 'output'),
    outputDataDir: path.join(abs, 'output', 'data'),
    intermediateDir: path.join(abs, 'output', 'intermediate'),
    failureFile: path.join(abs, 'output', 'failure'),
    checkpointDir,
    codeDir: path.join(abs, 'code'),
  });
}

/** This host's place among the job's hosts. */
export interface HostIdentity {
  /** 0-based. */
  readonly rank: number;
  readonly count: number;
}

/** `algo-1` … `algo-N`, sorted as text (so algo-10 comes before algo-2), as SageMaker lists them. */
export function hostNames(count: number): string[] {
  return Array.from({ length: count }, (_, i) => `algo-${i + 1}`).sort();
}

export function hostName(rank: number): string {
  return `algo-${rank + 1}`;
}

export interface ConfigFiles {
  readonly hyperparameters: Record<string, string>;
  readonly inputdataconfig: Record<string, Record<string, string>>;
  readonly resourceconfig: Record<string, unknown>;
}

export function configFiles(job: JobSpec, host: HostIdentity): ConfigFiles {
  const inputdataconfig: Record<string, Record<string, string>> = {};
  for (const c of job.channels) {
    inputdataconfig[c.name] = {
      ...(c.contentType !== undefined ? { ContentType: c.contentType } : {}),
      TrainingInputMode: c.inputMode ?? job.inputMode,
      S3DistributionType: c.distribution,
      RecordWrapperType: c.recordWrapper,
    };
  }
  const hosts = hostNames(host.count);
  return {
    hyperparameters: { ...job.hyperParameters },
    inputdataconfig,
    resourceconfig: {
      current_host: hostName(host.rank),
      current_instance_type: job.instanceType,
      current_group_name: 'homogeneousCluster',
      hosts,
      instance_groups: [{ instance_group_name: 'homogeneousCluster', instance_type: job.instanceType, hosts }],
      network_interface_name: 'eth0',
    },
  };
}

/** Creates the layout (0700 directories) and writes the config files. */
export function writeLayout(layout: HostLayout, files: ConfigFiles, job: JobSpec): void {
  for (const dir of [layout.configDir, layout.dataDir, layout.modelDir, layout.outputDataDir, layout.checkpointDir, layout.codeDir]) {
    fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  }
  fs.chmodSync(layout.base, 0o700);
  const write = (name: string, value: unknown): void => {
    fs.writeFileSync(path.join(layout.configDir, name), JSON.stringify(value), { mode: 0o600 });
  };
  write('hyperparameters.json', files.hyperparameters);
  write('inputdataconfig.json', files.inputdataconfig);
  write('resourceconfig.json', files.resourceconfig);
  if (job.checkpoint !== undefined) write('checkpointconfig.json', { LocalPath: layout.checkpointDir, S3Uri: job.checkpoint.text });
}
