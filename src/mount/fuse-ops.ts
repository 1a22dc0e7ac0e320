/**
 * ChannelFs as fuse-native's operation table. fuse-native calls each operation on the main
 * thread with a callback whose first argument is the result: 0 or a byte count, or a negative
 * errno. A read's `buf` is libfuse's own memory, valid only until the callback runs, so bytes are
 * copied into it before answering and it is never kept. Every operation that would change
 * something answers EROFS (the mount is also read-only in the kernel, which refuses most of them
 * before they get here).
 */
import type { ChannelFs } from './channel-fs.js';
import { ERRNO } from './channel-fs.js';
import type { FuseCallback } from './fuse-binding.js';

type Op = (...args: never[]) => void;

/** Write operations: name → index of the callback among its arguments. */
const WRITE_OPS: Readonly<Record<string, number>> = {
  truncate: 2, ftruncate: 3, write: 5, create: 2, unlink: 1, rename: 2, link: 2, symlink: 2,
  mkdir: 2, rmdir: 1, chmod: 2, chown: 3, utimens: 3, mknod: 3, setxattr: 5, removexattr: 2,
};

function readOnly(callbackIndex: number): Op {
  return (...args: unknown[]) => {
    (args[callbackIndex] as FuseCallback)(ERRNO.EROFS);
  };
}

export function fuseOperations(fs: ChannelFs): Record<string, Op> {
  const ops: Record<string, Op> = {
    getattr: ((path: string, cb: FuseCallback) => {
      const a = fs.getattr(path);
      if (typeof a === 'number') cb(a);
      else cb(0, a);
    }),
    readdir: ((path: string, cb: FuseCallback) => {
      const r = fs.readdir(path);
      if (typeof r === 'number') cb(r);
      else cb(0, r.names, r.attributes);
    }),
    open: ((path: string, flags: number, cb: FuseCallback) => {
      const h = fs.open(path, flags);
      if (h < 0) cb(h);
      else cb(0, h);
    }),
    read: ((_path: string, handle: number, buf: Buffer, length: number, position: number, cb: FuseCallback) => {
      fs.read(handle, buf, length, position).then(cb, () => cb(ERRNO.EIO));
    }),
    release: ((_path: string, handle: number, cb: FuseCallback) => {
      fs.release(handle);
      cb(0);
    }),
    statfs: ((_path: string, cb: FuseCallback) => {
      cb(0, fs.statfs());
    }),
  };
  for (const [name, callbackIndex] of Object.entries(WRITE_OPS)) ops[name] = readOnly(callbackIndex);
  return ops;
}
