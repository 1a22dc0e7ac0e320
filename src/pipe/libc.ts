/**
 * The two libc calls Node lacks: mkfifo(3) (no fs.mkfifo; spawning mkfifo(1) costs ~2 ms) and
 * fcntl(F_SETPIPE_SZ), which enlarges a pipe's buffer from 64 KiB to 1 MiB — the biggest single
 * throughput lever measured (node-dataplane.md §1: 1.3 → 3.9 GiB/s). Bound through koffi, whose
 * npm package ships prebuilt binaries (no compiler at install).
 */
import os from 'node:os';
import koffi from 'koffi';

const F_SETPIPE_SZ = 1031;
const F_GETPIPE_SZ = 1032;

interface Libc {
  mkfifo(path: string, mode: number): number;
  fcntl(fd: number, cmd: number, arg: number): number;
}

let libc: Libc | undefined;

function load(): Libc {
  if (libc === undefined) {
    const lib = koffi.load('libc.so.6');
    libc = {
      mkfifo: lib.func('int mkfifo(const char *path, uint32_t mode)') as Libc['mkfifo'],
      fcntl: lib.func('int fcntl(int fd, int cmd, int arg)') as Libc['fcntl'],
    };
  }
  return libc;
}

function errnoError(call: string, path?: string): NodeJS.ErrnoException {
  const errno = koffi.errno();
  const err = new Error(`${call} failed: errno ${errno}${path !== undefined ? ` (${path})` : ''}`) as NodeJS.ErrnoException;
  err.errno = errno;
  err.code = ERRNO_NAMES.get(errno) ?? `E${errno}`;
  err.syscall = call;
  if (path !== undefined) err.path = path;
  return err;
}

const ERRNO_NAMES = new Map(Object.entries(os.constants.errno).map(([name, n]) => [n, name]));

/** mkfifo(3); throws an ErrnoException (code EEXIST, EACCES, ...) on failure. */
export function mkfifo(path: string, mode: number): void {
  if (load().mkfifo(path, mode) !== 0) throw errnoError('mkfifo', path);
}

/**
 * Asks for a pipe buffer of `bytes` and returns the size the kernel granted. The kernel caps it
 * at /proc/sys/fs/pipe-max-size for unprivileged users; if it refuses, the old size stays.
 */
export function setPipeSize(fd: number, bytes: number): number {
  const c = load();
  if (c.fcntl(fd, F_SETPIPE_SZ, bytes) < 0) return c.fcntl(fd, F_GETPIPE_SZ, 0);
  return c.fcntl(fd, F_GETPIPE_SZ, 0);
}
