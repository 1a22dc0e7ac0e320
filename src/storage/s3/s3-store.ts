/**
 * One bucket of an S3-compatible store. Listing and HEAD go through the SDK client (which retries
 * them itself); `read` is a single signed ranged GET over node:http, pinned to the listed version
 * with If-Match, whose body is checked against Content-Range and Content-Length so that a
 * truncated or over-long response can never pass as data.
 */
import http from 'node:http';
import https from 'node:https';
import { HeadObjectCommand, paginateListObjectsV2 } from '@aws-sdk/client-s3';
import { AbortedError, StoreProtocolError, TransientStoreError } from '../../core/errors.js';
import { compareKeys, type ObjectInfo, type ObjectStore } from '../object-store.js';
import type { S3Access } from './s3-access.js';
import { errorFromException, errorFromStatus } from './s3-errors.js';

export interface S3StoreOptions {
  /** A GET that delivers no byte for this long is abandoned (and retried by the caller). @default 30 s */
  readonly idleTimeoutMs?: number;
}

/** ETags that can pin a version: strong ones only (W/"..." cannot be used with If-Match). */
function usableEtag(etag: string | undefined): string | undefined {
  return etag === undefined || etag === '' || etag.startsWith('W/') ? undefined : etag;
}

/** Reads the S3 error code from a (small) XML error body. */
async function errorCode(res: http.IncomingMessage): Promise<string | undefined> {
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
  return /<Code>([^<]+)<\/Code>/.exec(body)?.[1];
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

  uriOf(key: string): string {
    return `s3://${this.#bucket}/${key}`;
  }

  async *list(prefix: string, signal?: AbortSignal): AsyncIterable<ObjectInfo> {
    let previous: string | undefined;
    try {
      const pages = paginateListObjectsV2({ client: await this.#access.client() }, { Bucket: this.#bucket, Prefix: prefix });
      for await (const page of pages) {
        if (signal?.aborted) throw new AbortedError('listing aborted');
        for (const o of page.Contents ?? []) {
          if (o.Key === undefined) continue;
          // S3 promises ascending UTF-8 order; a store that breaks it would break determinism
          if (previous !== undefined && compareKeys(previous, o.Key) >= 0) {
            throw new StoreProtocolError(`listing of ${this.uriOf(prefix)} is not in ascending key order at "${o.Key}"`, { uri: this.uriOf(prefix) });
          }
          previous = o.Key;
          yield { key: o.Key, size: o.Size ?? 0, etag: usableEtag(o.ETag) };
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
      return { key, size: out.ContentLength ?? 0, etag: usableEtag(out.ETag) };
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
    const transport = get.protocol === 'https:' ? https : http;
    const req = transport.request({
      method: 'GET',
      protocol: get.protocol,
      hostname: get.hostname,
      port: get.port,
      path: get.path,
      headers: get.headers,
      agent: get.agent,
    });
    // destroy() without an error argument: an error would also be emitted on a keep-alive socket
    // that may already be back in the pool with no listener; the catch below classifies instead
    const onAbort = (): void => {
      req.destroy();
    };
    signal?.addEventListener('abort', onAbort, { once: true });
    let timedOut = false;
    // no byte for idleTimeoutMs, whether waiting for headers or body: give this attempt up
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
      const requestId = res.headers['x-amz-request-id'] as string | undefined;
      if (res.statusCode !== 206 && res.statusCode !== 200) {
        throw errorFromStatus(res.statusCode ?? 0, await errorCode(res), uri, requestId);
      }
      const wanted = end - start;
      if (res.statusCode === 206) {
        const range = /^bytes (\d+)-(\d+)\/(\d+|\*)$/.exec(res.headers['content-range'] ?? '');
        if (range === null || Number(range[1]) !== start || Number(range[2]) !== end - 1) {
          throw new StoreProtocolError(`${uri}: asked for bytes ${start}-${end - 1}, got Content-Range "${res.headers['content-range'] ?? ''}"`, { uri, requestId });
        }
      } else if (start !== 0) {
        throw new StoreProtocolError(`${uri}: the server ignored the Range header (HTTP 200 for bytes ${start}-${end - 1})`, { uri, requestId });
      }
      // a 200 (Range ignored, start 0) carries the whole object: take the first `wanted` bytes;
      // leaving the loop early destroys the response, so no half-read socket returns to the pool
      let received = 0;
      for await (const chunk of res as AsyncIterable<Buffer>) {
        if (received + chunk.length <= wanted) {
          received += chunk.length;
          yield chunk;
          continue;
        }
        if (res.statusCode === 206) {
          throw new StoreProtocolError(`${uri}: response is longer than its Content-Range ${start}-${end - 1}`, { uri, requestId });
        }
        yield chunk.subarray(0, wanted - received);
        received = wanted;
        break;
      }
      if (received < wanted) {
        throw new TransientStoreError(`${uri}: response ended after ${received} of ${wanted} bytes`, { uri, requestId });
      }
    } catch (err) {
      if (signal?.aborted) throw new AbortedError('read aborted', {}, { cause: signal.reason });
      if (timedOut) throw new TransientStoreError(`${uri}: no data for ${this.#idleTimeoutMs} ms`, { uri }, { cause: err });
      throw errorFromException(err, uri);
    } finally {
      signal?.removeEventListener('abort', onAbort);
    }
  }
}
