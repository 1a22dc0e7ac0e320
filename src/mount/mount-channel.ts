/**
 * FastFile mode: a channel mounted as a read-only folder whose files are fetched on demand.
 *
 *   listing (once) ─▶ MountTree ─▶ ChannelFs (handles, ReadAhead, NextFiles) ─▶ fuse-ops ─▶ FuseSession ─▶ kernel
 *
 * `mountChannel(source, dir)` lists the channel (or takes a ChannelStream's already-listed share of
 * it, for `pipemode train`), builds the tree, and mounts it at `dir` — a folder that is created if
 * missing, and freed first if a killed pipemode left a dead mount there. It resolves once the kernel
 * has the mount; `unmount()` detaches it (idempotent). Only S3Prefix channels can be mounted, as on
 * SageMaker. When FUSE cannot be used here the promise rejects with MountError before anything is
 * listed, and its message says why, so a caller can fall back to File mode with a one-line notice.
 *
 * Lifecycle: mounting → mounted → unmounted. The process that serves a mount must never read it
 * with synchronous calls (they would block the only thread that answers the kernel), nor from more
 * libuv threadpool threads than the pool has (the store may need one to answer).
 */
import fs from 'node:fs';
import path from 'node:path';
import { resolveChannel, type ChannelSpec } from '../channel/channel-spec.js';
import { MountError } from '../core/errors.js';
import { silentLogger, type Logger } from '../core/log.js';
import type { RetryPolicy } from '../storage/retry.js';
import { MOUNT_FETCH_OPTIONS, resolveFetchOptions } from '../fetch/fetch-options.js';
import { itemsFromPrefix } from '../manifest/from-prefix.js';
import type { ObjectUnit } from '../manifest/unit.js';
import { channelRelativePath } from '../channel/key-path.js';
import { Stores, type StoresOptions } from '../storage/stores.js';
import { ChannelStream } from '../stream/channel-stream.js';
import { ByteBudget } from './byte-budget.js';
import { ChannelFs } from './channel-fs.js';
import { cleanStaleMount, fuseUnavailableReason, MOUNT_SOURCE, raiseKernelReadAhead } from './fuse-binding.js';
import { fuseHandler } from './fuse-ops.js';
import { FuseSession } from './fuse-session.js';
import { MountStats } from './mount-stats.js';
import { MountTree, type MountEntry } from './mount-tree.js';
import { DEFAULT_READ_AHEAD } from './read-ahead.js';
import { RequestSlots } from './request-slots.js';

export interface MountOptions {
  /** Bytes fetched ahead for the whole mount: read-ahead plus prefetched files. @default 256 MiB */
  readonly memoryBudget?: number;
  /** Largest ranged GET. @default 8 MiB */
  readonly partSize?: number;
  /** Ranged GETs in flight at once. @default 32 */
  readonly maxRequests?: number;
  /** Read-ahead ceiling per open file. @default 64 MiB (at most half the budget) */
  readonly maxReadAhead?: number;
  /** Files prefetched ahead of a reader that opens them in listing order. @default 256 */
  readonly prefetchFiles?: number;
  readonly retry?: RetryPolicy;
  /** Stores to read from; by default the mount makes its own (and closes them on unmount). */
  readonly stores?: Stores;
  readonly storesOptions?: StoresOptions;
  /**
   * Keep every file in the kernel's page cache, however large (a second epoch then reads it from
   * memory, as long as memory holds it). @default false: files from 4 MiB on are read with direct I/O
   */
  readonly pageCacheAll?: boolean;
  /** Let other users read the mount (FUSE allow_other). @default false: only the mounting user */
  readonly allowOther?: boolean;
  /** Where read failures are reported (once per file and error code). */
  readonly log?: Logger;
  /** Cancels the listing; once mounted, use unmount(). */
  readonly signal?: AbortSignal;
}


export interface ChannelMount {
  readonly dir: string;
  /** Files and bytes shown. */
  readonly files: number;
  readonly bytes: number;
  readonly stats: MountStats;
  /** Bytes reserved from the memory budget now, and at most. */
  readonly memory: { readonly limit: number; readonly used: number; readonly peak: number };
  /** Detaches the mount; safe to call more than once. */
  unmount(): Promise<void>;
}

function mountSpec(uri: string): ChannelSpec {
  return resolveChannel({ ChannelName: 'mount', DataSource: { S3DataSource: { S3DataType: 'S3Prefix', S3Uri: uri } } }, 'source');
}

async function entriesOf(source: ChannelSpec | ChannelStream, stores: Stores, signal: AbortSignal | undefined): Promise<MountEntry[]> {
  const spec = source instanceof ChannelStream ? source.spec : source;
  if (spec.dataType !== 'S3Prefix') {
    throw new MountError(`channel "${spec.name}" is a ${spec.dataType}; FastFile mounts S3Prefix channels only (as on SageMaker)`, { reason: 'data-type' });
  }
  let units: ObjectUnit[];
  if (source instanceof ChannelStream) {
    await source.listed(); // the tree needs every key (listed in parallel)
    units = source.unitsOf(0).filter((u): u is ObjectUnit => u.kind === 'object');
  } else {
    const store = stores.storeFor(spec.source);
    units = (await itemsFromPrefix(store, spec.source.key, signal)).flat().filter((u): u is ObjectUnit => u.kind === 'object');
  }
  return units.map((u) => {
    if (u.info === undefined) throw new MountError(`${u.store.uriOf(u.key)} has no listed size`, { reason: 'data-type' });
    return { store: u.store, info: u.info, rel: channelRelativePath(spec, u.key, u.store.uriOf(u.key)) };
  });
}


/**
 * Mounts `source` — an S3 URI / local path (S3Prefix semantics), a ChannelSpec, or a ChannelStream
 * (its host's share, already listed) — read-only at `dir`.
 */
export async function mountChannel(source: string | ChannelSpec | ChannelStream, dir: string, options: MountOptions = {}): Promise<ChannelMount> {
  const fetch = resolveFetchOptions({
    memoryBudget: options.memoryBudget, partSize: options.partSize, maxRequests: options.maxRequests, retry: options.retry,
  }, MOUNT_FETCH_OPTIONS);
  const budgetBytes = fetch.memoryBudget;
  const maxRequests = fetch.maxRequests;
  // read-ahead needs two parts in the budget: with a budget that holds fewer, parts get smaller
  // (the budget is a bound, never exceeded)
  const partSize = Math.max(64 * 1024, Math.min(fetch.partSize, Math.floor(budgetBytes / 2)));
  const unavailable = fuseUnavailableReason();
  if (unavailable !== undefined) throw new MountError(unavailable.message, { reason: unavailable.reason });

  const target = path.resolve(dir);
  const log = options.log ?? silentLogger;
  const ownStores = options.stores === undefined;
  const stores = options.stores ?? new Stores(options.storesOptions);
  let session: FuseSession | undefined;
  let channelFs: ChannelFs | undefined;
  try {
    const spec = typeof source === 'string' ? mountSpec(source) : source;
    const tree = MountTree.build(await entriesOf(spec, stores, options.signal), Date.now());

    await cleanStaleMount(target);
    try {
      const st = await fs.promises.stat(target);
      if (!st.isDirectory()) throw new MountError(`cannot mount at ${target}: not a folder`, { reason: 'mount-point', dir: target });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      await fs.promises.mkdir(target, { recursive: true, mode: 0o700 });
    }
    // a mount over files would hide them: refuse, as libfuse does
    const inside = await fs.promises.readdir(target);
    if (inside.length > 0) {
      throw new MountError(`cannot mount at ${target}: the folder is not empty (${inside.length} entr${inside.length === 1 ? 'y' : 'ies'}, e.g. "${inside[0] ?? ''}"); mount over an empty or new folder`, {
        reason: 'mount-point', dir: target,
      });
    }

    const stats = new MountStats();
    const budget = new ByteBudget(budgetBytes);
    const ctx = { budget, slots: new RequestSlots(maxRequests), retry: fetch.retry, stats };
    const maxWindow = options.maxReadAhead ?? DEFAULT_READ_AHEAD.maxWindow;
    const fsInstance = new ChannelFs(tree, ctx, {
      readAhead: { ...DEFAULT_READ_AHEAD, partSize, maxWindow },
      nextFiles: { maxFiles: options.prefetchFiles ?? 256, headBytes: Math.min(2 * 1024 * 1024, partSize), maxBytes: Math.floor(budgetBytes / 4), horizonBytes: maxWindow, partSize },
      uid: process.getuid?.() ?? 0,
      gid: process.getgid?.() ?? 0,
      log,
    });
    channelFs = fsInstance;
    const mounted = FuseSession.mount(target, { source: MOUNT_SOURCE, allowOther: options.allowOther === true, log });
    session = mounted;
    mounted.serve(fuseHandler(fsInstance, mounted, { pageCacheAll: options.pageCacheAll === true }));
    await mounted.whenReady(10_000);
    if (!(await raiseKernelReadAhead(target))) log.debug(`kernel read-ahead of ${target} left at its default`);
    log.debug(`mounted ${tree.files.length} files (${tree.totalBytes} bytes) at ${target}`);

    let unmounting: Promise<void> | undefined;
    return {
      dir: target,
      files: tree.files.length,
      bytes: tree.totalBytes,
      stats,
      get memory() {
        return { limit: budget.limit, used: budget.used, peak: budget.peak };
      },
      unmount: () => (unmounting ??= (async () => {
        await mounted.unmount();
        fsInstance.close();
        if (ownStores) stores.close();
      })()),
    };
  } catch (err) {
    channelFs?.close();
    if (session !== undefined) {
      await session.unmount();
      session.stop();
    }
    if (ownStores) stores.close();
    throw err;
  }
}
