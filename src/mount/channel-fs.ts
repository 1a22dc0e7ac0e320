/**
 * The read-only file system of one FastFile mount, independent of FUSE (fuse-ops.ts adapts it to
 * the kernel's requests; unit tests drive it directly): attributes and folder listings from the
 * MountTree, file handles each with its ReadAhead, cross-file prefetch (NextFiles), and errors as
 * errnos. Nodes are numbered as FUSE numbers them: the root is 1, the others follow breadth-first;
 * the tree never changes while mounted, so a number stays valid for the mount's life and FORGET
 * needs no bookkeeping.
 *
 * Semantics: files 0444 and folders 0555, owned by the mounting user; sizes and mtimes from the
 * listing; every change (write, create, unlink, rename, chmod, truncate, …) fails with EROFS, as
 * does an open for writing; an unknown path is ENOENT. A read that fails (the object changed since
 * it was listed, it is gone, retries ran out) is EIO, and its typed error is logged to stderr once
 * per file and error code, so the reason is on record while the reader sees a plain I/O error —
 * never wrong or missing bytes.
 *
 * Never touch the mount from the process that serves it with synchronous calls: such a call
 * blocks the one thread that answers the kernel (see mount-channel.ts).
 */
import os from 'node:os';
import { isPipemodeError } from '../core/errors.js';
import type { Logger } from '../core/log.js';
import type { FileNode, MountTree, TreeNode } from './mount-tree.js';
import { ROOT_ID, type DirEntry, type NodeAttributes, type StatfsOut } from './fuse-protocol.js';
import { NextFiles, type NextFilesOptions } from './next-files.js';
import { ReadAhead, type ReadAheadOptions, type Slices } from './read-ahead.js';
import type { FetchContext } from './range-part.js';

const E = os.constants.errno;
/** Negative errnos, as FUSE replies carry them. */
export const ERRNO = Object.freeze({ ENOENT: -E.ENOENT, EIO: -E.EIO, EROFS: -E.EROFS, EBADF: -E.EBADF, EISDIR: -E.EISDIR, ENOTDIR: -E.ENOTDIR });

export interface ChannelFsOptions {
  readonly readAhead: ReadAheadOptions;
  readonly nextFiles: NextFilesOptions;
  readonly uid: number;
  readonly gid: number;
  readonly log: Logger;
}

/** st_blksize: what `cat`, Python and others size their reads by; one FUSE read is at most 1 MiB. */
const BLOCK_SIZE = 1024 * 1024;
const S_IFDIR = 0o040000;
const S_IFREG = 0o100000;
const O_ACCMODE = 3;
const O_TRUNC = 0o1000;

/** Implicit handles (readNode) kept open at most: the oldest idle one is released beyond this. */
const IMPLICIT_HANDLES = 64;

/** A handle opened by readNode for a file read without an open. */
interface Implicit {
  readonly handle: number;
  /** Reads of it not yet answered (their views still out). */
  pending: number;
  /** A read reached the end of the file (or failed): released once nothing is pending. */
  ended: boolean;
}

interface Handle {
  readonly path: string;
  /** The file's position in listing order. */
  readonly index: number;
  readonly reader: ReadAhead;
}

export class ChannelFs {
  readonly tree: MountTree;
  readonly #ctx: FetchContext;
  readonly #options: ChannelFsOptions;
  readonly #next: NextFiles;
  readonly #handles = new Map<number, Handle>();
  readonly #logged = new Set<string>();
  /** Node number → node, and its folder's number (FUSE numbers from 1: nothing at 0). */
  readonly #nodes: (TreeNode | undefined)[] = [undefined];
  readonly #parents: number[] = [ROOT_ID];
  readonly #ids = new Map<TreeNode, number>();
  readonly #entries = new Map<number, readonly DirEntry[]>();
  /** Node number → its implicit handle, oldest first. */
  readonly #implicit = new Map<number, Implicit>();
  #nextHandle = 1;

  constructor(tree: MountTree, ctx: FetchContext, options: ChannelFsOptions) {
    this.tree = tree;
    this.#ctx = ctx;
    this.#options = options;
    this.#next = new NextFiles(tree.files, ctx, options.nextFiles);
    const number = (node: TreeNode, parent: number): void => {
      const id = this.#nodes.length;
      this.#nodes.push(node);
      this.#parents.push(parent);
      this.#ids.set(node, id);
    };
    number(tree.root, ROOT_ID);
    for (let id = ROOT_ID; id < this.#nodes.length; id++) {
      const node = this.#nodes[id] as TreeNode;
      if (node.kind === 'dir') for (const name of node.names) number(node.children.get(name) as TreeNode, id);
    }
  }

  /** The attributes of node `id`, or ENOENT. */
  attributes(id: number): NodeAttributes | number {
    const node = this.#nodes[id];
    return node === undefined ? ERRNO.ENOENT : this.#attributes(node, id);
  }

  /** The entry `name` in folder `parent`: its attributes (ino = its node number), or a negative errno. */
  lookup(parent: number, name: string): NodeAttributes | number {
    const dir = this.#nodes[parent];
    if (dir === undefined) return ERRNO.ENOENT;
    if (dir.kind !== 'dir') return ERRNO.ENOTDIR;
    const child = dir.children.get(name);
    return child === undefined ? ERRNO.ENOENT : this.#attributes(child, this.#ids.get(child) as number);
  }

  /** The node number of a path below the mount ("/" is the root), or undefined. */
  idOf(path: string): number | undefined {
    const node = this.tree.lookup(path);
    return node === undefined ? undefined : this.#ids.get(node);
  }

  /** The size of file `id` (0 for a folder or an unknown node). */
  sizeOf(id: number): number {
    const node = this.#nodes[id];
    return node?.kind === 'file' ? node.info.size : 0;
  }

  /** A folder's entries, "." and ".." first, then the names in order; or a negative errno. */
  entries(id: number): readonly DirEntry[] | number {
    const cached = this.#entries.get(id);
    if (cached !== undefined) return cached;
    const dir = this.#nodes[id];
    if (dir === undefined) return ERRNO.ENOENT;
    if (dir.kind !== 'dir') return ERRNO.ENOTDIR;
    const parent = this.#parents[id] ?? ROOT_ID;
    const list: DirEntry[] = [
      { name: '.', attributes: this.#attributes(dir, id), dot: true },
      { name: '..', attributes: this.#attributes(this.#nodes[parent] as TreeNode, parent), dot: true },
    ];
    for (const name of dir.names) {
      const child = dir.children.get(name) as TreeNode;
      list.push({ name, attributes: this.#attributes(child, this.#ids.get(child) as number) });
    }
    this.#entries.set(id, list);
    return list;
  }

  /** Why node `id` cannot be opened with `flags`, as a negative errno; 0 if it can. */
  refusesOpen(id: number, flags: number): number {
    const node = this.#nodes[id];
    if (node === undefined) return ERRNO.ENOENT;
    if ((flags & O_ACCMODE) !== 0 || (flags & O_TRUNC) !== 0) return ERRNO.EROFS;
    return node.kind === 'dir' ? ERRNO.EISDIR : 0;
  }

  /** Opens node `id` for reading: a handle number, or a negative errno. */
  open(id: number, flags: number): number {
    const refused = this.refusesOpen(id, flags);
    if (refused !== 0) return refused;
    this.#ctx.stats.opens++;
    return this.#openHandle(this.#nodes[id] as FileNode);
  }

  /** A handle on `node`: its ReadAhead, given the file's prefetched head (NextFiles). */
  #openHandle(node: FileNode): number {
    const head = this.#next.opened(node.index);
    const handle = this.#nextHandle;
    this.#nextHandle = this.#nextHandle >= 0x7fffffff ? 1 : this.#nextHandle + 1;
    this.#handles.set(handle, { path: node.path, index: node.index, reader: new ReadAhead(node, this.#ctx, this.#options.readAhead, head) });
    return handle;
  }

  /**
   * Reads without copying: views of the fetched bytes, valid until `release()` (call it once the
   * views are written out, at once), or a negative errno.
   */
  async readSlices(handle: number, length: number, position: number): Promise<Slices | number> {
    const h = this.#handles.get(handle);
    if (h === undefined) return ERRNO.EBADF;
    this.#ctx.stats.reads++;
    try {
      const got = await h.reader.readSlices(position, length);
      this.#ctx.stats.bytesServed += got.bytes;
      const spill = h.reader.spill;
      if (spill > 0) this.#next.extend(h.index + 1, spill);
      return got;
    } catch (err) {
      this.#ctx.stats.readErrors++;
      this.#logOnce(h.path, err);
      return ERRNO.EIO;
    }
  }

  /**
   * Reads file `id` when the kernel sends no OPEN (fuse-ops.ts): its first read opens a handle
   * as open() does, and that handle is released once a read has reached the end of the file
   * and no read of it is still out, or when more than IMPLICIT_HANDLES are open (the oldest idle
   * one goes). A file read again later simply gets a new one.
   */
  async readNode(id: number, length: number, position: number): Promise<Slices | number> {
    let implicit = this.#implicit.get(id);
    if (implicit === undefined) {
      const refused = this.refusesOpen(id, 0);
      if (refused !== 0) return refused;
      this.#ctx.stats.openless++;
      implicit = { handle: this.#openHandle(this.#nodes[id] as FileNode), pending: 0, ended: false };
      this.#implicit.set(id, implicit);
      this.#trimImplicit();
    }
    const h = implicit;
    h.pending++;
    const settle = (): void => {
      h.pending--;
      if (!h.ended || h.pending > 0 || this.#implicit.get(id) !== h) return;
      this.#implicit.delete(id);
      this.release(h.handle);
    };
    const got = await this.readSlices(h.handle, length, position);
    if (typeof got === 'number') {
      h.ended = true;
      settle();
      return got;
    }
    if (position + got.bytes >= this.sizeOf(id)) h.ended = true;
    let released = false;
    return {
      slices: got.slices,
      bytes: got.bytes,
      release: () => {
        if (released) return;
        released = true;
        got.release();
        settle();
      },
    };
  }

  release(handle: number): number {
    const h = this.#handles.get(handle);
    if (h === undefined) return ERRNO.EBADF;
    this.#handles.delete(handle);
    h.reader.close();
    return 0;
  }

  /** Totals for statfs (df): the channel's bytes and files, nothing free. */
  statfs(): StatfsOut {
    return { bsize: BLOCK_SIZE, frsize: 4096, blocks: Math.ceil(this.tree.totalBytes / 4096), files: this.tree.files.length, namelen: 1024 };
  }

  /** Closes every handle and drops prefetched data (unmount). */
  close(): void {
    for (const h of this.#handles.values()) h.reader.close();
    this.#handles.clear();
    this.#implicit.clear();
    this.#next.close();
  }

  #attributes(node: TreeNode, ino: number): NodeAttributes {
    const { uid, gid } = this.#options;
    if (node.kind === 'dir') {
      return { ino, mode: S_IFDIR | 0o555, size: 4096, nlink: 2 + node.subdirs, uid, gid, mtime: node.mtimeMs, atime: node.mtimeMs, ctime: node.mtimeMs, blocks: 8, blksize: BLOCK_SIZE };
    }
    const size = node.info.size;
    return { ino, mode: S_IFREG | 0o444, size, nlink: 1, uid, gid, mtime: node.mtimeMs, atime: node.mtimeMs, ctime: node.mtimeMs, blocks: Math.ceil(size / 512), blksize: BLOCK_SIZE };
  }

  #trimImplicit(): void {
    if (this.#implicit.size <= IMPLICIT_HANDLES) return;
    for (const [id, h] of this.#implicit) {
      if (h.pending > 0) continue;
      this.#implicit.delete(id);
      this.release(h.handle);
      return;
    }
  }

  #logOnce(path: string, err: unknown): void {
    const code = isPipemodeError(err) ? err.code : 'PM_ERR_INTERNAL';
    const key = `${path}\0${code}`;
    if (this.#logged.has(key)) return;
    this.#logged.add(key);
    const message = err instanceof Error ? err.message : String(err);
    this.#options.log.error(`${path.slice(1)}: read failed, the reader gets EIO: ${message} [${code}]`);
  }
}
