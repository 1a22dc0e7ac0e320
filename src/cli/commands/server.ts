/**
 * `pipemode server [--port 8777] [--host 127.0.0.1] [--state DIR] [--images FILE] [--api-keys FILE]
 * [--images-only]`: the SageMaker API on one port (server/api-server.ts) until SIGINT/SIGTERM;
 * then running jobs are stopped and recorded as interrupted, endpoints' containers are stopped (their
 * records stay InService and come back at the next start), and it exits 0. Endpoints run through
 * server/endpoint-runner.ts (the code of `pipemode serve`).
 */
import path from 'node:path';
import { ConfigError } from '../../core/errors.js';
import type { Logger } from '../../core/log.js';
import { DEFAULT_PORT, DEFAULT_STATE_DIR, startServer } from '../../server/api-server.js';
import { loadImagesMap, withoutBuiltins } from '../../hosting/images-file.js';
import { createEndpointRunner } from '../../server/endpoint-runner.js';
import { createTransformRunner } from '../../server/transform-runner.js';
import { Stores } from '../../storage/stores.js';
import { intFlag } from '../options.js';

export interface ServerFlags {
  readonly port?: string;
  readonly host?: string;
  readonly state?: string;
  readonly images?: string;
  readonly apiKeys?: string;
  readonly imagesOnly?: boolean;
  readonly maxJobs?: string;
  readonly stopGrace?: string;
}

export async function serverCommand(flags: ServerFlags, log: Logger): Promise<void> {
  const port = intFlag(flags.port, '--port', 0, 65_535) ?? DEFAULT_PORT;
  if (flags.imagesOnly === true && flags.images === undefined) throw new ConfigError('--images-only needs --images FILE (the commands allowed)', { field: '--images-only' });
  // --images FILE, else PIPEMODE_IMAGES, plus the framework images (not under --images-only)
  const loaded = loadImagesMap(flags.images);
  const images = flags.imagesOnly === true ? withoutBuiltins(loaded) : loaded;
  const region = process.env.AWS_REGION ?? process.env.AWS_DEFAULT_REGION ?? 'us-east-1';
  const stores = new Stores();
  const endpoints = createEndpointRunner({ images, stores, log, region });
  const transforms = createTransformRunner({ images, stores, log, region });
  const server = await startServer({
    stateDir: flags.state ?? DEFAULT_STATE_DIR,
    host: flags.host ?? '127.0.0.1',
    port,
    apiKeysFile: flags.apiKeys,
    images,
    imagesOnly: flags.imagesOnly === true,
    region,
    log,
    maxJobs: intFlag(flags.maxJobs, '--max-jobs', 1, 1024) ?? 16,
    stopGraceMs: (intFlag(flags.stopGrace, '--stop-grace', 0, 86_400) ?? 120) * 1000,
    runners: { endpoints, transforms },
  });
  log.info(`serving the SageMaker API on ${server.url} (state: ${server.stateDir})`);
  log.info(`${server.createdCredentials ? 'created' : 'access keys in'} ${server.credentialsFile}; point the SDKs and the AWS CLI here with:`);
  const profile = flags.apiKeys === undefined ? ' AWS_PROFILE=pipemode' : '';
  log.info(`  export AWS_SHARED_CREDENTIALS_FILE=${path.resolve(server.credentialsFile)}${profile} AWS_ENDPOINT_URL=${server.url} AWS_REGION=${region}`);
  log.info(`dashboard: ${server.dashboardUrl}`);
  log.info(`jobs: pipemode describe NAME --jobs-dir ${path.join(server.stateDir, 'jobs')}`);
  await new Promise<void>((resolve) => {
    const onSignal = (signal: NodeJS.Signals): void => {
      log.info(`${signal}: stopping the server (running jobs are stopped and recorded as interrupted)`);
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
      void server.close(`the server was stopped (${signal}) while the job ran`).then(() => stores.close()).then(resolve);
    };
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
  });
}
