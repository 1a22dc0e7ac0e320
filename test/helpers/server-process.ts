/**
 * Starts `pipemode server` as a real child process on a free port and hands back what a client
 * needs: the endpoint URL and an environment that points boto3, the AWS CLI or the JS SDK at it
 * through AWS_ENDPOINT_URL and the server's credentials file only.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { BIN } from './cli.js';
import { awsChildEnv } from './python-aws.js';

export interface ServerProcess {
  readonly child: ChildProcess;
  readonly url: string;
  readonly credentialsFile: string;
  readonly dashboardUrl: string;
  /** stderr so far. */
  log(): string;
  /** Environment for a client child process. */
  clientEnv(): NodeJS.ProcessEnv;
  /** Resolves with the exit code once the process has exited. */
  readonly exited: Promise<number | null>;
}

export async function startServerProcess(stateDir: string, extraArgs: readonly string[] = [], env: NodeJS.ProcessEnv = process.env): Promise<ServerProcess> {
  const child = spawn(process.execPath, [BIN, 'server', '--state', stateDir, '--port', '0', '--stop-grace', '5', ...extraArgs], {
    stdio: ['ignore', 'ignore', 'pipe'], env,
  });
  let err = '';
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const ready = new Promise<{ url: string; creds: string; dash: string }>((resolve, reject) => {
    child.stderr?.on('data', (d: Buffer) => {
      err += d.toString();
      const url = /serving the SageMaker API on (http:\/\/\S+)/.exec(err)?.[1];
      const creds = /AWS_SHARED_CREDENTIALS_FILE=(\S+)/.exec(err)?.[1];
      const dash = /dashboard: (\S+)/.exec(err)?.[1];
      if (url !== undefined && creds !== undefined && dash !== undefined) resolve({ url, creds, dash });
    });
    void exited.then((code) => reject(new Error(`pipemode server exited (${code}) before it was ready:\n${err}`)));
  });
  const { url, creds, dash } = await ready;
  return {
    child, url, credentialsFile: creds, dashboardUrl: dash, exited,
    log: () => err,
    clientEnv: () => awsChildEnv({
      AWS_SHARED_CREDENTIALS_FILE: creds, AWS_PROFILE: 'pipemode', AWS_ENDPOINT_URL: url,
      AWS_DEFAULT_REGION: 'us-east-1', AWS_REGION: 'us-east-1',
    }),
  };
}
