/**
 * The parts of FUSE around a session (fuse-session.ts): knowing why FUSE is unavailable before
 * trying (no /dev/fuse, no permission), unmounting, stale mounts, and the kernel's read-ahead.
 *
 * - Unmounting: umount2(MNT_DETACH), on a libuv worker thread — the kernel may send the file
 *   system a last request while unmounting, and the main thread must be free to answer it; for
 *   users other than root, `fusermount -u -z` (fusermount.ts), run without blocking too. Lazy
 *   (detach): the folder is released at once even if a reader still holds a file open; that
 *   reader's reads go on until it closes or pipemode exits.
 * - Stale mounts. A mount whose server died (SIGKILL) stays in the mount table and every access
 *   fails with ENOTCONN; `cleanStaleMount` detaches such a mount so the folder can be used again.
 *
 * Root mounts with mount(2) itself; other users through FUSE's setuid helper (fusermount.ts).
 */
import fs from 'node:fs';
import { MountError } from '../core/errors.js';
import { umount2 } from '../core/libc.js';
import { fusermountPath, unmountWithFusermount, usesFusermount } from './fusermount.js';

const MNT_DETACH = 2;

/**
 * Detaches the mount at `dir` without blocking: umount2(MNT_DETACH) as root, `fusermount -u -z`
 * otherwise. Resolves to undefined, 'EINVAL' when nothing is mounted there, or why it failed.
 */
export function detach(dir: string): Promise<string | undefined> {
  return usesFusermount() ? unmountWithFusermount(dir) : umount2(dir, MNT_DETACH);
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
  if (usesFusermount() && fusermountPath() === undefined) {
    return { reason: 'permission', message: 'FUSE is unavailable: mounting as a user other than root needs fusermount3 (Debian package fuse3) or fusermount (fuse)' };
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
 * read at a time for a sequential reader; with 4 MiB it keeps four 1 MiB reads in flight
 * (docs/benchmarks.md). Best effort: only root may write /sys/class/bdi; anything else leaves the
 * kernel's default.
 */
export const KERNEL_READ_AHEAD_KIB = 4096;

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
    // statfs always asks the server (stat may answer from cached attributes)
    await fs.promises.statfs(dir);
  } catch (err) {
    stale = (err as NodeJS.ErrnoException).code === 'ENOTCONN';
  }
  if (!stale || !mount.type.startsWith('fuse')) {
    throw new MountError(`${dir} is already a mount point (${mount.type} ${mount.source}); unmount it first`, { reason: 'mount-point', dir });
  }
  const failed = await detach(dir);
  if (failed !== undefined) throw new MountError(`cannot remove the stale FUSE mount at ${dir}: unmounting failed: ${failed}`, { reason: 'mount-point', dir });
  return true;
}
