/**
 * The FUSE kernel protocol, as far as a read-only file system needs it: request headers and bodies
 * decoded from what a read of /dev/fuse returns, replies encoded into buffers to write back. Pure
 * functions over Buffers (no I/O), so they are tested on their own (fuse-protocol.test.ts).
 *
 * Layouts are those of <linux/fuse.h> (protocol 7.x, little-endian on every Linux Node runs on).
 * pipemode speaks minor version 39 at most, which has everything it uses: 1 MiB reads
 * (FUSE_MAX_PAGES, 7.28), READDIRPLUS (7.21), cached folders (FOPEN_CACHE_DIR, 7.28), and mmap of
 * files opened for direct I/O (FUSE_DIRECT_IO_ALLOW_MMAP, 7.39); older kernels work without the last.
 */

export const FUSE_MAJOR = 7;
export const FUSE_MAX_MINOR = 39;
export const FUSE_MIN_MINOR = 12;
export const ROOT_ID = 1;

export const OP = Object.freeze({
  LOOKUP: 1, FORGET: 2, GETATTR: 3, SETATTR: 4, READLINK: 5, SYMLINK: 6, MKNOD: 8, MKDIR: 9, UNLINK: 10, RMDIR: 11,
  RENAME: 12, LINK: 13, OPEN: 14, READ: 15, WRITE: 16, STATFS: 17, RELEASE: 18, FSYNC: 20, SETXATTR: 21, GETXATTR: 22,
  LISTXATTR: 23, REMOVEXATTR: 24, FLUSH: 25, INIT: 26, OPENDIR: 27, READDIR: 28, RELEASEDIR: 29, FSYNCDIR: 30,
  ACCESS: 34, CREATE: 35, INTERRUPT: 36, DESTROY: 38, BATCH_FORGET: 42, FALLOCATE: 43, READDIRPLUS: 44, RENAME2: 45,
  COPY_FILE_RANGE: 47, TMPFILE: 51,
});

/** Requests the kernel sends without waiting for a reply. */
export const NO_REPLY: ReadonlySet<number> = new Set([OP.FORGET, OP.BATCH_FORGET, OP.INTERRUPT]);

/** Requests that would change something: EROFS. */
export const WRITE_OPS: ReadonlySet<number> = new Set([
  OP.SETATTR, OP.SYMLINK, OP.MKNOD, OP.MKDIR, OP.UNLINK, OP.RMDIR, OP.RENAME, OP.LINK, OP.WRITE, OP.SETXATTR,
  OP.REMOVEXATTR, OP.CREATE, OP.FALLOCATE, OP.RENAME2, OP.COPY_FILE_RANGE, OP.TMPFILE,
]);

/** fuse_init_in/out flags. */
export const INIT = Object.freeze({
  ASYNC_READ: 1 << 0, BIG_WRITES: 1 << 5, DO_READDIRPLUS: 1 << 13, PARALLEL_DIROPS: 1 << 18, MAX_PAGES: 1 << 22,
  /** The kernel takes ENOSYS to OPEN as "no opens needed" (7.28): it stops sending OPEN and RELEASE. */
  NO_OPEN_SUPPORT: 1 << 17,
  /** flags2 is there (7.36). */
  INIT_EXT: 1 << 30,
});

/** fuse_init_in/out flags2 (the flags' bits 32 to 63). */
export const INIT2 = Object.freeze({ DIRECT_IO_ALLOW_MMAP: 1 << (36 - 32) });

/** fuse_open_out flags. */
export const FOPEN = Object.freeze({ DIRECT_IO: 1 << 0, KEEP_CACHE: 1 << 1, CACHE_DIR: 1 << 3 });

export const IN_HEADER_SIZE = 40;
export const OUT_HEADER_SIZE = 16;
const ATTR_SIZE = 88;
export const ENTRY_OUT_SIZE = 40 + ATTR_SIZE;
export const ATTR_OUT_SIZE = 16 + ATTR_SIZE;
const DIRENT_HEAD = 24;

export interface RequestHeader {
  readonly len: number;
  readonly opcode: number;
  readonly unique: bigint;
  readonly nodeid: number;
  readonly uid: number;
  readonly gid: number;
  readonly pid: number;
}

/** The header of a request read from /dev/fuse; `n` is the byte count the read returned. */
export function decodeHeader(buf: Buffer, n: number): RequestHeader {
  if (n < IN_HEADER_SIZE) throw new Error(`short FUSE request: ${n} bytes`);
  const len = buf.readUInt32LE(0);
  if (len !== n) throw new Error(`FUSE request of ${n} bytes says it has ${len}`);
  return {
    len, opcode: buf.readUInt32LE(4), unique: buf.readBigUInt64LE(8), nodeid: Number(buf.readBigUInt64LE(16)),
    uid: buf.readUInt32LE(24), gid: buf.readUInt32LE(28), pid: buf.readUInt32LE(32),
  };
}

/** A NUL-terminated name at the start of a request body (LOOKUP). */
export function decodeName(body: Buffer): string {
  const end = body.indexOf(0);
  return body.toString('utf8', 0, end === -1 ? body.length : end);
}

export interface InitIn { readonly major: number; readonly minor: number; readonly maxReadahead: number; readonly flags: number; readonly flags2: number }

export function decodeInit(body: Buffer): InitIn {
  const flags = body.readUInt32LE(12);
  const flags2 = (flags & INIT.INIT_EXT) !== 0 && body.length >= 20 ? body.readUInt32LE(16) : 0;
  return { major: body.readUInt32LE(0), minor: body.readUInt32LE(4), maxReadahead: body.readUInt32LE(8), flags, flags2 };
}

/** fuse_read_in (READ, READDIR, READDIRPLUS): the handle, offset and size asked for. */
export function decodeRead(body: Buffer): { readonly fh: number; readonly offset: number; readonly size: number } {
  return { fh: Number(body.readBigUInt64LE(0)), offset: Number(body.readBigUInt64LE(8)), size: body.readUInt32LE(16) };
}

/** fuse_open_in: the open(2) flags. */
export function decodeOpen(body: Buffer): { readonly flags: number } {
  return { flags: body.readUInt32LE(0) };
}

/** fuse_release_in: the handle. */
export function decodeRelease(body: Buffer): { readonly fh: number } {
  return { fh: Number(body.readBigUInt64LE(0)) };
}

/** Writes fuse_out_header at 0: `len` is the whole reply, `error` 0 or a negative errno. */
export function writeOutHeader(out: Buffer, len: number, error: number, unique: bigint): void {
  out.writeUInt32LE(len, 0);
  out.writeInt32LE(error, 4);
  out.writeBigUInt64LE(unique, 8);
}

/** A reply that is only a header: success without data, or an error. */
export function statusReply(unique: bigint, error: number): Buffer {
  const out = Buffer.allocUnsafe(OUT_HEADER_SIZE);
  writeOutHeader(out, OUT_HEADER_SIZE, error, unique);
  return out;
}

/** What a file or folder shows (times in ms since the epoch). */
export interface NodeAttributes {
  readonly ino: number;
  readonly mode: number;
  readonly size: number;
  readonly nlink: number;
  readonly uid: number;
  readonly gid: number;
  readonly mtime: number;
  readonly atime: number;
  readonly ctime: number;
  readonly blocks: number;
  readonly blksize: number;
}

function writeTime(out: Buffer, ms: number, secAt: number, nsecAt: number): void {
  const sec = Math.floor(ms / 1000);
  out.writeBigUInt64LE(BigInt(sec), secAt);
  out.writeUInt32LE(Math.round((ms - sec * 1000) * 1e6), nsecAt);
}

/** fuse_attr at `at`. */
export function writeAttr(out: Buffer, at: number, a: NodeAttributes): void {
  out.writeBigUInt64LE(BigInt(a.ino), at);
  out.writeBigUInt64LE(BigInt(a.size), at + 8);
  out.writeBigUInt64LE(BigInt(a.blocks), at + 16);
  writeTime(out, a.atime, at + 24, at + 48);
  writeTime(out, a.mtime, at + 32, at + 52);
  writeTime(out, a.ctime, at + 40, at + 56);
  out.writeUInt32LE(a.mode, at + 60);
  out.writeUInt32LE(a.nlink, at + 64);
  out.writeUInt32LE(a.uid, at + 68);
  out.writeUInt32LE(a.gid, at + 72);
  out.writeUInt32LE(0, at + 76); // rdev
  out.writeUInt32LE(a.blksize, at + 80);
  out.writeUInt32LE(0, at + 84); // flags
}

/**
 * fuse_entry_out at `at` (LOOKUP, and each READDIRPLUS entry): the node and how long the kernel may
 * keep the name and the attributes. `a` undefined is a negative entry (node 0: "no such name",
 * cached for `validSeconds` too).
 */
export function writeEntry(out: Buffer, at: number, a: NodeAttributes | undefined, validSeconds: number): void {
  out.fill(0, at, at + ENTRY_OUT_SIZE);
  out.writeBigUInt64LE(BigInt(a?.ino ?? 0), at);
  out.writeBigUInt64LE(BigInt(validSeconds), at + 16); // entry_valid
  out.writeBigUInt64LE(BigInt(validSeconds), at + 24); // attr_valid
  if (a !== undefined) writeAttr(out, at + 40, a);
}

export function entryReply(unique: bigint, a: NodeAttributes | undefined, validSeconds: number): Buffer {
  const out = Buffer.allocUnsafe(OUT_HEADER_SIZE + ENTRY_OUT_SIZE);
  writeOutHeader(out, out.length, 0, unique);
  writeEntry(out, OUT_HEADER_SIZE, a, validSeconds);
  return out;
}

export function attrReply(unique: bigint, a: NodeAttributes, validSeconds: number): Buffer {
  const out = Buffer.alloc(OUT_HEADER_SIZE + ATTR_OUT_SIZE);
  writeOutHeader(out, out.length, 0, unique);
  out.writeBigUInt64LE(BigInt(validSeconds), OUT_HEADER_SIZE);
  writeAttr(out, OUT_HEADER_SIZE + 16, a);
  return out;
}

export function openReply(unique: bigint, fh: number, openFlags: number): Buffer {
  const out = Buffer.alloc(OUT_HEADER_SIZE + 16);
  writeOutHeader(out, out.length, 0, unique);
  out.writeBigUInt64LE(BigInt(fh), OUT_HEADER_SIZE);
  out.writeUInt32LE(openFlags, OUT_HEADER_SIZE + 8);
  return out;
}

export interface InitOut {
  readonly minor: number;
  readonly maxReadahead: number;
  readonly flags: number;
  readonly flags2: number;
  readonly maxBackground: number;
  readonly congestionThreshold: number;
  readonly maxWrite: number;
  readonly maxPages: number;
}

/** fuse_init_out (64 bytes). */
export function initReply(unique: bigint, o: InitOut): Buffer {
  const out = Buffer.alloc(OUT_HEADER_SIZE + 64);
  writeOutHeader(out, out.length, 0, unique);
  const at = OUT_HEADER_SIZE;
  out.writeUInt32LE(FUSE_MAJOR, at);
  out.writeUInt32LE(o.minor, at + 4);
  out.writeUInt32LE(o.maxReadahead, at + 8);
  out.writeUInt32LE(o.flags >>> 0, at + 12);
  out.writeUInt16LE(o.maxBackground, at + 16);
  out.writeUInt16LE(o.congestionThreshold, at + 18);
  out.writeUInt32LE(o.maxWrite, at + 20);
  out.writeUInt32LE(1, at + 24); // time_gran: 1 ns
  out.writeUInt16LE(o.maxPages, at + 28);
  out.writeUInt32LE(o.flags2 >>> 0, at + 32);
  return out;
}

export interface StatfsOut { readonly blocks: number; readonly files: number; readonly bsize: number; readonly frsize: number; readonly namelen: number }

/** fuse_statfs_out: nothing free (the mount is read-only). */
export function statfsReply(unique: bigint, s: StatfsOut): Buffer {
  const out = Buffer.alloc(OUT_HEADER_SIZE + 80);
  writeOutHeader(out, out.length, 0, unique);
  const at = OUT_HEADER_SIZE;
  out.writeBigUInt64LE(BigInt(s.blocks), at);
  out.writeBigUInt64LE(BigInt(s.files), at + 24);
  out.writeUInt32LE(s.bsize, at + 40);
  out.writeUInt32LE(s.namelen, at + 44);
  out.writeUInt32LE(s.frsize, at + 48);
  return out;
}

/** One folder entry: its name and what it is (attributes also give READDIRPLUS its entry). */
export interface DirEntry {
  readonly name: string;
  readonly attributes: NodeAttributes;
  /** "." and "..": listed, but the kernel makes no dentry for them. */
  readonly dot?: boolean;
}

/** The size one entry takes in a READDIR (plus: READDIRPLUS) reply, 8-byte aligned. */
export function direntSize(nameBytes: number, plus: boolean): number {
  return (plus ? ENTRY_OUT_SIZE : 0) + ((DIRENT_HEAD + nameBytes + 7) & ~7);
}

/**
 * A READDIR or READDIRPLUS reply: entries from index `offset` on, as many as fit in `size` bytes.
 * Each entry's `off` is the index of the one after it, which the kernel sends back to continue.
 */
export function direntsReply(unique: bigint, entries: readonly DirEntry[], offset: number, size: number, plus: boolean, validSeconds: number): Buffer {
  const parts: { entry: DirEntry; name: Buffer; index: number }[] = [];
  let used = 0;
  for (let i = offset; i < entries.length; i++) {
    const entry = entries[i] as DirEntry;
    const name = Buffer.from(entry.name, 'utf8');
    const need = direntSize(name.length, plus);
    if (used + need > size) break;
    parts.push({ entry, name, index: i });
    used += need;
  }
  const out = Buffer.alloc(OUT_HEADER_SIZE + used);
  writeOutHeader(out, out.length, 0, unique);
  let at = OUT_HEADER_SIZE;
  for (const { entry, name, index } of parts) {
    if (plus) {
      writeEntry(out, at, entry.attributes, entry.dot === true ? 0 : validSeconds);
      if (entry.dot === true) out.writeBigUInt64LE(0n, at); // no node handed over for "." and ".."
      at += ENTRY_OUT_SIZE;
    }
    out.writeBigUInt64LE(BigInt(entry.attributes.ino), at);
    out.writeBigUInt64LE(BigInt(index + 1), at + 8);
    out.writeUInt32LE(name.length, at + 16);
    out.writeUInt32LE((entry.attributes.mode & 0o170000) >> 12, at + 20); // DT_DIR, DT_REG, ...
    name.copy(out, at + DIRENT_HEAD);
    at += (DIRENT_HEAD + name.length + 7) & ~7;
  }
  return out;
}
