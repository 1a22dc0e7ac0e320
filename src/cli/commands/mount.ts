/**
 * `pipemode mount SOURCE DIR`: FastFile mode on its own — the channel's objects as a read-only
 * folder at DIR, fetched on demand, until SIGINT, SIGTERM or SIGHUP (then it unmounts and exits 0).
 * `pipemode unmount DIR` removes a mount left behind by a pipemode that was killed.
 */
import path from 'node:path';
import { Option, type Command } from 'commander';
import { formatBytes, parseByteSize } from '../../core/byte-size.js';
import { ConfigError, MountError } from '../../core/errors.js';
import type { Logger } from '../../core/log.js';
import { DEFAULT_MOUNT_BUDGET, DEFAULT_MOUNT_REQUESTS, mountChannel } from '../../mount/mount-channel.js';
import { cleanStaleMount, detach, mountAt, MOUNT_SOURCE } from '../../mount/fuse-binding.js';
import { fetchOptions, intFlag, storesOptions, type FetchFlags } from '../options.js';

export interface MountFlags extends FetchFlags {
  readonly maxReadAhead?: string;
  readonly prefetchFiles?: string;
  readonly allowOther?: boolean;
}

function size(text: string | undefined, flag: string): number | undefined {
  if (text === undefined) return undefined;
  const n = parseByteSize(text);
  if (n === undefined) throw new ConfigError(`${flag} must be a byte size such as 256MiB, got "${text}"`, { field: flag });
  return n;
}

export async function mountCommand(source: string, dir: string, flags: MountFlags, log: Logger): Promise<void> {
  const fetch = fetchOptions({ ...flags, memoryBudget: flags.memoryBudget ?? String(DEFAULT_MOUNT_BUDGET), maxRequests: flags.maxRequests ?? String(DEFAULT_MOUNT_REQUESTS) });
  const maxReadAhead = size(flags.maxReadAhead, '--max-read-ahead');
  const prefetchFiles = intFlag(flags.prefetchFiles, '--prefetch-files', 0, 100_000);
  const stop = new AbortController();
  const stopped = new Promise<NodeJS.Signals>((resolve) => stop.signal.addEventListener('abort', () => resolve(stop.signal.reason as NodeJS.Signals), { once: true }));
  const onSignal = (signal: NodeJS.Signals): void => stop.abort(signal);
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  process.once('SIGHUP', onSignal);
  try {
    const started = performance.now();
    const mount = await mountChannel(source, dir, {
      memoryBudget: fetch.memoryBudget,
      partSize: fetch.partSize,
      maxRequests: fetch.maxRequests,
      retry: fetch.retry,
      storesOptions: storesOptions(flags),
      allowOther: flags.allowOther === true,
      log,
      signal: stop.signal,
      ...(maxReadAhead !== undefined ? { maxReadAhead } : {}),
      ...(prefetchFiles !== undefined ? { prefetchFiles } : {}),
    });
    log.info(`${source}: ${mount.files} files, ${formatBytes(mount.bytes)}, mounted read-only at ${mount.dir} in ${((performance.now() - started) / 1000).toFixed(2)} s (until SIGINT/SIGTERM)`);
    const signal = await stopped;
    await mount.unmount();
    const s = mount.stats;
    log.info(`${signal}: unmounted ${mount.dir}; served ${formatBytes(s.bytesServed)} in ${s.reads} reads of ${s.opens} opens`);
    log.debug(`fetched ${formatBytes(s.bytesFetched)} in ${s.getRequests} GETs (${s.retries} retries), ${s.filesPrefetched} files prefetched (${s.prefetchHits} used), ${formatBytes(s.bytesWasted)} unread, peak memory ${formatBytes(mount.memory.peak)} of ${formatBytes(mount.memory.limit)}, ${s.readErrors} read errors`);
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    process.off('SIGHUP', onSignal);
  }
}

export async function unmountCommand(dir: string, log: Logger): Promise<void> {
  const target = path.resolve(dir);
  const mount = mountAt(target);
  if (mount === undefined) {
    log.info(`${target} is not a mount point`);
    return;
  }
  try {
    if (await cleanStaleMount(target)) {
      log.info(`removed the stale mount at ${target}`);
      return;
    }
  } catch (err) {
    if (!(err instanceof MountError)) throw err;
  }
  if (mount.source !== MOUNT_SOURCE) throw new MountError(`${target} is not a pipemode mount (${mount.type} ${mount.source}); leaving it alone`, { reason: 'mount-point', dir: target });
  // a live mount: detach it (its server then serves files still open until they are closed)
  const failed = await detach(target);
  if (failed !== undefined) throw new MountError(`cannot unmount ${target}: umount2 failed with ${failed}`, { reason: 'mount-point', dir: target });
  log.info(`unmounted ${target}`);
}

/** Adds `mount` and `unmount` to the program. */
export function registerMount(program: Command, logger: () => Logger): void {
  program.command('mount')
    .description('FastFile mode: mount a channel read-only at DIR, files fetched on demand, until SIGINT/SIGTERM')
    .argument('<source>', 's3://bucket/prefix, file:///path or a local path (S3Prefix semantics)')
    .argument('<dir>', 'mount point (created if missing), e.g. /opt/ml/input/data/train')
    .option('--memory-budget <size>', 'bytes fetched ahead for the whole mount (read-ahead + prefetched files)', '256MiB')
    .option('--part-size <size>', 'largest ranged GET', '8MiB')
    .option('--max-requests <n>', 'ranged GETs in flight at once', String(DEFAULT_MOUNT_REQUESTS))
    .option('--max-read-ahead <size>', 'read-ahead ceiling per open file (at most half the budget)', '64MiB')
    .option('--prefetch-files <n>', 'files prefetched ahead of a reader that opens them in listing order', '256')
    .option('--max-attempts <n>', 'attempts per request before giving up', '10')
    .option('--endpoint-url <url>', 'S3 endpoint (default: AWS_ENDPOINT_URL_S3, AWS_ENDPOINT_URL, or AWS)')
    .option('--read-timeout <seconds>', 'abandon (and retry) a GET that delivers no byte for this long', '30')
    .addOption(new Option('--allow-other', 'let other users read the mount (FUSE allow_other)'))
    .action(async (source: string, dir: string, flags: MountFlags) => {
      await mountCommand(source, dir, flags, logger());
    });

  program.command('unmount')
    .description('unmount a pipemode mount, or remove one left behind by a pipemode that was killed')
    .argument('<dir>', 'mount point')
    .action(async (dir: string) => {
      await unmountCommand(dir, logger());
    });
}
