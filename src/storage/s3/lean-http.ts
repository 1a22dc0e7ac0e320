/**
 * A minimal HTTP/1.1 GET client for the hot path of plain-http S3 endpoints (Ceph RGW, MinIO on
 * a private network, a local gateway): keep-alive connections over net.Socket whose `onread`
 * option makes the kernel copy response bodies straight into pooled 2 MiB buffers. node:http
 * allocates a fresh 64 KiB ArrayBuffer per socket read and parses in JS; measured on a 2-core
 * loopback against Ceph RGW it cost ~2.5 CPU-s/GiB, this path ~0.6 (about what rclone costs), so
 * the same cores can serve the store, pipemode and the trainer.
 *
 * Scope, deliberately narrow: one request per connection at a time (no pipelining), bodies with
 * Content-Length only (S3 GETs always have one; anything else fails the attempt and closes the
 * connection), small error bodies read in full so the S3 error code can be reported.
 *
 * HTTPS endpoints (AWS itself) use the same client over tls.connect, whose `onread` puts the
 * decrypted bytes into the same pooled buffers: no fresh buffer per TLS record and no copy in
 * JavaScript (through a TLS proxy on the bench: 1.26 CPU-s/GiB and a peak RSS of 237 MiB, where
 * a `'data'` event and a copy per record cost 1.9 and 290; node:https 2.2 and 294).
 * Certificates are checked as node:https does (Node's CAs plus NODE_EXTRA_CA_CERTS, the host
 * name as SNI and identity).
 *
 * Every failure before or during the body is a TransientStoreError (retryable), except
 * protocol violations, which are StoreProtocolError. A request that fails on a reused idle
 * connection before any response byte arrives is retried once on a fresh connection, since the
 * server may have closed the idle connection just as it was reused.
 */
import net from 'node:net';
import tls from 'node:tls';
import { AbortedError, StoreProtocolError, TransientStoreError, PipemodeError } from '../../core/errors.js';
import { ioBuffers } from '../../core/buffer-pool.js';

export interface LeanRequest {
  /** Request target, already encoded. */
  readonly path: string;
  readonly headers: Readonly<Record<string, string>>;
}

export interface ResponseHead {
  readonly status: number;
  /** Header names in lower case. */
  readonly headers: ReadonlyMap<string, string>;
}

/**
 * Decides from the head whether the body is wanted: returns the expected body length, or throws
 * (given the error body, for non-2xx responses) to fail the request.
 */
export type HeadCheck = (head: ResponseHead, errorBody: string | undefined) => number;

const HEADER_SCRATCH = 64 * 1024;
const MAX_ERROR_BODY = 64 * 1024;
/** Completed chunks queued for a consumer that is not pulling, before the socket is paused. */
const MAX_QUEUED = 4;

interface Pending {
  readonly check: HeadCheck;
  head: ResponseHead | undefined;
  /** Bytes of head seen so far (headers may span reads). */
  headText: string;
  bodyLength: number;
  received: number;
  errorBody: Buffer[] | undefined;
  current: Buffer | undefined;
  filled: number;
  readonly queue: Buffer[];
  done: boolean;
  error: Error | undefined;
  wake: (() => void) | undefined;
}

/** One keep-alive connection. */
class Connection {
  readonly socket: net.Socket;
  readonly #scratch = Buffer.allocUnsafe(HEADER_SCRATCH);
  pending: Pending | undefined;
  reused = false;
  /** Whether any byte of a response arrived on this connection during the current request. */
  answered = false;
  /** The server asked to close, or the response could not be delimited: no reuse. */
  #closeAfter = false;
  #timeoutMs = 0;

  constructor(host: string, port: number, secure: boolean, onClose: (c: Connection) => void) {
    const onread = { buffer: () => this.#target(), callback: (n: number, buf: Uint8Array) => this.#onRead(n, buf) };
    if (secure) {
      // decrypted bytes go where `onread` says too: no fresh buffer per TLS record
      // (tls.connect documents `onread`; @types/node's ConnectionOptions lacks it)
      const options: tls.ConnectionOptions & Pick<net.NetConnectOpts, 'onread'> = { host, port, onread, ...(net.isIP(host) === 0 ? { servername: host } : {}) };
      const socket = tls.connect(options);
      socket.setNoDelay(true);
      this.socket = socket;
    } else {
      this.socket = net.connect({ host, port, noDelay: true, onread });
    }
    this.socket.on('error', (err) => this.#fail(new TransientStoreError(`connection to ${host}:${port} failed: ${(err as NodeJS.ErrnoException).code ?? err.message}`, { cause: (err as NodeJS.ErrnoException).code }, { cause: err })));
    this.socket.on('timeout', () => {
      this.#fail(new TransientStoreError(`no data from ${host}:${port} for ${this.#timeoutMs} ms`));
      this.socket.destroy();
    });
    this.socket.on('close', () => {
      this.#fail(new TransientStoreError(`connection to ${host}:${port} closed${this.pending?.head ? ' mid-body' : ' before a response'}`));
      onClose(this);
    });
  }

  /** Where the next read goes: the body buffer once the head is parsed, else scratch space. */
  #target(): Uint8Array {
    const p = this.pending;
    if (p?.head !== undefined && p.errorBody === undefined && p.received < p.bodyLength) {
      p.current ??= this.#newBodyBuffer(p);
      return p.current.subarray(p.filled);
    }
    return this.#scratch;
  }

  #newBodyBuffer(p: Pending): Buffer {
    const remaining = p.bodyLength - p.received;
    p.filled = 0;
    return remaining >= ioBuffers.size ? ioBuffers.acquire() : Buffer.allocUnsafeSlow(remaining);
  }

  #onRead(n: number, buf: Uint8Array): boolean {
    const p = this.pending;
    this.answered = true;
    if (p === undefined || p.done) {
      // bytes nobody asked for (or after the body): the connection is out of step
      this.socket.destroy();
      return false;
    }
    try {
      if (p.head === undefined || p.errorBody !== undefined) this.#onHeadBytes(p, Buffer.from(buf.buffer, buf.byteOffset, n));
      else this.#onBodyBytes(p, n);
    } catch (err) {
      this.#fail(err as Error);
      this.socket.destroy();
    }
    return true;
  }

  #onHeadBytes(p: Pending, data: Buffer): void {
    let rest = data;
    if (p.head === undefined) {
      const before = p.headText.length;
      p.headText += data.toString('latin1');
      const end = p.headText.indexOf('\r\n\r\n');
      if (end === -1) {
        if (p.headText.length > HEADER_SCRATCH) throw new StoreProtocolError('response headers larger than 64 KiB');
        return;
      }
      p.head = parseHead(p.headText.slice(0, end));
      rest = data.subarray(end + 4 - before);
      const length = p.head.headers.get('content-length');
      const chunked = /chunked/i.test(p.head.headers.get('transfer-encoding') ?? '');
      if (p.head.status < 200 || p.head.status >= 300) {
        p.errorBody = [];
        p.bodyLength = length !== undefined && !chunked ? Math.min(Number(length), MAX_ERROR_BODY) : 0;
        if (length === undefined || chunked) this.#closeAfter = true;
      } else {
        if (length === undefined || chunked || !/^\d+$/.test(length)) {
          throw new StoreProtocolError(`response has no Content-Length (transfer-encoding: ${p.head.headers.get('transfer-encoding') ?? 'none'})`);
        }
        p.bodyLength = p.check(p.head, undefined);
        if (Number(length) !== p.bodyLength) {
          throw new StoreProtocolError(`Content-Length ${length} differs from the ${p.bodyLength} bytes expected`);
        }
      }
      if (/close/i.test(p.head.headers.get('connection') ?? '')) this.#closeAfter = true;
    }
    if (p.errorBody !== undefined) {
      p.errorBody.push(Buffer.from(rest));
      p.received += rest.length;
      if (p.received >= p.bodyLength) {
        const text = Buffer.concat(p.errorBody).toString('utf8');
        this.#closeAfter ||= p.received > p.bodyLength;
        p.check(p.head, text); // throws
        throw new StoreProtocolError(`unexpected HTTP ${p.head.status}`);
      }
      return;
    }
    // body bytes that came with the head: copy them into the body buffers
    let offset = 0;
    while (offset < rest.length) {
      if (p.received >= p.bodyLength) throw new StoreProtocolError('response is longer than its Content-Length');
      p.current ??= this.#newBodyBuffer(p);
      const n = rest.copy(p.current, p.filled, offset, offset + Math.min(rest.length - offset, p.current.length - p.filled));
      offset += n;
      this.#onBodyBytes(p, n);
    }
    if (p.bodyLength === 0) this.#finish(p);
  }

  #onBodyBytes(p: Pending, n: number): void {
    p.filled += n;
    p.received += n;
    const current = p.current as Buffer;
    if (p.filled === current.length) {
      p.queue.push(current);
      p.current = undefined;
      if (p.queue.length >= MAX_QUEUED) {
        this.socket.pause();
        this.socket.setTimeout(0); // waiting on our consumer is not the server's silence
      }
    }
    if (p.received === p.bodyLength) this.#finish(p);
    else p.wake?.();
  }

  #finish(p: Pending): void {
    p.done = true;
    if (this.#closeAfter) this.socket.destroy();
    p.wake?.();
  }

  #fail(err: Error): void {
    const p = this.pending;
    if (p === undefined || p.done || p.error !== undefined) return;
    p.error = err;
    p.wake?.();
  }

  #armTimeout(): void {
    this.socket.setTimeout(this.#timeoutMs);
  }

  /** Whether the connection can carry another request. */
  get reusable(): boolean {
    return !this.#closeAfter && !this.socket.destroyed;
  }

  /** Sends a GET and yields its body, in order, as pooled or exact-size buffers. */
  async *get(request: LeanRequest, check: HeadCheck, timeoutMs: number, signal?: AbortSignal): AsyncGenerator<Buffer> {
    const p: Pending = {
      check, head: undefined, headText: '', bodyLength: 0, received: 0, errorBody: undefined,
      current: undefined, filled: 0, queue: [], done: false, error: undefined, wake: undefined,
    };
    this.pending = p;
    this.answered = false;
    const onAbort = (): void => this.#fail(new AbortedError('read aborted'));
    signal?.addEventListener('abort', onAbort, { once: true });
    this.#timeoutMs = timeoutMs;
    this.#armTimeout();
    try {
      let text = `GET ${request.path} HTTP/1.1\r\n`;
      for (const [name, value] of Object.entries(request.headers)) text += `${name}: ${value}\r\n`;
      this.socket.write(`${text}\r\n`);
      for (;;) {
        if (p.error !== undefined) {
          // hand over the body bytes that did arrive (in order, after a valid head), so a retry
          // resumes right after them instead of at the last full buffer
          yield* p.queue.splice(0);
          if (p.current !== undefined && p.filled > 0 && p.errorBody === undefined) yield p.current.subarray(0, p.filled);
          p.current = undefined;
          throw p.error;
        }
        const chunk = p.queue.shift();
        if (chunk !== undefined) {
          if (p.queue.length < MAX_QUEUED && this.socket.isPaused()) {
            this.socket.resume();
            this.#armTimeout();
          }
          yield chunk;
          continue;
        }
        if (p.done) return;
        await new Promise<void>((resolve) => (p.wake = resolve));
        p.wake = undefined;
      }
    } finally {
      signal?.removeEventListener('abort', onAbort);
      this.socket.setTimeout(0);
      if (!p.done || p.error !== undefined) this.socket.destroy(); // abandoned mid-response: the stream is out of step
      this.pending = undefined;
      if (this.socket.isPaused()) this.socket.resume();
    }
  }
}

function parseHead(text: string): ResponseHead {
  const lines = text.split('\r\n');
  const status = /^HTTP\/1\.[01] (\d{3})/.exec(lines[0] ?? '');
  if (status === null) throw new StoreProtocolError(`not an HTTP/1.1 response: ${JSON.stringify((lines[0] ?? '').slice(0, 80))}`);
  const headers = new Map<string, string>();
  for (const line of lines.slice(1)) {
    const colon = line.indexOf(':');
    if (colon > 0) headers.set(line.slice(0, colon).trim().toLowerCase(), line.slice(colon + 1).trim());
  }
  return { status: Number(status[1]), headers };
}

/** Keep-alive connections to one host:port, at most `maxSockets` at a time. */
export class LeanHttpPool {
  readonly #host: string;
  readonly #port: number;
  readonly #maxSockets: number;
  readonly #secure: boolean;
  readonly #idle: Connection[] = [];
  readonly #waiters: (() => void)[] = [];
  #open = 0;

  constructor(host: string, port: number, maxSockets: number, secure = false) {
    this.#host = host;
    this.#port = port;
    this.#maxSockets = maxSockets;
    this.#secure = secure;
  }

  async #acquire(): Promise<Connection> {
    for (;;) {
      const idle = this.#idle.pop();
      if (idle !== undefined) {
        if (idle.reusable) {
          idle.reused = true;
          return idle;
        }
        continue;
      }
      if (this.#open < this.#maxSockets) return this.#connect();
      await new Promise<void>((resolve) => this.#waiters.push(resolve));
    }
  }

  #connect(): Connection {
    this.#open++;
    return new Connection(this.#host, this.#port, this.#secure, (c) => {
      this.#open--;
      const i = this.#idle.indexOf(c);
      if (i !== -1) this.#idle.splice(i, 1);
      this.#waiters.shift()?.();
    });
  }

  #release(c: Connection): void {
    if (c.reusable) this.#idle.push(c);
    else c.socket.destroy();
    this.#waiters.shift()?.();
  }

  /** GETs `request` and yields its body (see Connection.get). */
  async *get(request: LeanRequest, check: HeadCheck, timeoutMs: number, signal?: AbortSignal): AsyncGenerator<Buffer> {
    let conn = await this.#acquire();
    let yielded = false;
    try {
      try {
        for await (const chunk of conn.get(request, check, timeoutMs, signal)) {
          yielded = true;
          yield chunk;
        }
      } catch (err) {
        // a reused idle connection the server had closed: try once more on a fresh one
        const stale = conn.reused && !conn.answered && !yielded && err instanceof TransientStoreError && !(signal?.aborted ?? false);
        if (!stale) throw err;
        this.#release(conn);
        conn = this.#connect();
        yield* conn.get(request, check, timeoutMs, signal);
      }
    } catch (err) {
      if (err instanceof PipemodeError) throw err;
      throw new TransientStoreError((err as Error).message, {}, { cause: err });
    } finally {
      this.#release(conn);
    }
  }

  destroy(): void {
    for (const c of this.#idle.splice(0)) c.socket.destroy();
  }
}
