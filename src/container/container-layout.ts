/**
 * The SageMaker container layout under a base dir (`/opt/ml` on SageMaker; relocatable, as the
 * toolkits' SAGEMAKER_BASE_DIR allows), host names, and the shape of the three config files a
 * training container finds in input/config/ (written by training/config-files.ts):
 *
 *   input/config/  input/data/  model/  output/data/  output/failure  checkpoints/  code/
 */
import path from 'node:path';

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
