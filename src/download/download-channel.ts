/**
 * File mode (and FastFile where FUSE is unavailable): the host's shard of a channel is downloaded
 * into `input/data/<channel>/` before the training command starts, several objects at a time.
 *
 * Local paths follow SageMaker (pipe-mode-contract.md §6.1): for S3Prefix, the key below the
 * prefix's directory part (`s3://b/data/train` → `train-1.csv`, `train/x.csv`); for ManifestFile,
 * the full key of each object. A key that would not stay below the channel directory — `..` or `.`
 * segments, a leading `/`, empty segments, a trailing `/`, NUL — is refused (PM_ERR_UNSAFE_KEY),
 * never written. Each file is written under a temporary name in a staging folder beside the
 * channel folder, `<data>/.pipemode~staging-<channel>/` (`~` cannot occur in a channel name, so no
 * channel folder, and no key, can land there; same file system, so the rename is atomic), and
 * renamed into place when complete; the staging folder is removed at the end. A local
 * source file is copied (reflinked where the file system can) and checked against its listed
 * version. Gzip and RecordIO are not applied in File mode, as on SageMaker.
 */
import fs from 'node:fs';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { Readable } from 'node:stream';
import { childAbort } from '../core/abort.js';
import { ObjectChangedError } from '../core/errors.js';
import { channelRelativePath } from '../channel/key-path.js';
import type { ObjectUnit } from '../manifest/unit.js';
import { readRangeWithRetry, withRetry, type RetryPolicy } from '../storage/retry.js';
import { FileStore, fileVersion } from '../storage/file/file-store.js';
import type { ObjectInfo } from '../storage/object-store.js';
import type { ChannelStream } from '../stream/channel-stream.js';

export interface DownloadOptions {
  readonly concurrency: number;
  readonly retry: RetryPolicy;
  readonly signal?: AbortSignal;
  /** Bytes done so far of the total. */
  readonly onProgress?: (done: number, total: number) => void;
}

export interface DownloadResult {
  readonly files: number;
  readonly bytes: number;
}

/** The staging folder of channel folder `dir`: a sibling no channel name can produce. */
export function stagingDir(dir: string): string {
  return path.join(path.dirname(dir), `.pipemode~staging-${path.basename(dir)}`);
}

async function fetchInto(unit: ObjectUnit, info: ObjectInfo, file: string, tmp: string, options: DownloadOptions, onBytes: (n: number) => void): Promise<void> {
  try {
    if (unit.store instanceof FileStore) {
      const source = `/${unit.key}`;
      await fs.promises.copyFile(source, tmp, fs.constants.COPYFILE_FICLONE);
      const st = await fs.promises.stat(source);
      if (info.etag !== undefined && fileVersion(st) !== info.etag) {
        throw new ObjectChangedError(`${unit.store.uriOf(unit.key)} changed while it was being copied`, { uri: unit.store.uriOf(unit.key) });
      }
      onBytes(info.size);
    } else {
      const body = Readable.from(
        (async function* () {
          if (info.size === 0) return;
          for await (const chunk of readRangeWithRetry(unit.store, info, 0, info.size, options.retry, options.signal)) {
            onBytes(chunk.length);
            yield chunk;
          }
        })(),
      );
      await pipeline(body, fs.createWriteStream(tmp, { mode: 0o600 }));
    }
    await fs.promises.rename(tmp, file);
  } catch (err) {
    await fs.promises.rm(tmp, { force: true });
    throw err;
  }
}

/** Runs `task(i)` for i = 0 … count-1, at most `limit` at a time. */
async function eachLimited(count: number, limit: number, task: (i: number) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async (): Promise<void> => {
    for (let i = next++; i < count; i = next++) await task(i);
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(limit, count)) }, worker));
}

/** Downloads this host's share of the channel into `dir` (created, mode 0700). */
export async function downloadChannel(stream: ChannelStream, dir: string, options: DownloadOptions): Promise<DownloadResult> {
  const units = stream.unitsOf(0).filter((u): u is ObjectUnit => u.kind === 'object');
  // every path is checked before anything is written
  const targets = units.map((u) => ({ unit: u, rel: channelRelativePath(stream.spec, u.key, u.store.uriOf(u.key)) }));
  // every request in flight listens to the caller's signal through this one
  const abort = childAbort(options.signal, 0);
  const signal = abort.signal;
  let staged: string | undefined;
  try {
    // sizes come with a prefix listing; manifest entries are looked up (HEAD), a bounded number at a time
    const infos: ObjectInfo[] = [];
    await eachLimited(targets.length, options.concurrency, async (i) => {
      const { unit } = targets[i] as (typeof targets)[number];
      infos[i] = unit.info ?? (await withRetry(() => unit.store.head(unit.key, signal), options.retry, signal));
    });
    const total = infos.reduce((n, info) => n + info.size, 0);
    fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
    const staging = stagingDir(dir);
    fs.rmSync(staging, { recursive: true, force: true }); // left by a killed run
    fs.mkdirSync(staging, { mode: 0o700 });
    staged = staging;
    let done = 0;
    const fetchOptions = { ...options, signal };
    await eachLimited(targets.length, options.concurrency, async (i) => {
      const { unit, rel } = targets[i] as (typeof targets)[number];
      const file = path.join(dir, rel);
      await fs.promises.mkdir(path.dirname(file), { recursive: true, mode: 0o700 });
      await fetchInto(unit, infos[i] as ObjectInfo, file, path.join(staging, `${i}.part`), fetchOptions, (n) => {
        done += n;
        options.onProgress?.(done, total);
      });
    });
    return { files: targets.length, bytes: total };
  } finally {
    abort.abort(); // nothing of this download runs on
    if (staged !== undefined) fs.rmSync(staged, { recursive: true, force: true });
  }
}
