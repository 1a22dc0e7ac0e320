/**
 * `pipemode mount SOURCE DIR`: FastFile mode on its own — the channel's objects as a read-only
 * folder at DIR, fetched on demand, until SIGINT, SIGTERM or SIGHUP (then it unmounts and exits 0).
 * `pipemode unmount DIR` removes a mount left behind by a pipemode that was killed.
 */
import path from 'node:path';
import { formatBytes } from '../../core/byte-size.js';
import { MountError } from '../../core/errors.js';
import type { Logger } from '../../core/log.js';
import { mountChannel } from '../../mount/mount-channel.js';
import { cleanStaleMount, detach, mountAt, MOUNT_SOURCE } from '../../mount/fuse-binding.js';
import { MOUNT_FETCH_OPTIONS } from '../../fetch/fetch-options.js';
import { fetchOptions, intFlag, sizeFlag, storesOptions, type FetchFlags } from '../options.js';

export interface MountFlags extends FetchFlags {
  readonly maxReadAhead?: string;
  readonly prefetchFiles?: string;
  readonly allowOther?: boolean;
  readonly pageCache?: boolean;
}

export async function mountCommand(source: string, dir: string, flags: MountFlags, log: Logger): Promise<void> {
  const fetch = fetchOptions(flags, MOUNT_FETCH_OPTIONS);
  const maxReadAhead = sizeFlag(flags.maxReadAhead, '--max-read-ahead');
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
      pageCacheAll: flags.pageCache === true,
      log,
      signal: stop.signal,
      ...(maxReadAhead !== undefined ? { maxReadAhead } : {}),
      ...(prefetchFiles !== undefined ? { prefetchFiles } : {}),
    });
    log.info(`${source}: ${mount.files} files, ${formatBytes(mount.bytes)}, mounted read-only at ${mount.dir} in ${((performance.now() - started) / 1000).toFixed(2)} s (until SIGINT/SIGTERM)`);
    const signal = await stopped;
    await mount.unmount();
    const s = mount.stats;
    log.info(`${signal}: unmounted ${mount.dir}; served ${formatBytes(s.bytesServed)} in ${s.reads} reads of ${s.opens} opens${s.openless > 0 ? ` and ${s.openless} files read without an open` : ''}`);
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
  if (failed !== undefined) throw new MountError(`cannot unmount ${target}: ${failed}`, { reason: 'mount-point', dir: target });
  log.info(`unmounted ${target}`);
}
