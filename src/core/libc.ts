/**
 * The libc calls Node lacks: mkfifo(3) (no fs.mkfifo; spawning mkfifo(1) costs ~2 ms),
 * fcntl(F_SETPIPE_SZ), which enlarges a pipe's buffer from 64 KiB to 1 MiB — the biggest single
 * throughput lever measured (measured here: 1.3 → 3.9 GiB/s) — and splice(2) with poll(2)
 * and write(2) for the zero-copy file → pipe path (splice-worker.ts), umount2(2) for FUSE
 * mounts (mount/fuse-binding.ts), and flock(2) for the Pipe-mode folder lock (pipe/pipes-lock.ts). Bound through koffi, whose
 * npm package ships prebuilt binaries (no compiler at install).
 */
import os from 'node:os';
import koffi from 'koffi';

const F_SETPIPE_SZ = 1031;
/** Linux's O_CLOEXEC (not in fs.constants). */
const O_CLOEXEC = 0o2000000;

interface Libc {
  mkfifo(path: string, mode: number): number;
  fcntl(fd: number, cmd: number, arg: number): number;
  splice(fdIn: number, offIn: [bigint], fdOut: number, offOut: null, len: number, flags: number): number | bigint;
  poll(fds: [{ fd: number; events: number; revents: number }], nfds: number, timeoutMs: number): number;
  write(fd: number, buf: Uint8Array, len: number): number | bigint;
  open(path: string, flags: number): number;
  flock(fd: number, op: number): number;
  umount2: ((target: string, flags: number) => number) & {
    async(target: string, flags: number, cb: (err: unknown, result: number) => void): void;
  };
}

let libc: Libc | undefined;

function load(): Libc {
  if (libc === undefined) {
    const lib = koffi.load('libc.so.6');
    koffi.struct('pollfd', { fd: 'int', events: 'short', revents: 'short' });
    libc = {
      mkfifo: lib.func('int mkfifo(const char *path, uint32_t mode)') as Libc['mkfifo'],
      fcntl: lib.func('int fcntl(int fd, int cmd, int arg)') as Libc['fcntl'],
      splice: lib.func('long splice(int fd_in, _Inout_ int64_t *off_in, int fd_out, void *off_out, size_t len, unsigned int flags)') as Libc['splice'],
      poll: lib.func('int poll(_Inout_ pollfd *fds, unsigned long nfds, int timeout)') as Libc['poll'],
      write: lib.func('long write(int fd, const uint8_t *buf, size_t count)') as Libc['write'],
      open: lib.func('int open(const char *path, int flags)') as Libc['open'],
      flock: lib.func('int flock(int fd, int op)') as Libc['flock'],
      umount2: lib.func('int umount2(const char *target, int flags)') as Libc['umount2'],
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

/** errno → name; the first name wins where two share a number (EAGAIN, not EWOULDBLOCK). */
const ERRNO_NAMES = new Map<number, string>();
for (const [name, n] of Object.entries(os.constants.errno)) if (!ERRNO_NAMES.has(n)) ERRNO_NAMES.set(n, name);

/** The errno name of the last failed libc call made through this module (e.g. "EAGAIN"). */
export function lastErrno(): string {
  const errno = koffi.errno();
  return ERRNO_NAMES.get(errno) ?? `E${errno}`;
}

const SPLICE_F_MOVE = 1;
const SPLICE_F_NONBLOCK = 2;

/**
 * Moves up to `len` bytes from file `fdIn` at `offset[0]` (advanced in place) into pipe `fdOut`
 * without copying them through user space. Returns the bytes moved, 0 at end of file, or -1
 * with lastErrno() set (EAGAIN: the pipe is full; EPIPE: no reader; EINVAL: not spliceable).
 */
export function splice(fdIn: number, offset: [bigint], fdOut: number, len: number): number {
  return Number(load().splice(fdIn, offset, fdOut, null, len, SPLICE_F_MOVE | SPLICE_F_NONBLOCK));
}

/** write(2): bytes written or -1 (see lastErrno()). */
export function write(fd: number, data: Uint8Array): number {
  return Number(load().write(fd, data, data.length));
}

const POLLOUT = 4;
const POLLERR = 8;

/** Waits up to `timeoutMs` for `fd` to accept writes: 'ready', 'timeout', or 'gone' (no reader). */
export function waitWritable(fd: number, timeoutMs: number): 'ready' | 'timeout' | 'gone' {
  const fds: [{ fd: number; events: number; revents: number }] = [{ fd, events: POLLOUT, revents: 0 }];
  const n = load().poll(fds, 1, timeoutMs);
  if (n <= 0) return 'timeout';
  if ((fds[0].revents & POLLERR) !== 0) return 'gone';
  return 'ready';
}

/** mkfifo(3); throws an ErrnoException (code EEXIST, EACCES, ...) on failure. */
export function mkfifo(path: string, mode: number): void {
  if (load().mkfifo(path, mode) !== 0) throw errnoError('mkfifo', path);
}

/**
 * Asks for a pipe buffer of `bytes`, best effort. The kernel caps it at
 * /proc/sys/fs/pipe-max-size for unprivileged users; if it refuses, the old size stays.
 */
export function setPipeSize(fd: number, bytes: number): void {
  load().fcntl(fd, F_SETPIPE_SZ, bytes);
}

/**
 * open(2) with `flags`: the fd, or the errno name when it fails. No exception is made for a
 * failure: FIFO writers poll with O_NONBLOCK, and ENXIO (no reader yet) is their normal answer.
 */
export function openRaw(path: string, flags: number): number | string {
  const fd = load().open(path, flags | O_CLOEXEC); // as libuv opens every fd: not inherited by children
  return fd >= 0 ? fd : lastErrno();
}

/**
 * umount2(2) on a libuv worker thread (the kernel may send a FUSE file system a last request
 * while unmounting, which the main thread must be free to answer). Resolves to undefined, or the
 * errno name (or the binding's message if the call itself failed).
 */
export function umount2(target: string, flags: number): Promise<string | undefined> {
  const { umount2: call } = load();
  return new Promise((resolve) => {
    call.async(target, flags, (err, result) => {
      if (err !== null && err !== undefined) resolve(err instanceof Error ? err.message : 'umount2 call failed');
      else resolve(result === 0 ? undefined : lastErrno());
    });
  });
}

const LOCK_EX = 2;
const LOCK_NB = 4;

/**
 * flock(fd, LOCK_EX | LOCK_NB): true when this fd now holds the exclusive lock, false when another
 * open file holds it (EWOULDBLOCK); throws for any other failure. The kernel drops the lock when
 * the fd closes, including when the process dies.
 */
export function tryLockExclusive(fd: number): boolean {
  if (load().flock(fd, LOCK_EX | LOCK_NB) === 0) return true;
  const code = lastErrno();
  if (code === 'EAGAIN' || code === 'EWOULDBLOCK') return false;
  throw errnoError('flock');
}
