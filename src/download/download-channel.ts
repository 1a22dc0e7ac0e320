/**
 * File mode (and FastFile where FUSE is unavailable): the host's shard of a channel is downloaded
 * into `input/data/<channel>/` before the training command starts, several objects at a time.
 *
 * Local paths follow SageMaker's File mode: for S3Prefix, the key below the
 * prefix's directory part (`s3://b/data/train` → `train-1.csv`, `train/x.csv`); for ManifestFile,
 * the full key of each object. A key that would not stay below the channel directory — `..` or `.`
 * segments, a leading `/`, empty segments, a trailing `/`, NUL — is refused (PM_ERR_UNSAFE_KEY),
 * never written. Each file is written under a temporary name in a staging folder beside the
 * channel folder, `<data>/.pipemode~staging-<channel>/` (`~` cannot occur in a channel name, so no
 * channel folder, and no key, can land there; same file system, so the rename is atomic), and
 * renamed into place when complete; the staging folder is removed at the end. A local
 * source file is copied (reflinked where the file system can) and checked against its listed
 * version. Gzip and RecordIO are not applied in File mode, as on SageMaker. Two keys of which one
 * would be a file and a folder at once (`a`, `a/b`) are refused before anything is written
 * (PM_ERR_UNSAFE_KEY). A channel larger than the free space fails before it starts, and a disk
 * that fills up part-way (ENOSPC) removes the partial download; both are PM_ERR_NO_SPACE.
 */
import fs from 'node:fs';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { Readable } from 'node:stream';
import { childAbort } from '../core/abort.js';
import { formatBytes } from '../core/byte-size.js';
import { NoSpaceError, ObjectChangedError, UnsafeKeyError } from '../core/errors.js';
import { channelRelativePath, fileFolderClash } from '../channel/key-path.js';
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
      await fs.promises.chmod(tmp, 0o600); // as a download from S3: the job's data is nobody else's
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

/** Bytes free for an unprivileged writer on the file system of `dir` (undefined where unknown). */
function freeBytes(dir: string): number | undefined {
  try {
    const st = fs.statfsSync(dir);
    return st.bavail * st.bsize;
  } catch {
    return undefined;
  }
}

/** Runs `task(i)` for i = 0 … count-1, at most `limit` at a time. */
async function eachLimited(count: number, limit: number, task: (i: number) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async (): Promise<void> => {
    for (let i = next++; i < count; i = next++) await task(i);
  };
  // every worker has stopped before this returns or throws (nothing writes on after a failure)
  const results = await Promise.allSettled(Array.from({ length: Math.max(1, Math.min(limit, count)) }, worker));
  const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failed !== undefined) throw failed.reason;
}

/** Downloads this host's share of the channel into `dir` (created, mode 0700). */
export async function downloadChannel(stream: ChannelStream, dir: string, options: DownloadOptions): Promise<DownloadResult> {
  await stream.listed(); // File mode needs every key (listed in parallel) before the first file
  const units = stream.unitsOf(0).filter((u): u is ObjectUnit => u.kind === 'object');
  // every path is checked before anything is written
  const targets = units.map((u) => ({ unit: u, rel: channelRelativePath(stream.spec, u.key, u.store.uriOf(u.key)) }));
  const clash = fileFolderClash(targets.map((t) => t.rel));
  if (clash !== undefined) {
    const uriOf = (rel: string): string => {
      const t = targets.find((x) => x.rel === rel) as (typeof targets)[number];
      return t.unit.store.uriOf(t.unit.key);
    };
    throw new UnsafeKeyError(`cannot download both ${uriOf(clash[0])} and ${uriOf(clash[1])}: "${clash[0]}" would have to be a file and a folder at once`, {
      uri: uriOf(clash[0]), other: uriOf(clash[1]),
    });
  }
  // every request in flight listens to the caller's signal through this one
  const abort = childAbort(options.signal, 0);
  const signal = abort.signal;
  let staged: string | undefined;
  let total = 0;
  try {
    // sizes come with a prefix listing; manifest entries are looked up (HEAD), a bounded number at a time
    const infos: ObjectInfo[] = [];
    await eachLimited(targets.length, options.concurrency, async (i) => {
      const { unit } = targets[i] as (typeof targets)[number];
      infos[i] = unit.info ?? (await withRetry(() => unit.store.head(unit.key, signal), options.retry, signal));
    });
    total = infos.reduce((n, info) => n + info.size, 0);
    fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
    const free = freeBytes(dir);
    if (free !== undefined && free < total) {
      throw new NoSpaceError(`${dir}: the channel needs ${formatBytes(total)}, the disk has ${formatBytes(free)} free: nothing downloaded`, { path: dir, needed: total, free });
    }
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
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code !== 'ENOSPC' && code !== 'EDQUOT') throw err;
    // the disk filled up part-way: free what this download wrote, and say so
    abort.abort();
    await fs.promises.rm(dir, { recursive: true, force: true });
    throw new NoSpaceError(`${dir}: the disk filled up while downloading ${stream.spec.uri} (${formatBytes(total)}); the partial download was removed`, { path: dir, errno: code }, { cause: err });
  } finally {
    abort.abort(); // nothing of this download runs on
    if (staged !== undefined) fs.rmSync(staged, { recursive: true, force: true });
  }
}
