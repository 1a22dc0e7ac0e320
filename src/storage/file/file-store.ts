/**
 * The local file system as an object store: one bucket rooted at "/", keys are absolute paths
 * without the leading slash. Listing walks only the directories that can hold matching keys, in
 * UTF-8 byte order of keys like S3, yielding each file as the walk reaches it (see `list`); it
 * follows symlinks (once per real directory, so cycles end). Directories themselves are never
 * objects (S3's zero-byte "folder/" markers are skipped too).
 *
 * Reads go into pooled 2 MiB buffers (core/buffer-pool.ts) that the pipe writer recycles, up to
 * four per readv(2), so one trip to the thread pool brings 8 MiB (half a default part); less than half
 * a pooled buffer (a small file, or a file's tail) goes into an exact-size buffer instead, so
 * that a queued small file holds only its own size, not a whole pooled buffer.
 * Reading ahead stops at 32 MiB whatever the budget (`readAheadBytes`): the page cache needs no
 * latency hidden.
 * A file's version token is inode:size:mtime:ctime; a read checks it with fstat before and after
 * it reads, and fails with ObjectChangedError if the file was replaced, resized, rewritten in place
 * or touched since it was listed (after: bytes a rewrite put in place while they were read).
 */
import fs from 'node:fs/promises';
import fsCallback, { closeSync, fstatSync, statSync, type Stats } from 'node:fs';
import path from 'node:path';
import {
  AccessDeniedError, NoSuchKeyError, ObjectChangedError, PipemodeError, StoreProtocolError, throwIfAborted,
} from '../../core/errors.js';
import { ioBuffers } from '../../core/buffer-pool.js';
import { compareKeys, type ListOptions, type ObjectInfo, type ObjectStore } from '../object-store.js';

/**
 * A local file's version token: inode, size, mtime and ctime (any change means a different
 * object; ctime also catches an in-place rewrite whose mtime was set back with utimes/touch).
 */
export function fileVersion(st: Stats): string {
  return `${st.ino}:${st.size}:${st.mtimeMs}:${st.ctimeMs}`;
}

/**
 * The error for a file whose stat `st` is not the listed version `info`, or undefined if it is:
 * found when the file is opened (`before`) or once its last bytes are read (an in-place rewrite).
 */
function changedError(info: ObjectInfo, st: Stats, uri: string, when: 'before' | 'after'): ObjectChangedError | undefined {
  if (info.etag === undefined || fileVersion(st) === info.etag) return undefined;
  return when === 'before'
    ? new ObjectChangedError(`${uri} changed after it was listed (size ${info.size} → ${st.size})`, { uri })
    : new ObjectChangedError(`${uri} changed while it was being read (rewritten in place: size, mtime or ctime differ from the listing)`, { uri });
}

function truncatedError(uri: string, position: number, end: number): ObjectChangedError {
  return new ObjectChangedError(`${uri} ended at byte ${position}, expected ${end} (file truncated while reading)`, { uri, offset: position });
}

async function checkUnchanged(fh: fs.FileHandle, info: ObjectInfo, uri: string): Promise<void> {
  const err = changedError(info, await fh.stat(), uri, 'after');
  if (err !== undefined) throw err;
}

function mapFsError(err: unknown, uri: string): PipemodeError {
  const code = (err as NodeJS.ErrnoException).code;
  if (code === 'ENOENT' || code === 'ENOTDIR' || code === 'EISDIR') return new NoSuchKeyError(`no such file: ${uri}`, { uri }, { cause: err });
  if (code === 'EACCES' || code === 'EPERM') return new AccessDeniedError(`permission denied: ${uri}`, { uri }, { cause: err });
  if (err instanceof PipemodeError) return err;
  return new StoreProtocolError(`cannot read ${uri}: ${(err as Error).message}`, { uri }, { cause: err });
}

/**
 * Stats made in one go before the listing lets the event loop run again. A listing stats every
 * file; through the thread pool each stat(2) cost ~5–8 µs of hand-offs (100,000 cached files:
 * ~0.3 s with callbacks, ~0.8 s with node:fs/promises, 32 at a time), done in place ~1.4 µs, so
 * the walk stats in place, 128 files (well under a millisecond when cached) per turn of the loop.
 */
const STATS_PER_TURN = 128;

/**
 * Bytes [start, end) of a small range (under half a pooled buffer) in one exact-size buffer, with
 * the same checks as `read`. Only open and read, the calls that may wait for the disk, go to the
 * thread pool, through node:fs's callbacks; fstat and close of the open file are done in place.
 * Each trip through node:fs/promises' FileHandle cost ~10 µs of main-thread time here, so open,
 * fstat, read, fstat and close made ~13,000 small files/s on the copying path.
 */
function readSmall(filePath: string, info: ObjectInfo, start: number, end: number, uri: string): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    fsCallback.open(filePath, 'r', (openErr, fd) => {
      if (openErr !== null) return reject(mapFsError(openErr, uri));
      const finish = (err: unknown, buffer?: Buffer): void => {
        try {
          closeSync(fd);
        } catch (closeErr) {
          err ??= closeErr;
        }
        if (err !== undefined) reject(mapFsError(err, uri));
        else resolve(buffer as Buffer);
      };
      const check = (when: 'before' | 'after'): unknown => {
        try {
          return changedError(info, fstatSync(fd), uri, when);
        } catch (err) {
          return err;
        }
      };
      const before = check('before');
      if (before !== undefined) return finish(before);
      const buffer = Buffer.allocUnsafeSlow(end - start);
      const readFrom = (offset: number): void => {
        fsCallback.read(fd, buffer, offset, buffer.length - offset, start + offset, (readErr, n) => {
          if (readErr !== null) return finish(readErr);
          if (n === 0) return finish(truncatedError(uri, start + offset, end));
          if (offset + n < buffer.length) return readFrom(offset + n);
          finish(check('after'), buffer);
        });
      };
      readFrom(0);
    });
  });
}

/** A folder's real path and entry names, as `list` reads them before it orders them. */
interface FolderRead {
  readonly real: string;
  readonly names: string[];
}

/** Reads of the first folder of a listing to come, started by `readFolderAhead`, by path. */
const foldersAhead = new Map<string, Promise<FolderRead>>();

/** How long a read started ahead waits for its listing before it is dropped (its names freed). */
const AHEAD_MS = 2000;

async function readFolder(dirPath: string): Promise<FolderRead> {
  const real = await fs.realpath(dirPath);
  return { real, names: await fs.readdir(dirPath) };
}

/**
 * Starts reading the first folder that `list(prefix)` will read, for a listing that is about to
 * start: the CLI calls it with a local channel's prefix before it loads the code that lists and
 * streams the channel. readdir of a flat folder of 100,000 files takes ~50–70 ms on the thread
 * pool, and loading that code ~50 ms on the main thread, so the two overlap instead of adding
 * up. The first listing of that folder within AHEAD_MS takes the result, as if it had started
 * then; a failure is kept for it to report; anything else lists as usual.
 */
export function readFolderAhead(prefix: string): void {
  const dirPath = `/${startDirOf(prefix)}`;
  if (foldersAhead.has(dirPath)) return;
  const read = readFolder(dirPath);
  read.catch(() => undefined); // reported by the listing that takes it, if one does
  foldersAhead.set(dirPath, read);
  setTimeout(() => {
    if (foldersAhead.get(dirPath) === read) foldersAhead.delete(dirPath);
  }, AHEAD_MS).unref();
}

/** The read of `dirPath` started ahead, if there is one: taken once. */
function takeFolderAhead(dirPath: string): Promise<FolderRead> | undefined {
  const ahead = foldersAhead.get(dirPath);
  foldersAhead.delete(dirPath);
  return ahead;
}

/** The folder key (with its trailing "/", or "" for the root) where a listing of `prefix` starts. */
function startDirOf(prefix: string): string {
  return prefix.slice(0, prefix.lastIndexOf('/') + 1);
}

/** Pooled buffers per read: one trip to the thread pool reads up to 8 MiB. */
const BUFFERS_PER_READ = 4;

/** Buffers for reading `left` bytes: pooled ones, and an exact-size one for a tail under half of one. */
function readBuffers(left: number): Buffer[] {
  const buffers: Buffer[] = [];
  while (left > 0 && buffers.length < BUFFERS_PER_READ) {
    const want = Math.min(ioBuffers.size, left);
    buffers.push(want * 2 < ioBuffers.size ? Buffer.allocUnsafeSlow(want) : ioBuffers.acquire().subarray(0, want));
    left -= want;
  }
  return buffers;
}

/**
 * Read-ahead of a local file: 4 default parts. On 2 GiB of cached files copied into a FIFO
 * (`pipemode cat --no-zero-copy`), a 32 MiB window was ~8 % faster than the 128 MiB default
 * budget at ~10 % less CPU and half the RSS; a window of 16 requests of small files still fits.
 */
const READ_AHEAD_BYTES = 32 * 1024 * 1024;

export class FileStore implements ObjectStore {
  readonly readAheadBytes = READ_AHEAD_BYTES;

  uriOf(key: string): string {
    return `file:///${key}`;
  }

  /**
   * Walks the folders in key order and yields each file as soon as everything before it is
   * known, so a consumer can start on the first objects of a large tree while the rest is
   * listed. A folder's entries are ordered by their keys, a subfolder's with "/" appended: every
   * key under it starts with that, so its subtree sorts as one block, and walking the blocks in
   * order gives exactly the byte order of the whole listing. Names come without their types
   * (half the cost of readdir's Dirents on 100,000 files): a folder "x" sorts where the name "x"
   * does unless a sibling's name is "x" followed by a byte below "/" ("x-1", "x.csv"), so only
   * such names are statted up front; every other entry is statted when the walk reaches it
   * (following symlinks, STATS_PER_TURN per turn of the event loop). `startAfter` skips, without
   * a stat, every entry that sorts wholly before it.
   */
  async *list(prefix: string, signal?: AbortSignal, options: ListOptions = {}): AsyncIterable<ObjectInfo> {
    const startDir = startDirOf(prefix);
    const after = options.startAfter;
    const seenDirs = new Set<string>();
    const uriOf = (key: string): string => this.uriOf(key);
    let yielded = 0;
    let stats = 0;
    /** stat(2) of `key` (undefined where it is gone), letting the event loop run every STATS_PER_TURN. */
    const stat = async (key: string): Promise<Stats | undefined> => {
      if (++stats % STATS_PER_TURN === 0) await new Promise<void>((resolve) => setImmediate(resolve));
      try {
        return statSync(`/${key}`, { throwIfNoEntry: false });
      } catch (err) {
        throw mapFsError(err, uriOf(key));
      }
    };
    /** Whether `key` can be a listed file, and whether a folder of that name can hold one. */
    const wantFile = (key: string): boolean => key.startsWith(prefix) && (after === undefined || compareKeys(key, after) > 0);
    const wantDir = (dirKey: string): boolean =>
      (dirKey.startsWith(prefix) || prefix.startsWith(dirKey)) && (after === undefined || after.startsWith(dirKey) || compareKeys(dirKey, after) > 0);

    /**
     * A folder's entry names in walk order; a folder statted up front (see above) has "/"
     * appended, and its stat in `known`. Names, not keys: 100,000 keys built and filtered up
     * front cost a flat folder's first byte ~15 ms more.
     */
    async function entriesOf(dirKey: string, known: Map<string, Stats | undefined>): Promise<string[] | undefined> {
      const dirPath = `/${dirKey}`;
      let names: string[];
      try {
        // a folder is read only once its real path is new (a symlink back up ends there)
        const ahead = takeFolderAhead(dirPath);
        const real = ahead !== undefined ? (await ahead).real : await fs.realpath(dirPath);
        if (seenDirs.has(real)) return undefined;
        seenDirs.add(real);
        names = ahead !== undefined ? (await ahead).names : await fs.readdir(dirPath);
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        if (code === 'ENOENT' || code === 'ENOTDIR') return undefined; // like S3: nothing under this prefix
        throw mapFsError(err, uriOf(dirKey));
      }
      // inside the prefix and with no startAfter, every entry is wanted
      const all = dirKey.startsWith(prefix) && after === undefined;
      if (!all) names = names.filter((name) => wantFile(dirKey + name) || wantDir(`${dirKey}${name}/`));
      names.sort(compareKeys);
      let moved = false;
      for (let i = 0; i + 1 < names.length; i++) {
        const name = names[i] as string;
        const next = names[i + 1] as string;
        if (!next.startsWith(name) || next.charCodeAt(name.length) >= 0x2f) continue;
        const st = await stat(dirKey + name);
        const folder = st?.isDirectory() === true;
        names[i] = folder ? name + '/' : name;
        known.set(names[i] as string, st);
        moved ||= folder;
      }
      return moved ? names.sort(compareKeys) : names;
    }

    async function* walk(dirKey: string): AsyncGenerator<ObjectInfo> {
      throwIfAborted(signal);
      const known = new Map<string, Stats | undefined>();
      const names = await entriesOf(dirKey, known);
      if (names === undefined) return;
      for (const name of names) {
        throwIfAborted(signal);
        const key = dirKey + name;
        const st = known.has(name) ? known.get(name) : await stat(key);
        if (st === undefined) continue; // raced delete, or a dangling symlink
        if (st.isDirectory()) {
          const sub = key.endsWith('/') ? key : key + '/';
          if (wantDir(sub)) yield* walk(sub);
        } else if (st.isFile() && !key.endsWith('/') && wantFile(key)) {
          yielded++;
          yield { key, size: st.size, etag: fileVersion(st), mtimeMs: st.mtimeMs };
        }
      }
    }

    yield* walk(startDir);
    // one walk is one listing request
    options.onRequest?.(yielded);
  }

  async head(key: string): Promise<ObjectInfo> {
    let st: Stats;
    try {
      st = await fs.stat(`/${key}`);
    } catch (err) {
      throw mapFsError(err, this.uriOf(key));
    }
    if (!st.isFile()) throw new NoSuchKeyError(`not a regular file: ${this.uriOf(key)}`, { uri: this.uriOf(key) });
    return { key, size: st.size, etag: fileVersion(st), mtimeMs: st.mtimeMs };
  }

  async *read(info: ObjectInfo, start: number, end: number, signal?: AbortSignal): AsyncIterable<Buffer> {
    const uri = this.uriOf(info.key);
    if (end > start && (end - start) * 2 < ioBuffers.size) {
      throwIfAborted(signal);
      yield await readSmall(path.join('/', info.key), info, start, end, uri);
      return;
    }
    let fh: fs.FileHandle;
    try {
      fh = await fs.open(path.join('/', info.key), 'r');
    } catch (err) {
      throw mapFsError(err, uri);
    }
    try {
      const changed = changedError(info, await fh.stat(), uri, 'before');
      if (changed !== undefined) throw changed;
      let position = start;
      while (position < end) {
        throwIfAborted(signal);
        const buffers = readBuffers(end - position);
        const { bytesRead } = await fh.readv(buffers, position);
        if (bytesRead === 0) {
          for (const b of buffers) ioBuffers.release(b);
          throw truncatedError(uri, position, end);
        }
        position += bytesRead;
        // the last bytes are checked before they are handed on: rewritten in place meanwhile?
        if (position >= end) await checkUnchanged(fh, info, uri);
        let left = bytesRead;
        for (const b of buffers) {
          const n = Math.min(left, b.length);
          left -= n;
          if (n === 0) ioBuffers.release(b);
          else yield b.subarray(0, n);
        }
      }
    } catch (err) {
      throw mapFsError(err, uri);
    } finally {
      await fh.close();
    }
  }
}
