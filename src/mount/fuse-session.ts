/**
 * One FUSE mount served by pipemode itself, speaking the kernel protocol over /dev/fuse (no libfuse):
 *
 *   open /dev/fuse ─▶ mount(2) "fuse.pipemode" with fd=N ─▶ INIT ─▶ requests ⇄ replies ─▶ detach
 *
 * Why not libfuse: its version 2 (the one Node bindings ship) reads at most 128 KiB per request
 * and calls into JavaScript from a thread of its own, a hop per request both ways. Here the kernel
 * is told to send reads of up to 1 MiB (FUSE_MAX_PAGES), requests arrive through one reader thread
 * (fuse-reader.ts), and replies are written straight from the main thread, a single write(2)
 * each — the data of a read goes from the fetched parts into the reply buffer once.
 *
 * The session answers INIT and DESTROY itself; every other request goes to the handler, which
 * must answer each one (except FORGET, BATCH_FORGET and INTERRUPT) exactly once with reply*().
 * Root mounts with mount(2) (CAP_SYS_ADMIN); any other user through FUSE's setuid helper
 * (fusermount.ts), which hands back the /dev/fuse descriptor. The kernel checks access with the
 * mode bits (default_permissions), and only the mounting user gets in unless allowOther.
 *
 * Lifecycle: mount() returns once the kernel holds the mount; its INIT request follows at once and
 * whenReady() waits for it. unmount() detaches the mount (MNT_DETACH): the folder is released at
 * once; files a reader still holds open are served until they are closed, but no longer keep
 * pipemode running. The fd is closed when the reader thread exits.
 */
import fs from 'node:fs';
import os from 'node:os';
import { Worker } from 'node:worker_threads';
import { MountError } from '../core/errors.js';
import { trackWorkerStart } from '../core/thread-starts.js';
import type { Logger } from '../core/log.js';
import { mount as mountSyscall } from '../core/libc.js';
import { detach } from './fuse-binding.js';
import { mountWithFusermount, usesFusermount } from './fusermount.js';
import {
  decodeHeader, decodeInit, FUSE_MAJOR, FUSE_MAX_MINOR, FUSE_MIN_MINOR, IN_HEADER_SIZE, INIT, INIT2, initReply, NO_REPLY, OP,
  OUT_HEADER_SIZE, statusReply, writeOutHeader, type RequestHeader,
} from './fuse-protocol.js';

/** Largest read the kernel is asked to send: 256 pages. */
export const MAX_READ = 1024 * 1024;
/** Largest write the kernel may send (none come to a read-only mount, but the size bounds requests). */
const MAX_WRITE = 128 * 1024;
/** A read of /dev/fuse must have room for the largest request. */
const REQUEST_BUFFER = MAX_WRITE + 4096;
/** Background requests (read-ahead) the kernel may have outstanding at once. */
const MAX_BACKGROUND = 64;

const MS_RDONLY = 1;
const MS_NOSUID = 2;
const MS_NODEV = 4;

const WORKER_URL = new URL('./fuse-reader.js', import.meta.url);
const E = os.constants.errno;

export type RequestHandler = (header: RequestHeader, body: Buffer) => void;

export interface FuseSessionOptions {
  /** Shown as the mount's source in the mount table. */
  readonly source: string;
  readonly allowOther: boolean;
  readonly log: Logger;
}

export class FuseSession {
  readonly dir: string;
  readonly #fd: number;
  readonly #worker: Worker;
  readonly #control = new Int32Array(new SharedArrayBuffer(4));
  readonly #log: Logger;
  #handler: RequestHandler | undefined;
  #ended = false;
  #unmounting: Promise<void> | undefined;
  /** Resolves when the kernel has ended the connection (or reading failed). */
  readonly ended: Promise<void>;
  /** The protocol minor version agreed on: 0 until INIT is answered. */
  #minor = 0;
  /** Whether files opened for direct I/O can still be mmap'ed (agreed at INIT). */
  directIoMmap = false;
  /** Whether the kernel can do without OPEN and RELEASE (told at INIT): see fuse-ops.ts. */
  noOpenSupport = false;
  /** Resolves once INIT is answered: the mount is ready for use. */
  readonly #ready: Promise<void>;
  #markReady: (() => void) | undefined;

  private constructor(dir: string, fd: number, log: Logger) {
    this.dir = dir;
    this.#fd = fd;
    this.#log = log;
    this.#ready = new Promise((resolve) => {
      this.#markReady = resolve;
    });
    this.#worker = new Worker(WORKER_URL, { workerData: { fd, bufferSize: REQUEST_BUFFER, control: this.#control } });
    void trackWorkerStart(this.#worker); // the CLI's exit waits for the thread's start
    this.ended = new Promise((resolve) => {
      this.#worker.on('message', (message: Uint8Array[] | { end: string | undefined } | { ready: true }) => {
        if ('ready' in message) return;
        if (Array.isArray(message)) {
          for (const request of message) this.#dispatch(Buffer.from(request.buffer, request.byteOffset, request.byteLength));
          return;
        }
        if (message.end !== undefined) this.#log.error(`${this.dir}: reading FUSE requests failed: ${message.end}`);
        this.#end();
        resolve();
      });
      this.#worker.on('error', (err) => {
        this.#log.error(`${this.dir}: the FUSE reader thread failed: ${err.message}`);
        this.#end();
        resolve();
      });
      this.#worker.on('exit', () => {
        this.#end();
        // the thread no longer polls the fd: close it (the kernel then drops what is left of the mount)
        try {
          fs.closeSync(this.#fd);
        } catch {
          // already closed
        }
        resolve();
      });
    });
  }

  /**
   * Mounts an empty, read-only FUSE file system at `dir` (an existing, empty folder) and starts
   * reading its requests; `serve()` then names who answers them. MountError if the kernel refuses.
   */
  static mount(dir: string, options: FuseSessionOptions): FuseSession {
    if (usesFusermount()) {
      const helperOptions = ['ro', 'default_permissions', `max_read=${MAX_READ}`, `fsname=${options.source}`, 'subtype=pipemode'];
      if (options.allowOther) helperOptions.push('allow_other');
      return new FuseSession(dir, mountWithFusermount(dir, helperOptions.join(',')), options.log);
    }
    let fd: number;
    try {
      fd = fs.openSync('/dev/fuse', fs.constants.O_RDWR | fs.constants.O_NONBLOCK);
    } catch (err) {
      throw new MountError(`FUSE is unavailable: cannot open /dev/fuse (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`, { reason: 'permission' }, { cause: err });
    }
    const uid = process.geteuid?.() ?? 0;
    const gid = process.getegid?.() ?? 0;
    const data = [`fd=${fd}`, 'rootmode=40000', `user_id=${uid}`, `group_id=${gid}`, 'default_permissions', `max_read=${MAX_READ}`];
    if (options.allowOther) data.push('allow_other');
    const failed = mountSyscall(options.source, dir, 'fuse.pipemode', MS_RDONLY | MS_NOSUID | MS_NODEV, data.join(','));
    if (failed !== undefined) {
      fs.closeSync(fd);
      const hint = failed === 'EPERM'
        ? 'in a container, FUSE needs CAP_SYS_ADMIN and --device /dev/fuse'
        : 'the kernel refused the mount';
      throw new MountError(`cannot mount at ${dir}: mount(2) failed with ${failed} (${hint})`, { reason: failed === 'EPERM' ? 'permission' : 'mount-failed', dir });
    }
    return new FuseSession(dir, fd, options.log);
  }

  /** Waits for INIT (the mount can be used once it is answered); MountError if it does not come. */
  async whenReady(timeoutMs: number): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    const failed = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new MountError(`cannot mount at ${this.dir}: the kernel sent no FUSE INIT within ${timeoutMs} ms`, { reason: 'mount-failed', dir: this.dir })), timeoutMs);
      void this.ended.then(() => reject(new MountError(`cannot mount at ${this.dir}: the FUSE connection ended before INIT`, { reason: 'mount-failed', dir: this.dir })));
    });
    try {
      await Promise.race([this.#ready, failed]);
    } finally {
      clearTimeout(timer);
    }
  }

  /** Names the handler of every request but INIT and DESTROY (until then they are answered EIO). */
  serve(handler: RequestHandler): void {
    this.#handler = handler;
  }

  /** Answers a request with a reply built by fuse-protocol.ts (its header filled in). */
  reply(out: Buffer): void {
    this.#write([out]);
  }

  /** Answers with no data: 0 (done) or a negative errno. */
  replyStatus(unique: bigint, error: number): void {
    this.reply(statusReply(unique, error));
  }

  /** Answers a READ with `bytes` bytes in `slices`, in one writev(2) after the header. */
  replySlices(unique: bigint, slices: readonly Buffer[], bytes: number): void {
    const header = Buffer.allocUnsafe(OUT_HEADER_SIZE);
    writeOutHeader(header, OUT_HEADER_SIZE + bytes, 0, unique);
    // one reply is one write: beyond IOV_MAX views (never seen: chunks are large) they are joined first
    this.#write(slices.length < 1000 ? [header, ...slices] : [header, Buffer.concat(slices)]);
  }

  /** Writes one reply: a single writev(2), as the kernel takes a reply only whole. */
  #write(parts: Buffer[]): void {
    if (this.#ended) return;
    try {
      fs.writevSync(this.#fd, parts);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      // ENOENT: the request was interrupted and is gone; ENODEV: the connection has ended
      if (code !== 'ENOENT' && code !== 'ENODEV') this.#log.warn(`${this.dir}: a FUSE reply failed: ${code ?? (err as Error).message}`);
    }
  }

  /**
   * Detaches the mount (idempotent). Resolves once the folder is released; the session itself
   * ends when the kernel drops the connection, after the last open file is closed.
   */
  unmount(): Promise<void> {
    return (this.#unmounting ??= (async () => {
      const failed = await detach(this.dir);
      if (failed !== undefined && failed !== 'EINVAL') this.#log.warn(`unmounting ${this.dir} failed: ${failed}`);
      // files still open are served, but no longer keep the process alive
      this.#worker.unref();
    })());
  }

  /** Stops reading requests (the kernel then fails what it still sends with ENOTCONN once the fd closes). */
  stop(): void {
    Atomics.store(this.#control, 0, 1);
  }

  #end(): void {
    if (this.#ended) return;
    this.#ended = true;
    this.stop(); // the thread ends within one poll; its exit closes the fd
  }

  #dispatch(request: Buffer): void {
    let header: RequestHeader;
    try {
      header = decodeHeader(request, request.length);
    } catch (err) {
      this.#log.error(`${this.dir}: ${(err as Error).message}; request dropped`);
      return;
    }
    const body = request.subarray(IN_HEADER_SIZE);
    if (header.opcode === OP.INIT) {
      this.#init(header, body);
      return;
    }
    if (header.opcode === OP.DESTROY) {
      this.replyStatus(header.unique, 0);
      return;
    }
    if (this.#minor === 0 || this.#handler === undefined) {
      if (!NO_REPLY.has(header.opcode)) this.replyStatus(header.unique, -E.EIO);
      return;
    }
    this.#handler(header, body);
  }

  #init(header: RequestHeader, body: Buffer): void {
    const init = decodeInit(body);
    if (init.major > FUSE_MAJOR) {
      // the kernel then sends INIT again with our major version
      this.reply(initReply(header.unique, { minor: FUSE_MAX_MINOR, maxReadahead: 0, flags: 0, flags2: 0, maxBackground: 0, congestionThreshold: 0, maxWrite: 0, maxPages: 0 }));
      return;
    }
    if (init.major < FUSE_MAJOR || init.minor < FUSE_MIN_MINOR) {
      this.#log.error(`${this.dir}: the kernel speaks FUSE ${init.major}.${init.minor}; pipemode needs ${FUSE_MAJOR}.${FUSE_MIN_MINOR} or later`);
      this.replyStatus(header.unique, -E.EPROTO);
      return;
    }
    this.#minor = Math.min(init.minor, FUSE_MAX_MINOR);
    const wanted = INIT.ASYNC_READ | INIT.BIG_WRITES | INIT.MAX_PAGES | INIT.PARALLEL_DIROPS | INIT.DO_READDIRPLUS | INIT.INIT_EXT;
    const flags2 = this.#minor >= 39 ? init.flags2 & INIT2.DIRECT_IO_ALLOW_MMAP : 0;
    this.directIoMmap = flags2 !== 0;
    this.noOpenSupport = (init.flags & INIT.NO_OPEN_SUPPORT) !== 0;
    this.reply(initReply(header.unique, {
      minor: this.#minor,
      maxReadahead: init.maxReadahead,
      flags: init.flags & wanted,
      flags2,
      maxBackground: MAX_BACKGROUND,
      congestionThreshold: (MAX_BACKGROUND * 3) / 4,
      maxWrite: MAX_WRITE,
      maxPages: MAX_READ / 4096,
    }));
    this.#markReady?.();
  }
}
