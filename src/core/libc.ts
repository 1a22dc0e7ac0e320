/**
 * The libc calls Node lacks: mkfifo(3) (no fs.mkfifo; spawning mkfifo(1) costs ~2 ms),
 * fcntl(F_SETPIPE_SZ), which enlarges a pipe's buffer from 64 KiB to 1 MiB — the biggest single
 * throughput lever measured (measured here: 1.3 → 3.9 GiB/s) — and splice(2) with poll(2)
 * and write(2) for the zero-copy file → pipe path (splice-worker.ts), mount(2) and umount2(2) for
 * FUSE mounts (mount/fuse-session.ts, mount/fuse-binding.ts) with socketpair(2) and recvmsg(2)
 * for the fd that fusermount hands over (mount/fusermount.ts), and flock(2) for folder locks (core/folder-lock.ts). Bound through koffi, whose
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
  spliceStream(fdIn: number, offIn: null, fdOut: number, offOut: null, len: number, flags: number): number | bigint;
  pollMany(fds: Uint8Array, nfds: number, timeoutMs: number): number;
  socket(domain: number, type: number, protocol: number): number;
  connect(fd: number, addr: Uint8Array, len: number): number;
  getsockopt(fd: number, level: number, name: number, value: [number], len: [number]): number;
  send(fd: number, buf: Uint8Array, len: number, flags: number): number | bigint;
  recv(fd: number, buf: Uint8Array, len: number, flags: number): number | bigint;
  close(fd: number): number;
  mount(source: string, target: string, fstype: string, flags: number, data: string): number;
  socketpair(domain: number, type: number, protocol: number, fds: Uint8Array): number;
  recvmsg(fd: number, msg: MessageHeader, flags: number): number | bigint;
  umount2: ((target: string, flags: number) => number) & {
    async(target: string, flags: number, cb: (err: unknown, result: number) => void): void;
  };
}

/** struct msghdr as koffi passes it (buffers stand for the pointers). */
interface MessageHeader {
  name: null;
  namelen: number;
  iov: { base: Uint8Array; len: number }[];
  iovlen: number;
  control: Uint8Array;
  controllen: number;
  flags: number;
}

let libc: Libc | undefined;

function load(): Libc {
  if (libc === undefined) {
    const lib = koffi.load('libc.so.6');
    koffi.struct('pollfd', { fd: 'int', events: 'short', revents: 'short' });
    koffi.struct('pm_iovec', { base: 'void *', len: 'size_t' });
    koffi.struct('pm_msghdr', { name: 'void *', namelen: 'uint32_t', iov: 'pm_iovec *', iovlen: 'size_t', control: 'void *', controllen: 'size_t', flags: 'int' });
    libc = {
      mkfifo: lib.func('int mkfifo(const char *path, uint32_t mode)') as Libc['mkfifo'],
      fcntl: lib.func('int fcntl(int fd, int cmd, int arg)') as Libc['fcntl'],
      splice: lib.func('long splice(int fd_in, _Inout_ int64_t *off_in, int fd_out, void *off_out, size_t len, unsigned int flags)') as Libc['splice'],
      poll: lib.func('int poll(_Inout_ pollfd *fds, unsigned long nfds, int timeout)') as Libc['poll'],
      write: lib.func('long write(int fd, const uint8_t *buf, size_t count)') as Libc['write'],
      open: lib.func('int open(const char *path, int flags)') as Libc['open'],
      flock: lib.func('int flock(int fd, int op)') as Libc['flock'],
      spliceStream: lib.func('long splice(int fd_in, void *off_in, int fd_out, void *off_out, size_t len, unsigned int flags)') as Libc['spliceStream'],
      pollMany: lib.func('int poll(_Inout_ uint8_t *fds, unsigned long nfds, int timeout)') as Libc['pollMany'],
      socket: lib.func('int socket(int domain, int type, int protocol)') as Libc['socket'],
      connect: lib.func('int connect(int fd, const uint8_t *addr, uint32_t len)') as Libc['connect'],
      getsockopt: lib.func('int getsockopt(int fd, int level, int name, _Out_ int *value, _Inout_ uint32_t *len)') as Libc['getsockopt'],
      send: lib.func('long send(int fd, const uint8_t *buf, size_t len, int flags)') as Libc['send'],
      recv: lib.func('long recv(int fd, _Out_ uint8_t *buf, size_t len, int flags)') as Libc['recv'],
      close: lib.func('int close(int fd)') as Libc['close'],
      mount: lib.func('int mount(const char *source, const char *target, const char *fstype, unsigned long flags, const char *data)') as Libc['mount'],
      socketpair: lib.func('int socketpair(int domain, int type, int protocol, _Out_ uint8_t *fds)') as Libc['socketpair'],
      recvmsg: lib.func('long recvmsg(int fd, _Inout_ pm_msghdr *msg, int flags)') as Libc['recvmsg'],
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

/**
 * Moves up to `len` bytes from a stream `fdIn` (a TCP socket, a pipe) into pipe `fdOut` without a
 * user-space copy (both offsets NULL). Same returns as splice(); a non-blocking socket gives EAGAIN
 * when it has no data, so poll both ends (pollFds) before retrying.
 */
export function spliceStream(fdIn: number, fdOut: number, len: number): number {
  return Number(load().spliceStream(fdIn, null, fdOut, null, len, SPLICE_F_MOVE | SPLICE_F_NONBLOCK));
}

export const POLLIN = 1;
export const POLLOUT = 4;
export const POLLERR = 8;
export const POLLHUP = 16;

/**
 * poll(2) over several fds: `events[i]` is what to wait for on `fds[i]`; returns each fd's revents
 * (all 0 on timeout).
 */
export function pollFds(fds: readonly number[], events: readonly number[], timeoutMs: number): number[] {
  const table = Buffer.alloc(8 * fds.length);
  fds.forEach((fd, i) => {
    table.writeInt32LE(fd, 8 * i);
    table.writeInt16LE(events[i] ?? 0, 8 * i + 4);
  });
  const n = load().pollMany(table, fds.length, timeoutMs);
  return fds.map((_, i) => (n > 0 ? table.readInt16LE(8 * i + 6) : 0));
}

const AF_INET = 2;
const AF_INET6 = 10;
const SOCK_STREAM = 1;
const SOCK_NONBLOCK = 0o4000;
const SOCK_CLOEXEC = 0o2000000;
const SOL_SOCKET = 1;
const SO_ERROR = 4;
const MSG_NOSIGNAL = 0x4000;
export const MSG_PEEK = 2;

/**
 * Starts a non-blocking TCP connection to a numeric address: the socket fd (wait for POLLOUT, then
 * read socketError), or the errno name when the socket cannot even be made.
 */
export function connectTcp(address: string, family: 4 | 6, port: number): number | string {
  const fd = load().socket(family === 6 ? AF_INET6 : AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return lastErrno();
  let addr: Buffer;
  if (family === 4) {
    addr = Buffer.alloc(16);
    addr.writeUInt16LE(AF_INET, 0);
    addr.writeUInt16BE(port, 2);
    address.split('.').forEach((octet, i) => addr.writeUInt8(Number(octet), 4 + i));
  } else {
    addr = Buffer.alloc(28);
    addr.writeUInt16LE(AF_INET6, 0);
    addr.writeUInt16BE(port, 2);
    ipv6Bytes(address).copy(addr, 8);
  }
  if (load().connect(fd, addr, addr.length) !== 0 && lastErrno() !== 'EINPROGRESS') {
    const errno = lastErrno();
    load().close(fd);
    return errno;
  }
  return fd;
}

function ipv6Bytes(address: string): Buffer {
  const [head = '', tail] = address.split('::');
  const groups = (s: string): number[] => (s === '' ? [] : s.split(':').map((g) => parseInt(g, 16)));
  const left = groups(head);
  const right = tail === undefined ? [] : groups(tail);
  const all = [...left, ...Array<number>(8 - left.length - right.length).fill(0), ...right];
  const out = Buffer.alloc(16);
  all.forEach((g, i) => out.writeUInt16BE(g, 2 * i));
  return out;
}

/** The pending error of a socket (SO_ERROR) as an errno name, or undefined when there is none. */
export function socketError(fd: number): string | undefined {
  const value: [number] = [0];
  if (load().getsockopt(fd, SOL_SOCKET, SO_ERROR, value, [4]) !== 0) return lastErrno();
  if (value[0] === 0) return undefined;
  return ERRNO_NAMES.get(value[0]) ?? `E${value[0]}`;
}

/** send(2) without SIGPIPE: bytes sent or -1 (see lastErrno()). */
export function send(fd: number, data: Uint8Array): number {
  return Number(load().send(fd, data, data.length, MSG_NOSIGNAL));
}

/** recv(2) into `buf`: bytes received, 0 at end of stream, or -1 (see lastErrno()). */
export function recv(fd: number, buf: Uint8Array, flags = 0): number {
  return Number(load().recv(fd, buf, buf.length, flags));
}

/** close(2) of an fd this module opened (sockets from connectTcp). */
export function closeFd(fd: number): void {
  load().close(fd);
}

/** write(2): bytes written or -1 (see lastErrno()). */
export function write(fd: number, data: Uint8Array): number {
  return Number(load().write(fd, data, data.length));
}

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
 * mount(2): undefined, or the errno name. FUSE mounts (mount/fuse-session.ts) are made this way as
 * root; the kernel sends its first request only after the call returns, so it may block the thread.
 */
export function mount(source: string, target: string, fstype: string, flags: number, data: string): string | undefined {
  return load().mount(source, target, fstype, flags, data) === 0 ? undefined : lastErrno();
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

const AF_UNIX = 1;
const SCM_RIGHTS = 1;
const MSG_DONTWAIT = 0x40;
const MSG_CMSG_CLOEXEC = 0x40000000;
const F_GETFL = 3;
const F_SETFL = 4;
const O_NONBLOCK = 0o4000;

/** A connected pair of Unix stream sockets (close-on-exec): [ours, theirs]; throws on failure. */
export function socketPair(): [number, number] {
  const fds = Buffer.alloc(8);
  if (load().socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) !== 0) throw errnoError('socketpair');
  return [fds.readInt32LE(0), fds.readInt32LE(4)];
}

/**
 * Takes one file descriptor passed over Unix socket `fd` (SCM_RIGHTS), without waiting: the fd
 * (close-on-exec), or undefined when none is waiting (or the message carried none).
 */
export function receiveFd(fd: number): number | undefined {
  // a cmsghdr (8-byte length, level, type) and one int, padded: CMSG_SPACE(4) = 24 on 64-bit Linux
  const control = Buffer.alloc(24);
  const msg: MessageHeader = { name: null, namelen: 0, iov: [{ base: Buffer.alloc(1), len: 1 }], iovlen: 1, control, controllen: control.length, flags: 0 };
  const n = Number(load().recvmsg(fd, msg, MSG_DONTWAIT | MSG_CMSG_CLOEXEC));
  if (n < 0 || msg.controllen < 20 || control.readInt32LE(8) !== SOL_SOCKET || control.readInt32LE(12) !== SCM_RIGHTS) return undefined;
  return control.readInt32LE(16);
}

/** Sets O_NONBLOCK on `fd`; throws on failure. */
export function setNonBlocking(fd: number): void {
  const flags = load().fcntl(fd, F_GETFL, 0);
  if (flags < 0 || load().fcntl(fd, F_SETFL, flags | O_NONBLOCK) !== 0) throw errnoError('fcntl');
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
