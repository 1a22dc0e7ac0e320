/**
 * One bucket of an S3-compatible store. Listing and HEAD go through the SDK client (which retries
 * them itself); `read` is a single signed ranged GET — over the lean client for http://
 * endpoints, node:https otherwise — pinned to the listed version with If-Match, whose response
 * is checked against Content-Range and Content-Length so that a truncated or over-long body can
 * never pass as data.
 */
import dns from 'node:dns';
import type http from 'node:http';
import https from 'node:https';
import { AbortedError, StoreProtocolError, TransientStoreError } from '../../core/errors.js';
import { compareKeys, type ListOptions, type ObjectInfo, type ObjectStore } from '../object-store.js';
import { HeadObjectCommand, paginateListObjectsV2 } from './aws-sdk.js';
import type { S3Access, SignedGet } from './s3-access.js';
import { errorFromException, errorFromStatus } from './s3-errors.js';

export interface S3StoreOptions {
  /** A GET that delivers no byte for this long is abandoned (and retried by the caller). @default 30 s */
  readonly idleTimeoutMs?: number;
}

/** ETags that can pin a version: strong ones only (W/"..." cannot be used with If-Match). */
function usableEtag(etag: string | undefined): string | undefined {
  return etag === undefined || etag === '' || etag.startsWith('W/') ? undefined : etag;
}

/** Reads a (small) error body. */
async function errorBodyOf(res: http.IncomingMessage): Promise<string | undefined> {
  let body = '';
  res.setEncoding('utf8');
  try {
    for await (const chunk of res) {
      body += chunk as string;
      if (body.length > 64 * 1024) break;
    }
  } catch {
    return undefined;
  }
  return body;
}

/**
 * A signed GET ready to go on a raw socket (pipe/splice-http.ts): a numeric address and the
 * whole request head.
 */
export interface RawGet {
  readonly address: string;
  readonly family: 4 | 6;
  readonly port: number;
  readonly request: string;
}

export class S3Store implements ObjectStore {
  readonly #bucket: string;
  readonly #access: S3Access;
  readonly #idleTimeoutMs: number;

  constructor(bucket: string, access: S3Access, options: S3StoreOptions = {}) {
    this.#bucket = bucket;
    this.#access = access;
    this.#idleTimeoutMs = options.idleTimeoutMs ?? 30_000;
  }

  /** Whether `rawGet` can serve this store (plain http; TLS bodies must be decrypted by Node). */
  get spliceable(): boolean {
    return this.#access.plainHttp;
  }

  get idleTimeoutMs(): number {
    return this.#idleTimeoutMs;
  }

  #addresses = new Map<string, Promise<{ address: string; family: number }>>();

  /**
   * The same signed, version-pinned ranged GET as `read` sends, as request text for a socket of
   * the caller's own; the caller checks the response as `read` does (status, Content-Range,
   * Content-Length).
   */
  async rawGet(info: ObjectInfo, start: number, end: number): Promise<RawGet> {
    const headers: Record<string, string> = { range: `bytes=${start}-${end - 1}` };
    const etag = usableEtag(info.etag);
    if (etag !== undefined) headers['if-match'] = etag;
    const get = await this.#access.signGet(this.#bucket, info.key, headers);
    if (get.protocol !== 'http:') throw new StoreProtocolError(`${this.uriOf(info.key)}: raw GETs need a plain-http endpoint, not ${get.protocol}`);
    let lookup = this.#addresses.get(get.hostname);
    if (lookup === undefined) {
      lookup = dns.promises.lookup(get.hostname);
      lookup.catch(() => this.#addresses.delete(get.hostname));
      this.#addresses.set(get.hostname, lookup);
    }
    let resolved;
    try {
      resolved = await lookup;
    } catch (err) {
      throw errorFromException(err, this.uriOf(info.key));
    }
    let request = `GET ${get.path} HTTP/1.1\r\n`;
    for (const [name, value] of Object.entries(get.headers)) request += `${name}: ${value}\r\n`;
    return { address: resolved.address, family: resolved.family === 6 ? 6 : 4, port: get.port ?? 80, request: `${request}\r\n` };
  }

  uriOf(key: string): string {
    return `s3://${this.#bucket}/${key}`;
  }

  async *list(prefix: string, signal?: AbortSignal, options: ListOptions = {}): AsyncIterable<ObjectInfo> {
    let previous: string | undefined;
    try {
      const pages = paginateListObjectsV2({ client: await this.#access.client(), ...(options.pageSize !== undefined ? { pageSize: options.pageSize } : {}) }, {
        Bucket: this.#bucket, Prefix: prefix, ...(options.startAfter !== undefined ? { StartAfter: options.startAfter } : {}),
      });
      for await (const page of pages) {
        if (signal?.aborted) throw new AbortedError('listing aborted');
        options.onRequest?.(page.Contents?.length ?? 0, page.IsTruncated === true);
        for (const o of page.Contents ?? []) {
          if (o.Key === undefined) continue;
          // S3 promises ascending UTF-8 order; a store that breaks it would break determinism
          if (previous !== undefined && compareKeys(previous, o.Key) >= 0) {
            throw new StoreProtocolError(`listing of ${this.uriOf(prefix)} is not in ascending key order at "${o.Key}"`, { uri: this.uriOf(prefix) });
          }
          previous = o.Key;
          yield { key: o.Key, size: o.Size ?? 0, etag: usableEtag(o.ETag), ...(o.LastModified !== undefined ? { mtimeMs: o.LastModified.getTime() } : {}) };
        }
      }
    } catch (err) {
      throw errorFromException(err, this.uriOf(prefix));
    }
  }

  async head(key: string, signal?: AbortSignal): Promise<ObjectInfo> {
    try {
      const out = await (await this.#access.client()).send(
        new HeadObjectCommand({ Bucket: this.#bucket, Key: key }),
        signal !== undefined ? { abortSignal: signal } : {},
      );
      return { key, size: out.ContentLength ?? 0, etag: usableEtag(out.ETag), ...(out.LastModified !== undefined ? { mtimeMs: out.LastModified.getTime() } : {}) };
    } catch (err) {
      throw errorFromException(err, this.uriOf(key));
    }
  }

  async *read(info: ObjectInfo, start: number, end: number, signal?: AbortSignal): AsyncIterable<Buffer> {
    const uri = this.uriOf(info.key);
    const headers: Record<string, string> = { range: `bytes=${start}-${end - 1}` };
    const etag = usableEtag(info.etag);
    if (etag !== undefined) headers['if-match'] = etag;
    const get = await this.#access.signGet(this.#bucket, info.key, headers);
    const check = (status: number, header: (name: string) => string | undefined, errorBody: string | undefined): void => {
      const requestId = header('x-amz-request-id');
      if (status !== 206 && status !== 200) {
        throw errorFromStatus(status, errorBody === undefined ? undefined : /<Code>([^<]+)<\/Code>/.exec(errorBody)?.[1], uri, requestId);
      }
      const wanted = end - start;
      if (status === 206) {
        const range = /^bytes (\d+)-(\d+)\/(\d+|\*)$/.exec(header('content-range') ?? '');
        if (range === null || Number(range[1]) !== start || Number(range[2]) !== end - 1) {
          throw new StoreProtocolError(`${uri}: asked for bytes ${start}-${end - 1}, got Content-Range "${header('content-range') ?? ''}"`, { uri, requestId });
        }
      } else if (start !== 0 || Number(header('content-length')) !== wanted) {
        // a 200 is fine only when the range covered the whole object
        throw new StoreProtocolError(`${uri}: the server ignored the Range header (HTTP 200 for bytes ${start}-${end - 1})`, { uri, requestId });
      }
    };
    try {
      // PIPEMODE_NODE_HTTPS=1: TLS through node:https instead (the bench compares both)
      if (get.protocol === 'http:' || process.env.PIPEMODE_NODE_HTTPS !== '1') {
        const secure = get.protocol !== 'http:';
        const pool = this.#access.leanPool(get.hostname, get.port ?? (secure ? 443 : 80), secure);
        yield* pool.get({ path: get.path, headers: get.headers }, (head, errorBody) => {
          check(head.status, (name) => head.headers.get(name), errorBody);
          return end - start;
        }, this.#idleTimeoutMs, signal);
      } else {
        yield* this.#readHttps(get, end - start, check, signal);
      }
    } catch (err) {
      if (signal?.aborted) throw new AbortedError('read aborted', {}, { cause: signal.reason });
      throw errorFromException(err, uri);
    }
  }

  /** The same GET through node:https (PIPEMODE_NODE_HTTPS=1; the lean client is the default). */
  async *#readHttps(
    get: SignedGet, wanted: number,
    check: (status: number, header: (name: string) => string | undefined, errorBody: string | undefined) => void,
    signal?: AbortSignal,
  ): AsyncIterable<Buffer> {
    const req = https.request({ method: 'GET', hostname: get.hostname, port: get.port, path: get.path, headers: get.headers, agent: get.agent });
    // destroy() without an error argument: an error would also be emitted on a keep-alive socket
    // that may already be back in the pool with no listener; the caller classifies instead
    const onAbort = (): void => {
      req.destroy();
    };
    signal?.addEventListener('abort', onAbort, { once: true });
    let timedOut = false;
    req.setTimeout(this.#idleTimeoutMs, () => {
      timedOut = true;
      req.destroy();
    });
    try {
      if (signal?.aborted) onAbort();
      const res = await new Promise<http.IncomingMessage>((resolve, reject) => {
        req.once('response', resolve);
        req.once('error', reject);
        req.end();
      });
      const header = (name: string): string | undefined => {
        const v = res.headers[name];
        return Array.isArray(v) ? v[0] : v;
      };
      check(res.statusCode ?? 0, header, res.statusCode === 200 || res.statusCode === 206 ? undefined : await errorBodyOf(res));
      let received = 0;
      for await (const chunk of res as AsyncIterable<Buffer>) {
        received += chunk.length;
        if (received > wanted) throw new StoreProtocolError(`response is longer than the ${wanted} bytes asked for`);
        yield chunk;
      }
      if (received < wanted) throw new TransientStoreError(`response ended after ${received} of ${wanted} bytes`);
    } catch (err) {
      if (timedOut) throw new TransientStoreError(`no data for ${this.#idleTimeoutMs} ms`, {}, { cause: err });
      throw err;
    } finally {
      signal?.removeEventListener('abort', onAbort);
    }
  }
}
