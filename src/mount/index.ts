/**
 * FastFile mode: a channel as a lazily fetched, read-only POSIX folder (FUSE).
 *
 * SageMaker's FastFile shows an S3 prefix as files fetched on demand, so File-mode training code
 * starts at once. pipemode mounts the channel's listing — taken once,
 * at mount time — at `input/data/<channel>` (or any folder, `pipemode mount SOURCE DIR`):
 *
 *   mount-channel.ts   mountChannel(source, dir, options) → { unmount(), stats }: the lifecycle
 *   mount-tree.ts      listing → folders and files, laid out exactly as File mode downloads them
 *   channel-fs.ts      the file system: attributes, listings, handles, errno mapping (no FUSE)
 *   read-ahead.ts      one open file: ranged GETs, a read-ahead window that grows on sequential reads
 *   next-files.ts      files opened in listing order: the next ones are prefetched before they are opened
 *   range-part.ts      one ranged GET's bytes, pinned to the listed version, readable as they arrive
 *   byte-budget.ts     the mount's memory budget (read-ahead and prefetch stay within it)
 *   request-slots.ts   GETs in flight, reads the kernel waits for first
 *   fuse-ops.ts        the kernel's requests answered from ChannelFs (page cache or direct I/O per file)
 *   fuse-session.ts    one mount: /dev/fuse, mount(2), INIT, requests in, replies out (no libfuse)
 *   fuse-reader.ts     the thread that reads requests from /dev/fuse
 *   fuse-protocol.ts   the kernel protocol's structures, decoded and encoded (pure)
 *   fuse-binding.ts    why FUSE is unavailable; umount2; stale mounts; the kernel's read-ahead
 *
 * Memory: everything fetched ahead, for every open and prefetched file, stays within the mount's
 * budget (default 256 MiB); only the bytes a read is waiting for may go past it. Errors: a failed
 * fetch is EIO for the reader and a typed error on stderr, once per file; no wrong bytes, ever.
 */
export { mountChannel, type ChannelMount, type MountOptions } from './mount-channel.js';
export { cleanStaleMount, fuseUnavailableReason } from './fuse-binding.js';
export { MountStats } from './mount-stats.js';
