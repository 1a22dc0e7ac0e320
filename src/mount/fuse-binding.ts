/**
 * FUSE from Node: the `fuse-native` binding (N-API, prebuilt, ships its own libfuse 2.9, so no
 * system FUSE package is needed) plus the pieces it lacks, bound from libc through koffi
 * (pipe/libc.ts):
 *
 * - Unmounting without fusermount. fuse-native unmounts by running `fusermount -uz`, which is not
 *   installed here (and need not be); pipemode calls umount2(MNT_DETACH) itself, on a libuv worker
 *   thread — the kernel may send the file system a last request while unmounting, and the main
 *   thread must be free to answer it. Lazy (detach): the folder is released at once even if a
 *   reader still holds a file open; that reader's reads go on until it closes or pipemode exits.
 * - Stale mounts. A mount whose server died (SIGKILL) stays in the mount table and every access
 *   fails with ENOTCONN; `cleanStaleMount` detaches such a mount so the folder can be used again.
 * - Knowing why FUSE is unavailable before trying (no /dev/fuse, no permission, no module), so the
 *   caller gets a MountError that says so and can fall back to File mode.
 *
 * Mounting needs root (or a fusermount helper on PATH, which this libfuse uses for unprivileged
 * mounts). The binding is loaded on first use only: `pipemode` never loads it unless it mounts.
 */
import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { MountError } from '../core/errors.js';
import { umount2 } from '../core/libc.js';

/** The part of fuse-native's class that pipemode uses. */
export interface FuseInstance {
  mount(cb: (err: Error | null) => void): void;
  unmount(cb: (err: Error | null) => void): void;
}

export type FuseCallback = (result: number, ...values: unknown[]) => void;

export interface FuseConstructor {
  new (mnt: string, ops: Record<string, (...args: never[]) => void>, opts: Record<string, unknown>): FuseInstance;
  unmount(mnt: string, cb: (err: Error | null) => void): void;
}

const MNT_DETACH = 2;

/** umount2(dir, MNT_DETACH) on a worker thread; resolves to undefined or the errno name. */
export function detach(dir: string): Promise<string | undefined> {
  return umount2(dir, MNT_DETACH);
}

let fuse: FuseConstructor | undefined;

/** Loads fuse-native (once), with its unmount replaced by umount2; MountError if it cannot load. */
export function loadFuse(): FuseConstructor {
  if (fuse !== undefined) return fuse;
  let Fuse: FuseConstructor;
  try {
    Fuse = createRequire(import.meta.url)('fuse-native') as FuseConstructor;
  } catch (err) {
    throw new MountError(`FUSE is unavailable: the fuse-native module failed to load (${(err as Error).message.split('\n')[0] ?? ''})`, { reason: 'module' }, { cause: err });
  }
  // fuse-native's close() calls this static helper (`fusermount -uz`), then releases its handles
  Fuse.unmount = (mnt, cb) => {
    void detach(mnt).then((failed) => cb(failed === undefined || failed === 'EINVAL' ? null : new Error(`umount2(${mnt}) failed: ${failed}`)));
  };
  fuse = Fuse;
  return Fuse;
}

function onPath(program: string): boolean {
  return (process.env.PATH ?? '').split(':').some((dir) => dir !== '' && fs.existsSync(path.join(dir, program)));
}

/** Why FUSE cannot be used here, or undefined if it can (as far as can be known without mounting). */
export function fuseUnavailableReason(): { reason: string; message: string } | undefined {
  if (process.platform !== 'linux') return { reason: 'platform', message: `FUSE mounts need Linux (this is ${process.platform})` };
  if (!fs.existsSync('/dev/fuse')) {
    return { reason: 'no-device', message: 'FUSE is unavailable: /dev/fuse does not exist (load the fuse kernel module; in a container, add --device /dev/fuse)' };
  }
  try {
    fs.accessSync('/dev/fuse', fs.constants.R_OK | fs.constants.W_OK);
  } catch {
    return { reason: 'permission', message: 'FUSE is unavailable: no permission to open /dev/fuse' };
  }
  if (process.geteuid?.() !== 0 && !onPath('fusermount')) {
    return { reason: 'permission', message: 'FUSE is unavailable: mounting needs root, or the fusermount helper on PATH (Debian package fuse)' };
  }
  try {
    loadFuse();
  } catch (err) {
    return { reason: 'module', message: (err as Error).message };
  }
  return undefined;
}

/** The mount at `dir` now (from /proc/self/mountinfo): its file system type and source, or undefined. */
export function mountAt(dir: string): { readonly type: string; readonly source: string; readonly device: string } | undefined {
  let table: string;
  try {
    table = fs.readFileSync('/proc/self/mountinfo', 'utf8');
  } catch {
    return undefined;
  }
  // mountinfo escapes space, tab, newline and backslash as \ooo
  const unescape = (field: string): string => field.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));
  let found: { type: string; source: string; device: string } | undefined;
  for (const line of table.split('\n')) {
    const fields = line.split(' ');
    const point = fields[4];
    if (point === undefined || unescape(point) !== dir) continue;
    const dash = fields.indexOf('-');
    // the last line for a mount point is the mount on top
    found = {
      type: dash === -1 ? 'unknown' : (fields[dash + 1] ?? 'unknown'),
      source: dash === -1 ? '' : unescape(fields[dash + 2] ?? ''),
      device: fields[2] ?? '',
    };
  }
  return found;
}

/**
 * Kernel read-ahead for the FUSE mount at `dir`, in KiB. The kernel gives a FUSE mount 128 KiB, one
 * FUSE read at a time for a sequential reader; with 512 KiB it keeps four 128 KiB reads in flight,
 * which makes sequential reads through the mount about 1.35x faster here (docs/benchmarks.md).
 * Best effort: only root may write /sys/class/bdi; anything else leaves the kernel's default.
 */
export const KERNEL_READ_AHEAD_KIB = 512;

export async function raiseKernelReadAhead(dir: string, kib: number = KERNEL_READ_AHEAD_KIB): Promise<boolean> {
  const device = mountAt(dir)?.device;
  if (device === undefined || !/^\d+:\d+$/.test(device)) return false;
  const file = `/sys/class/bdi/${device}/read_ahead_kb`;
  try {
    const now = Number((await fs.promises.readFile(file, 'utf8')).trim());
    if (now >= kib) return true;
    await fs.promises.writeFile(file, `${kib}\n`);
    return true;
  } catch {
    return false;
  }
}

/** pipemode's mounts show this as their source in the mount table. */
export const MOUNT_SOURCE = 'pipemode';

/**
 * Detaches a dead FUSE mount left at `dir` by a process that was killed. Returns true if one was
 * removed. A live mount, or anything else mounted there, is left alone (MountError).
 */
export async function cleanStaleMount(dir: string): Promise<boolean> {
  const mount = mountAt(dir);
  if (mount === undefined) return false;
  let stale = false;
  try {
    await fs.promises.stat(dir);
  } catch (err) {
    stale = (err as NodeJS.ErrnoException).code === 'ENOTCONN';
  }
  if (!stale || !mount.type.startsWith('fuse')) {
    throw new MountError(`${dir} is already a mount point (${mount.type} ${mount.source}); unmount it first`, { reason: 'mount-point', dir });
  }
  const failed = await detach(dir);
  if (failed !== undefined) throw new MountError(`cannot remove the stale FUSE mount at ${dir}: umount2 failed with ${failed}`, { reason: 'mount-point', dir });
  return true;
}
