/**
 * ChannelFs as the answer to the kernel's FUSE requests (fuse-session.ts carries them). Names and
 * attributes are given with a validity of a day, since the tree never changes while mounted: the
 * kernel then asks once per name, and a name that is not there is cached as absent too. Folders are
 * opened with FOPEN_CACHE_DIR. Files under DIRECT_IO_FROM are opened with FOPEN_KEEP_CACHE: their
 * pages stay cached across opens, so a second epoch reads them from memory. Larger files are opened
 * for direct I/O: each read(2) of the reader becomes one request (up to 1 MiB) whose reply the
 * kernel copies straight into the reader's buffer. That skips filling the page cache, which costs
 * more CPU than everything else a large read does (docs/benchmarks.md); the mount's own read-ahead
 * keeps the data coming. Direct I/O is used only where the kernel still allows mmap on such files
 * (FUSE_DIRECT_IO_ALLOW_MMAP, Linux 6.6+); elsewhere, and with pageCacheAll, every file is cached.
 *
 * A mount of small files only (all under DIRECT_IO_FROM) does without opens where the kernel can
 * (FUSE_NO_OPEN_SUPPORT): the first OPEN is answered ENOSYS, after which the kernel sends neither
 * OPEN nor RELEASE and caches every file's pages as FOPEN_KEEP_CACHE would. A file read whole
 * then costs one request instead of three (OPEN, READ, RELEASE), and the reader waits for one
 * answer instead of two; ChannelFs.readNode keeps a handle per file for as long as it is read.
 *
 * A READ is answered with one writev(2) of its header and views of the fetched parts: the bytes are
 * not copied in user space at all (the kernel copies them once, into the page cache or, for direct
 * I/O, into the reader's buffer). Requests that would change
 * something answer EROFS (the mount is read-only in the kernel too, which refuses most of them
 * before they get here); optional ones (FLUSH, ACCESS, xattrs, locks) answer ENOSYS, which tells the
 * kernel not to send them again.
 */
import os from 'node:os';
import type { ChannelFs } from './channel-fs.js';
import {
  attrReply, decodeName, decodeOpen, decodeRead, decodeRelease, direntsReply, entryReply, FOPEN, NO_REPLY, OP, openReply,
  statfsReply, WRITE_OPS, type RequestHeader,
} from './fuse-protocol.js';
import type { FuseSession } from './fuse-session.js';

const E = os.constants.errno;
/** How long the kernel may keep names and attributes, in seconds. */
const VALID_SECONDS = 86_400;

/** Files this big and bigger are read with direct I/O (unless the page cache takes every file). */
export const DIRECT_IO_FROM = 4 * 1024 * 1024;

export interface FuseHandlerOptions {
  /** Keep every file in the page cache, large ones too. @default false: direct I/O from DIRECT_IO_FROM */
  readonly pageCacheAll: boolean;
}

export function fuseHandler(fs: ChannelFs, session: FuseSession, options: FuseHandlerOptions): (header: RequestHeader, body: Buffer) => void {
  const openFlags = (size: number): number =>
    !options.pageCacheAll && session.directIoMmap && size >= DIRECT_IO_FROM ? FOPEN.DIRECT_IO : FOPEN.KEEP_CACHE;
  // decided at the first request after INIT, which says what the kernel supports (no request
  // reaches the handler before); PIPEMODE_FUSE_OPENS=1 keeps the opens (the bench compares both)
  let withoutOpens: boolean | undefined;
  const opensOff = (): boolean =>
    (withoutOpens ??= process.env.PIPEMODE_FUSE_OPENS !== '1' && session.noOpenSupport && fs.tree.largestFile < DIRECT_IO_FROM);
  const read = (unique: bigint, nodeid: number, body: Buffer): void => {
    const { fh, offset, size } = decodeRead(body);
    (opensOff() ? fs.readNode(nodeid, size, offset) : fs.readSlices(fh, size, offset)).then(
      (got) => {
        if (typeof got === 'number') {
          session.replyStatus(unique, got);
          return;
        }
        try {
          session.replySlices(unique, got.slices, got.bytes);
        } finally {
          got.release();
        }
      },
      () => session.replyStatus(unique, -E.EIO),
    );
  };

  return (header, body) => {
    const { unique, nodeid, opcode } = header;
    switch (opcode) {
      case OP.LOOKUP: {
        const a = fs.lookup(nodeid, decodeName(body));
        if (a === -E.ENOENT) session.reply(entryReply(unique, undefined, VALID_SECONDS));
        else if (typeof a === 'number') session.replyStatus(unique, a);
        else session.reply(entryReply(unique, a, VALID_SECONDS));
        return;
      }
      case OP.GETATTR: {
        const a = fs.attributes(nodeid);
        if (typeof a === 'number') session.replyStatus(unique, a);
        else session.reply(attrReply(unique, a, VALID_SECONDS));
        return;
      }
      case OP.OPEN: {
        const flags = decodeOpen(body).flags;
        if (opensOff()) {
          // ENOSYS to an open the kernel may make: it sends no more, and reads come with fh 0
          const refused = fs.refusesOpen(nodeid, flags);
          session.replyStatus(unique, refused === 0 ? -E.ENOSYS : refused);
          return;
        }
        const fh = fs.open(nodeid, flags);
        if (fh < 0) session.replyStatus(unique, fh);
        else session.reply(openReply(unique, fh, openFlags(fs.sizeOf(nodeid))));
        return;
      }
      case OP.READ:
        read(unique, nodeid, body);
        return;
      case OP.RELEASE:
        if (!opensOff()) fs.release(decodeRelease(body).fh);
        session.replyStatus(unique, 0);
        return;
      case OP.OPENDIR: {
        const entries = fs.entries(nodeid);
        if (typeof entries === 'number') session.replyStatus(unique, entries);
        else session.reply(openReply(unique, 0, FOPEN.KEEP_CACHE | FOPEN.CACHE_DIR));
        return;
      }
      case OP.READDIR:
      case OP.READDIRPLUS: {
        const entries = fs.entries(nodeid);
        if (typeof entries === 'number') {
          session.replyStatus(unique, entries);
          return;
        }
        const { offset, size } = decodeRead(body);
        session.reply(direntsReply(unique, entries, offset, size, opcode === OP.READDIRPLUS, VALID_SECONDS));
        return;
      }
      case OP.RELEASEDIR:
        session.replyStatus(unique, 0);
        return;
      case OP.STATFS:
        session.reply(statfsReply(unique, fs.statfs()));
        return;
      case OP.READLINK:
        session.replyStatus(unique, -E.EINVAL); // no links here
        return;
      default:
        if (NO_REPLY.has(opcode)) return; // FORGET, BATCH_FORGET: nodes live as long as the mount; INTERRUPT: reads end by themselves
        session.replyStatus(unique, WRITE_OPS.has(opcode) ? -E.EROFS : -E.ENOSYS);
    }
  };
}
