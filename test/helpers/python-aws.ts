/**
 * Runs boto3/botocore and the AWS CLI (the `python3` and `aws` first on PATH, e.g. pyenv's) as
 * independent clients for the HTTP building blocks in src/http. Asynchronous on purpose: the
 * server under test lives in the same process and must keep answering while the child runs.
 *
 * The child never sees the developer's or the suite's AWS settings: every AWS_* variable is
 * dropped, the config and credentials files are /dev/null, IMDS is off, and the test passes the
 * credentials it wants explicitly.
 */
import { execFile, execFileSync } from 'node:child_process';

export interface ChildResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** The clean environment for an AWS client child process, plus `extra`. */
export function awsChildEnv(extra: Readonly<Record<string, string>> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('AWS_')) env[k] = v;
  return {
    ...env,
    AWS_CONFIG_FILE: '/dev/null',
    AWS_SHARED_CREDENTIALS_FILE: '/dev/null',
    AWS_EC2_METADATA_DISABLED: 'true',
    PYTHONDONTWRITEBYTECODE: '1',
    ...extra,
  };
}

/** Runs `file args`, feeding `input` on stdin; resolves with the exit code and both outputs. */
export function runChild(file: string, args: readonly string[], options: {
  readonly input?: Uint8Array | string;
  readonly env?: NodeJS.ProcessEnv;
  readonly timeoutMs?: number;
} = {}): Promise<ChildResult> {
  return new Promise((resolve, reject) => {
    const child = execFile(file, args, {
      env: options.env ?? awsChildEnv(),
      timeout: options.timeoutMs ?? 60_000,
      maxBuffer: 64 * 1024 * 1024,
      encoding: 'utf8',
    }, (err, stdout, stderr) => {
      if (err !== null && typeof err.code !== 'number') {
        reject(new Error(`${file} failed to run: ${err.message}\n${stderr}`));
        return;
      }
      resolve({ code: err === null ? 0 : (err.code as number), stdout, stderr });
    });
    child.stdin?.end(options.input ?? '');
  });
}

/** Runs a Python script with the PATH's python3. */
export function runPython(script: string, options: Parameters<typeof runChild>[2] = {}): Promise<ChildResult> {
  return runChild('python3', ['-c', script], options);
}

let botocoreChecked: boolean | undefined;

/** Whether the PATH's python3 can import botocore (tests that need it skip otherwise). */
export function hasBotocore(): boolean {
  if (botocoreChecked === undefined) {
    try {
      execFileSync('python3', ['-c', 'import botocore'], { stdio: 'ignore', env: awsChildEnv() });
      botocoreChecked = true;
    } catch {
      botocoreChecked = false;
    }
  }
  return botocoreChecked;
}

let awsCliChecked: boolean | undefined;

/** Whether an `aws` CLI runs here. */
export function hasAwsCli(): boolean {
  if (awsCliChecked === undefined) {
    try {
      execFileSync('aws', ['--version'], { stdio: 'ignore', env: awsChildEnv() });
      awsCliChecked = true;
    } catch {
      awsCliChecked = false;
    }
  }
  return awsCliChecked;
}
