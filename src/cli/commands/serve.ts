/**
 * `pipemode serve ENDPOINT.json` or `pipemode serve --model-data URI --image IMAGE`: a SageMaker
 * real-time endpoint here (hosting/). Prints `pipemode: endpoint NAME InService at http://HOST:PORT`
 * once every variant is healthy and serves the Runtime API until SIGINT/SIGTERM, then stops
 * accepting, lets requests in flight finish (at most 30 s), stops the containers (SIGTERM,
 * SIGKILL after 30 s) and exits 0. An endpoint that cannot start exits 13 (PM_ERR_ENDPOINT_FAILED).
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { readSpecFile } from '../../channel/spec-file.js';
import { ConfigError } from '../../core/errors.js';
import type { Logger } from '../../core/log.js';
import { readCredentialsFile } from '../../http/credentials-file.js';
import { Endpoint } from '../../hosting/endpoint.js';
import { quickEndpointDocument, resolveEndpoint } from '../../hosting/endpoint-spec.js';
import { loadImagesMap } from '../../hosting/images-file.js';
import { claimPort } from '../../hosting/port-block.js';
import { createRuntimeFront } from '../../hosting/runtime-front.js';
import { Stores } from '../../storage/stores.js';
import { intFlag, storesOptions } from '../options.js';
import { EXIT } from '../exit-codes.js';

export interface ServeFlags {
  readonly modelData?: string;
  readonly image?: string;
  readonly instances?: string;
  readonly name?: string;
  readonly port?: string;
  readonly host?: string;
  readonly images?: string;
  readonly apiKeys?: string;
  readonly workDir?: string;
  readonly startupTimeout?: string;
  readonly stopGrace?: string;
  readonly endpointUrl?: string;
  readonly readTimeout?: string;
  readonly quiet?: boolean;
  readonly invocationTimeout?: string;
  readonly healthInterval?: string;
  readonly cleanEnv?: boolean;
}

const DRAIN_MS = 30_000;
const STATUS_EVERY_MS = 10_000;

function isLoopback(host: string): boolean {
  return host === '127.0.0.1' || host === '::1' || host === 'localhost';
}

export async function serveCommand(file: string | undefined, flags: ServeFlags, log: Logger, quiet: boolean): Promise<number> {
  if ((file === undefined) === (flags.image === undefined)) {
    throw new ConfigError('give an ENDPOINT file, or --image (with --model-data) for one model', { field: 'ENDPOINT' });
  }
  if (file !== undefined && (flags.modelData !== undefined || flags.instances !== undefined)) {
    throw new ConfigError('--model-data and --instances go with --image, not with an ENDPOINT file', { field: '--model-data' });
  }
  const port = intFlag(flags.port, '--port', 0, 65535) ?? 8080;
  const host = flags.host ?? '127.0.0.1';
  const startupTimeoutS = intFlag(flags.startupTimeout, '--startup-timeout', 1, 3600);
  const stopGraceMs = (intFlag(flags.stopGrace, '--stop-grace', 0, 3600) ?? 30) * 1000;
  const invocationTimeoutMs = (intFlag(flags.invocationTimeout, '--invocation-timeout', 1, 3600) ?? 60) * 1000;
  const healthCheckIntervalMs = (intFlag(flags.healthInterval, '--health-interval', 0, 3600) ?? 5) * 1000;
  const doc = file !== undefined ? readSpecFile(file) : quickEndpointDocument({
    name: flags.name ?? 'local-endpoint', image: flags.image ?? '', modelData: flags.modelData, instances: intFlag(flags.instances, '--instances', 1, 64) ?? 1,
  });
  const spec = resolveEndpoint(doc, file ?? 'serve flags');
  if (!isLoopback(host) && flags.apiKeys === undefined) {
    throw new ConfigError(`--host ${host} reaches beyond this machine: give --api-keys FILE (AWS credentials format) so requests must be signed`, { field: '--host' });
  }
  const credentials = flags.apiKeys !== undefined ? await readCredentialsFile(flags.apiKeys) : undefined;
  const images = loadImagesMap(flags.images);
  const stores = new Stores(storesOptions(flags));
  const workDir = path.resolve(flags.workDir ?? path.join('.pipemode', 'endpoints', spec.name));
  const prefixLines = (label: string, line: string): void => {
    if (!quiet) process.stderr.write(`[${label}] ${line}\n`);
  };

  log.info(`endpoint ${spec.name} Creating (${spec.variants.map((v) => `${v.name}: ${v.instanceCount} × ${v.model.image}`).join(', ')})`);
  // one handler for the whole run, installed before anything starts: no moment where a signal
  // finds Node's default action (death without stopping the containers)
  const abort = new AbortController();
  const onSignal = (): void => abort.abort();
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  try {
    return await run(spec, flags, {
      host, port, startupTimeoutS, stopGraceMs, invocationTimeoutMs, healthCheckIntervalMs, inheritEnvironment: flags.cleanEnv !== true,
      credentials, images, stores, workDir, prefixLines,
    }, log, quiet, abort.signal);
  } finally {
    process.removeListener('SIGINT', onSignal);
    process.removeListener('SIGTERM', onSignal);
  }
}

interface RunSettings {
  readonly host: string;
  readonly port: number;
  readonly startupTimeoutS: number | undefined;
  readonly stopGraceMs: number;
  readonly invocationTimeoutMs: number;
  readonly healthCheckIntervalMs: number;
  readonly inheritEnvironment: boolean;
  readonly credentials: ReadonlyMap<string, string> | undefined;
  readonly images: ReturnType<typeof loadImagesMap>;
  readonly stores: Stores;
  readonly workDir: string;
  readonly prefixLines: (label: string, line: string) => void;
}

async function run(spec: ReturnType<typeof resolveEndpoint>, _flags: ServeFlags, settings: RunSettings, log: Logger, quiet: boolean, signal: AbortSignal): Promise<number> {
  const { host, port, startupTimeoutS, stopGraceMs, invocationTimeoutMs, healthCheckIntervalMs, inheritEnvironment, credentials, images, stores, workDir, prefixLines } = settings;
  claimPort(port); // no instance's port block takes the front's own port
  const endpoint = await Endpoint.start(spec, {
    stores, images, workDir, onLine: prefixLines, startupTimeoutS, stopGraceMs, healthCheckIntervalMs, inheritEnvironment, signal,
  });
  if (signal.aborted) {
    await endpoint.stop();
    stores.close();
    return EXIT.OK;
  }

  const front = createRuntimeFront({ endpoints: new Map([[spec.name, endpoint]]), credentials, stores, logger: log, invocationTimeoutMs });
  const server = http.createServer({ keepAliveTimeout: 60_000, requestTimeout: 0 }, front.handler);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve());
  }).catch(async (err: unknown) => {
    await endpoint.stop();
    stores.close();
    throw new ConfigError(`cannot listen on ${host}:${port}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, { field: '--port' });
  });
  const address = server.address() as AddressInfo;
  const shown = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  process.stderr.write(`pipemode: endpoint ${spec.name} InService at http://${shown}:${address.port}\n`);
  if (credentials === undefined) log.debug('request signatures are not checked (no --api-keys, bound to loopback)');

  const status = process.stderr.isTTY && !quiet ? setInterval(() => log.info(`endpoint ${spec.name}: ${endpoint.statusLine()}`), STATUS_EVERY_MS) : undefined;
  status?.unref();

  await new Promise<void>((resolve) => (signal.aborted ? resolve() : signal.addEventListener('abort', () => resolve(), { once: true })));
  log.info(`endpoint ${spec.name}: stopping (draining requests in flight)`);
  if (status !== undefined) clearInterval(status);
  server.close();
  server.closeIdleConnections();
  const drained = await Promise.race([front.idle().then(() => true), new Promise<boolean>((r) => setTimeout(() => r(false), DRAIN_MS).unref())]);
  if (!drained) log.warn(`endpoint ${spec.name}: ${front.active()} requests still running after ${DRAIN_MS / 1000} s; cutting them off`);
  server.closeAllConnections();
  await endpoint.stop();
  stores.close();
  log.info(`endpoint ${spec.name} OutOfService`);
  return EXIT.OK;
}
