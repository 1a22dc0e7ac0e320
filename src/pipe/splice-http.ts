/**
 * The socket → pipe half of the zero-copy path for plain-http S3 stores, run on the splice worker
 * thread (splice-worker.ts): GETs whose bodies go from the TCP socket into the FIFO with
 * splice(2), so body bytes never pass through JavaScript or user space.
 *
 * How one object part travels: the main thread signs the GET (SigV4, Range, If-Match pinning the
 * listed version; splice-writer.ts answers `sign` over a MessagePort while this thread waits, a
 * window of parts per round trip, so many small objects do not cost a round trip each) and this
 * module sends it on a keep-alive connection of its own. The response head is read with
 * recv(MSG_PEEK) up to the blank line and then consumed exactly, so no body byte is read into user
 * space; status, Content-Range and Content-Length are checked before the first body byte moves,
 * and the body is spliced until exactly Content-Length bytes have gone into the pipe. A body that
 * ends early or a connection that breaks is resumed from the first byte not yet in the pipe with
 * a new ranged, pinned GET (the retry policy's attempts and backoff), exactly as
 * storage/retry.ts does for the copying path. Several parts are requested ahead (`window`, at most
 * the fetch options' maxRequests and memoryBudget / partSize): their bodies wait in the kernel's
 * socket buffers, so the bytes fetched ahead stay within the channel's memory budget. The first
 * GET is sent (and its response head checked) before the reader opens the pipe, so the first byte
 * does not wait for the reader or the worker's start-up.
 *
 * Where splice(2) refuses the socket (EINVAL), the rest of the part is copied through one 1 MiB
 * buffer instead, and `copiedBytes` says so.
 */
import { RetriesExhaustedError, StoreProtocolError, TransientStoreError, type PipemodeError } from '../core/errors.js';
import {
  MSG_PEEK, POLLERR, POLLHUP, POLLIN, POLLOUT, closeFd, connectTcp, lastErrno, pollFds, recv, send,
  socketError, spliceStream, write,
} from '../core/libc.js';
import { backoffDelay, type RetryPolicy } from '../storage/retry.js';
import { errorFromStatus } from '../storage/s3/s3-errors.js';
import type { SpliceWait } from './splice-cells.js';

/** A signed GET, as the main thread hands it over. */
export interface HttpTarget {
  /** Numeric address (already resolved). */
  readonly address: string;
  readonly family: 4 | 6;
  readonly port: number;
  /** The whole request head, ending with the blank line. */
  readonly request: string;
}

/** One object of the epoch, fetched over http. */
export interface HttpObject {
  readonly uri: string;
  readonly size: number;
}

export interface HttpSpliceContext {
  /** The pipe; blocks until the reader has opened it (the first GET is sent before that). */
  readonly pipe: () => number;
  /**
   * Signs GETs of bytes [start, end) of the given objects in one blocking round trip to the main
   * thread: a target per range, undefined where that range could not be signed; throws when the
   * first one could not.
   */
  readonly sign: (ranges: readonly ByteRange[]) => readonly (HttpTarget | undefined)[];
  readonly retry: RetryPolicy;
  readonly idleTimeoutMs: number;
  /** Throws to stop (abort flag, reader gone are the caller's). */
  readonly checkAbort: () => void;
  /** Waits for room in the pipe; throws when the reader left or on abort. */
  readonly awaitRoom: () => void;
  /** Bytes that went into the pipe (both paths), for the caller's count. */
  readonly onBytes: (n: number) => void;
  /** What the splicer waits for from now on: the store ('data'), the reader, or nothing. */
  readonly onWait: (what: SpliceWait) => void;
  /** The thread's one copy buffer (1 MiB), for bodies splice(2) refuses. */
  readonly copyBuffer: () => Buffer;
  readonly stats: HttpSpliceStats;
}

export interface HttpSpliceStats {
  getRequests: number;
  retries: number;
  splicedBytes: number;
  /** splice(2) calls that moved bytes from a socket. */
  splices: number;
  copiedBytes: number;
}

/** Thrown by the pipe side when the reader is gone; passed through untouched. */
export class PipeGone extends Error {}

const MAX_HEAD = 64 * 1024;
const MAX_ERROR_BODY = 64 * 1024;
const SPLICE_CHUNK = 1 << 20;
const FIRST_PART = 1 << 20;
const POLL_MS = 100;

interface Connection {
  readonly fd: number;
  readonly key: string;
  reusable: boolean;
}

/** Bytes [start, end) of object number `object`. */
export interface ByteRange {
  readonly object: number;
  readonly start: number;
  readonly end: number;
}

type Part = ByteRange;

/**
 * Signed requests are valid for minutes, but one signed ahead is only used if it is younger than
 * this (a reader may pause for long between parts).
 */
const SIGNED_AHEAD_MS = 60_000;

interface Request extends Part {
  conn: Connection;
}

function transient(message: string, uri: string, cause?: string): TransientStoreError {
  return new TransientStoreError(message, { uri, ...(cause !== undefined ? { cause } : {}) });
}

function sleep(ms: number, checkAbort: () => void): void {
  const cell = new Int32Array(new SharedArrayBuffer(4));
  const end = Date.now() + ms;
  for (let left = ms; left > 0; left = end - Date.now()) {
    checkAbort();
    Atomics.wait(cell, 0, 0, Math.min(left, POLL_MS));
  }
}

/** Streams `objects` (bytes [0, size) of each, in order) into the pipe. */
export class HttpSplicer {
  readonly #ctx: HttpSpliceContext;
  readonly #objects: readonly HttpObject[];
  readonly #partBytes: number;
  readonly #window: number;
  readonly #idle: Connection[] = [];
  readonly #scratch = Buffer.allocUnsafe(MAX_HEAD);
  /** Requests signed ahead (one round trip to the main thread signs a window of them), by range. */
  readonly #signed = new Map<string, { target: HttpTarget; at: number }>();

  constructor(ctx: HttpSpliceContext, objects: readonly HttpObject[], partBytes: number, window: number) {
    this.#ctx = ctx;
    this.#objects = objects;
    this.#partBytes = partBytes;
    this.#window = window;
  }

  /**
   * Streams the objects `order` names (each whole, in that order) into the pipe; `before` and
   * `after` run around each object's bytes (RecordIO framing).
   */
  run(order: readonly number[], before: (object: number) => void, after: (object: number) => void): void {
    const parts: Part[] = [];
    let sized = false; // whether a part with bytes is planned yet
    for (const object of order) {
      const size = (this.#objects[object] as HttpObject).size;
      if (size === 0) parts.push({ object, start: 0, end: 0 });
      // the very first GET is small and goes alone (as in the prefetcher): the first byte does not
      // wait behind a window of full parts
      const first = sized ? this.#partBytes : Math.min(FIRST_PART, this.#partBytes);
      for (let start = 0; start < size; start += start === 0 ? first : this.#partBytes) {
        parts.push({ object, start, end: Math.min(size, start + (start === 0 ? first : this.#partBytes)) });
        sized = true;
      }
    }
    const inFlight: Request[] = [];
    let next = 0;
    try {
      for (let i = 0; i < parts.length; i++) {
        const part = parts[i] as Part;
        if (part.end > part.start) {
          // requests go out before the RecordIO header, which waits for the pipe
          const window = i === 0 ? 1 : this.#window;
          while (next < parts.length && inFlight.length < window) {
            const ahead = parts[next++] as Part;
            if (ahead.end > ahead.start) inFlight.push(this.#issue(ahead, this.#targetFor(parts, next - 1)));
          }
        }
        if (part.start === 0) before(part.object);
        if (part.end > part.start) {
          const req = inFlight.shift() as Request;
          this.#transfer(req);
          if (req.conn.reusable) this.#idle.push(req.conn);
          else closeFd(req.conn.fd);
        }
        if (part.end === (this.#objects[part.object] as HttpObject).size) after(part.object);
      }
    } finally {
      for (const req of inFlight) closeFd(req.conn.fd);
      for (const conn of this.#idle.splice(0)) closeFd(conn.fd);
      this.#signed.clear();
    }
  }

  /**
   * The signed request for parts[index]: signed ahead, or signed now together with the next
   * window of parts that have bytes, so the main thread is asked once per window, not per part.
   */
  #targetFor(parts: readonly Part[], index: number): HttpTarget {
    const part = parts[index] as Part;
    const key = `${part.object}:${part.start}:${part.end}`;
    const ahead = this.#signed.get(key);
    this.#signed.delete(key);
    if (ahead !== undefined && Date.now() - ahead.at < SIGNED_AHEAD_MS) return ahead.target;
    const batch: Part[] = [];
    for (let i = index; i < parts.length && batch.length < this.#window; i++) {
      const p = parts[i] as Part;
      if (p.end > p.start) batch.push(p);
    }
    const targets = this.#ctx.sign(batch);
    const at = Date.now();
    for (let i = 1; i < batch.length; i++) {
      const p = batch[i] as Part;
      const target = targets[i];
      if (target !== undefined) this.#signed.set(`${p.object}:${p.start}:${p.end}`, { target, at });
    }
    return targets[0] as HttpTarget;
  }

  #issue(part: Part, target: HttpTarget): Request {
    const uri = (this.#objects[part.object] as HttpObject).uri;
    const key = `${target.address}:${target.port}`;
    const i = this.#idle.findIndex((c) => c.key === key);
    let conn = i !== -1 ? this.#idle.splice(i, 1)[0] as Connection : undefined;
    this.#ctx.stats.getRequests++;
    if (conn !== undefined && this.#sendRequest(conn, target.request)) return { ...part, conn };
    if (conn !== undefined) closeFd(conn.fd);
    conn = this.#connect(target, key, uri);
    if (!this.#sendRequest(conn, target.request)) {
      // a fresh connection that cannot take a request: let the transfer's retry handle it
      conn.reusable = false;
    }
    return { ...part, conn };
  }

  #connect(target: HttpTarget, key: string, uri: string): Connection {
    const fd = connectTcp(target.address, target.family, target.port);
    if (typeof fd === 'string') throw transient(`${uri}: connect to ${key} failed: ${fd}`, uri, fd);
    const deadline = Date.now() + this.#ctx.idleTimeoutMs;
    for (;;) {
      this.#ctx.checkAbort();
      const [revents = 0] = pollFds([fd], [POLLOUT], POLL_MS);
      if (revents !== 0) break;
      if (Date.now() > deadline) {
        closeFd(fd);
        throw transient(`${uri}: connect to ${key} timed out`, uri, 'ETIMEDOUT');
      }
    }
    const err = socketError(fd);
    if (err !== undefined) {
      closeFd(fd);
      throw transient(`${uri}: connect to ${key} failed: ${err}`, uri, err);
    }
    return { fd, key, reusable: true };
  }

  /** Sends the whole request; false when the connection is broken. */
  #sendRequest(conn: Connection, request: string): boolean {
    const data = Buffer.from(request, 'latin1');
    let offset = 0;
    while (offset < data.length) {
      const n = send(conn.fd, data.subarray(offset));
      if (n > 0) {
        offset += n;
        continue;
      }
      if (lastErrno() !== 'EAGAIN' && lastErrno() !== 'EINTR') return false;
      this.#ctx.checkAbort();
      pollFds([conn.fd], [POLLOUT], POLL_MS);
    }
    return true;
  }

  /** Delivers the request's bytes into the pipe, resuming after transient failures. */
  #transfer(req: Request): void {
    const object = this.#objects[req.object] as HttpObject;
    let done = 0;
    for (let attempt = 1; ; attempt++) {
      try {
        if (attempt > 1) {
          // resume at the first byte not yet in the pipe, on a new connection, still pinned
          const target = this.#ctx.sign([{ object: req.object, start: req.start + done, end: req.end }])[0] as HttpTarget;
          this.#ctx.stats.getRequests++;
          req.conn = this.#connect(target, `${target.address}:${target.port}`, object.uri);
          if (!this.#sendRequest(req.conn, target.request)) req.conn.reusable = false;
        }
        this.#receive(req, object.uri, req.start + done, (n) => (done += n));
        return;
      } catch (err) {
        req.conn.reusable = false;
        closeFd(req.conn.fd);
        req.conn = { fd: -1, key: '', reusable: false };
        if ((err as PipemodeError).retryable !== true) throw err;
        if (attempt >= this.#ctx.retry.maxAttempts) {
          const e = err as PipemodeError;
          throw new RetriesExhaustedError(`gave up after ${attempt} attempts: ${e.message}`, { ...e.details, attempts: attempt });
        }
        this.#ctx.stats.retries++;
        this.#ctx.onWait('data');
        try {
          sleep(backoffDelay(this.#ctx.retry, attempt), this.#ctx.checkAbort);
        } finally {
          this.#ctx.onWait(undefined);
        }
      }
    }
  }

  /** Waits until `fd` is readable (or broken); throws after the idle timeout. */
  #awaitReadable(fd: number, uri: string): void {
    const deadline = Date.now() + this.#ctx.idleTimeoutMs;
    this.#ctx.onWait('data');
    try {
      for (;;) {
        this.#ctx.checkAbort();
        const [revents = 0] = pollFds([fd], [POLLIN], POLL_MS);
        if (revents !== 0) return;
        if (Date.now() > deadline) throw transient(`${uri}: no data for ${this.#ctx.idleTimeoutMs} ms`, uri, 'ETIMEDOUT');
      }
    } finally {
      this.#ctx.onWait(undefined);
    }
  }

  /** One response: head checked, then exactly its body into the pipe. */
  #receive(req: Request, uri: string, from: number, progress: (n: number) => void): void {
    const fd = req.conn.fd;
    if (!req.conn.reusable) throw transient(`${uri}: the request could not be sent`, uri, 'EPIPE');
    // the head: peek until the blank line, then consume exactly the head
    let headLength: number;
    let text: string;
    for (;;) {
      this.#awaitReadable(fd, uri);
      const n = recv(fd, this.#scratch, MSG_PEEK);
      if (n === 0) throw transient(`${uri}: connection closed before a response`, uri, 'ECONNRESET');
      if (n < 0) {
        const errno = lastErrno();
        if (errno === 'EAGAIN' || errno === 'EINTR') continue;
        throw transient(`${uri}: reading the response failed: ${errno}`, uri, errno);
      }
      text = this.#scratch.toString('latin1', 0, n);
      const end = text.indexOf('\r\n\r\n');
      if (end !== -1) {
        headLength = end + 4;
        break;
      }
      if (n >= MAX_HEAD) throw new StoreProtocolError(`${uri}: response headers larger than 64 KiB`, { uri });
      // the rest of the head has not arrived yet: wait for more than what is already there
      pollFds([fd], [POLLIN], 5);
    }
    this.#consume(fd, headLength, uri);
    const head = parseHead(text.slice(0, headLength - 4), uri);
    const header = (name: string): string | undefined => head.headers.get(name);
    if (/close/i.test(header('connection') ?? '')) req.conn.reusable = false;
    const length = header('content-length');
    if (head.status !== 200 && head.status !== 206) {
      req.conn.reusable = false;
      const body = length !== undefined && /^\d+$/.test(length) ? this.#readSmall(fd, Math.min(Number(length), MAX_ERROR_BODY)) : '';
      throw errorFromStatus(head.status, /<Code>([^<]+)<\/Code>/.exec(body)?.[1], uri, header('x-amz-request-id'));
    }
    const wanted = req.end - from;
    const requestId = header('x-amz-request-id');
    if (head.status === 206) {
      const range = /^bytes (\d+)-(\d+)\/(\d+|\*)$/.exec(header('content-range') ?? '');
      if (range === null || Number(range[1]) !== from || Number(range[2]) !== req.end - 1) {
        throw new StoreProtocolError(`${uri}: asked for bytes ${from}-${req.end - 1}, got Content-Range "${header('content-range') ?? ''}"`, { uri, requestId });
      }
    } else if (from !== 0 || Number(length) !== wanted) {
      throw new StoreProtocolError(`${uri}: the server ignored the Range header (HTTP 200 for bytes ${from}-${req.end - 1})`, { uri, requestId });
    }
    if (length === undefined || !/^\d+$/.test(length) || /chunked/i.test(header('transfer-encoding') ?? '')) {
      throw new StoreProtocolError(`${uri}: response has no Content-Length`, { uri, requestId });
    }
    if (Number(length) !== wanted) {
      throw new StoreProtocolError(`${uri}: Content-Length ${length} differs from the ${wanted} bytes asked for`, { uri, requestId });
    }
    this.#body(fd, wanted, uri, progress);
  }

  /** Consumes exactly `n` bytes that a peek showed are there. */
  #consume(fd: number, n: number, uri: string): void {
    let left = n;
    while (left > 0) {
      const got = recv(fd, this.#scratch.subarray(0, left));
      if (got <= 0) throw transient(`${uri}: connection broke in the response head`, uri, lastErrno());
      left -= got;
    }
  }

  /** A small (error) body, read whole. */
  #readSmall(fd: number, n: number): string {
    const buf = Buffer.allocUnsafe(n);
    let got = 0;
    const deadline = Date.now() + 5000;
    while (got < n && Date.now() < deadline) {
      const r = recv(fd, buf.subarray(got));
      if (r > 0) got += r;
      else if (r === 0) break;
      else if (lastErrno() === 'EAGAIN' || lastErrno() === 'EINTR') pollFds([fd], [POLLIN], POLL_MS);
      else break;
      this.#ctx.checkAbort();
    }
    return buf.toString('utf8', 0, got);
  }

  /** Exactly `wanted` body bytes from the socket into the pipe. */
  #body(fd: number, wanted: number, uri: string, progress: (n: number) => void): void {
    const pipe = this.#ctx.pipe();
    let left = wanted;
    let idleSince = Date.now();
    while (left > 0) {
      this.#ctx.checkAbort();
      const n = spliceStream(fd, pipe, Math.min(left, SPLICE_CHUNK));
      if (n > 0) {
        left -= n;
        idleSince = Date.now();
        this.#ctx.stats.splicedBytes += n;
        this.#ctx.stats.splices++;
        this.#ctx.onBytes(n);
        progress(n);
        continue;
      }
      if (n === 0) throw transient(`${uri}: response ended ${left} bytes short of its Content-Length`, uri, 'ECONNRESET');
      const errno = lastErrno();
      if (errno === 'EINTR') continue;
      if (errno === 'EPIPE') throw new PipeGone('reader gone');
      if (errno === 'EINVAL' || errno === 'ENOSYS') {
        this.#copy(fd, left, uri, progress);
        return;
      }
      if (errno !== 'EAGAIN') throw transient(`${uri}: reading the body failed: ${errno}`, uri, errno);
      // EAGAIN: the socket has no data or the pipe is full. Wait for the one that blocks (a poll
      // on both would return at once for the other and spin); the pipe's POLLERR (reader gone)
      // is reported either way.
      const [readable = 0] = pollFds([fd], [POLLIN], 0);
      if ((readable & (POLLIN | POLLERR | POLLHUP)) === 0) {
        this.#ctx.onWait('data');
        const [sock = 0, out = 0] = pollFds([fd, pipe], [POLLIN, 0], POLL_MS);
        this.#ctx.onWait(undefined);
        if ((out & POLLERR) !== 0) throw new PipeGone('reader gone');
        if (sock === 0 && Date.now() - idleSince > this.#ctx.idleTimeoutMs) {
          throw transient(`${uri}: no data for ${this.#ctx.idleTimeoutMs} ms`, uri, 'ETIMEDOUT');
        }
      } else if ((readable & POLLIN) !== 0) {
        this.#ctx.onWait('reader');
        const [out = 0] = pollFds([pipe], [POLLOUT], POLL_MS);
        this.#ctx.onWait(undefined);
        if ((out & POLLERR) !== 0) throw new PipeGone('reader gone');
        idleSince = Date.now(); // waiting on our reader is not the server's silence
      }
      // POLLERR/POLLHUP without data: the next splice reports it (0 or an errno)
    }
  }

  /** The copying fallback for a socket splice(2) refuses. */
  #copy(fd: number, wanted: number, uri: string, progress: (n: number) => void): void {
    const buf = this.#ctx.copyBuffer();
    let left = wanted;
    while (left > 0) {
      this.#ctx.checkAbort();
      const n = recv(fd, buf.subarray(0, Math.min(left, buf.length)));
      if (n === 0) throw transient(`${uri}: response ended ${left} bytes short of its Content-Length`, uri, 'ECONNRESET');
      if (n < 0) {
        const errno = lastErrno();
        if (errno === 'EAGAIN' || errno === 'EINTR') {
          this.#awaitReadable(fd, uri);
          continue;
        }
        throw transient(`${uri}: reading the body failed: ${errno}`, uri, errno);
      }
      let offset = 0;
      while (offset < n) {
        const w = write(this.#ctx.pipe(), buf.subarray(offset, n));
        if (w > 0) {
          offset += w;
          continue;
        }
        const errno = lastErrno();
        if (errno === 'EPIPE') throw new PipeGone('reader gone');
        if (errno === 'EAGAIN') this.#ctx.awaitRoom();
        else if (errno !== 'EINTR') throw new PipeGone(`write to the pipe failed: ${errno}`);
      }
      left -= n;
      this.#ctx.stats.copiedBytes += n;
      this.#ctx.onBytes(n);
      progress(n);
    }
  }
}

function parseHead(text: string, uri: string): { status: number; headers: Map<string, string> } {
  const lines = text.split('\r\n');
  const status = /^HTTP\/1\.[01] (\d{3})/.exec(lines[0] ?? '');
  if (status === null) throw new StoreProtocolError(`${uri}: not an HTTP/1.1 response: ${JSON.stringify((lines[0] ?? '').slice(0, 80))}`, { uri });
  const headers = new Map<string, string>();
  for (const line of lines.slice(1)) {
    const colon = line.indexOf(':');
    if (colon > 0) headers.set(line.slice(0, colon).trim().toLowerCase(), line.slice(colon + 1).trim());
  }
  return { status: Number(status[1]), headers };
}
