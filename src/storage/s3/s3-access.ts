/**
 * Everything S3 needs that comes from the AWS SDK v3: configuration (AWS_REGION, profiles,
 * AWS_ENDPOINT_URL_S3 / AWS_ENDPOINT_URL), the credential chain, endpoint resolution and SigV4
 * signing. The SDK client serves listing and HEAD; the hot GET path signs with the SDK's own
 * signer and sends through a lean keep-alive client (lean-http.ts), over plain TCP for http://
 * endpoints and over tls.connect for https:// ones (node:https only with PIPEMODE_NODE_HTTPS=1, a
 * bench comparison): far cheaper per GiB than a full SDK GetObject (figures in docs/benchmarks.md).
 *
 * Custom endpoints (Ceph, MinIO, ...) get path-style addressing and, when no region is configured,
 * "us-east-1". Checksums are computed or validated only WHEN_REQUIRED: non-AWS stores reject or
 * corrupt the SDK's default aws-chunked uploads, and its JS CRC32C costs 6 CPU-s per GiB.
 */
import https from 'node:https';
import { ConfigError } from '../../core/errors.js';
import { Hash, HeadObjectCommand, HttpRequest, S3Client, SignatureV4 } from './aws-sdk.js';
import { LeanHttpPool } from './lean-http.js';

export interface S3AccessOptions {
  /** Endpoint URL; default from AWS_ENDPOINT_URL_S3, then AWS_ENDPOINT_URL, else AWS itself. */
  readonly endpoint?: string | undefined;
  /** Region; default from the SDK's chain (AWS_REGION, profile), "us-east-1" for custom endpoints. */
  readonly region?: string | undefined;
  /** Upper bound on concurrent GET connections per host. @default 64 */
  readonly maxSockets?: number;
  /** Attempts the SDK makes for listing and HEAD requests. @default 5 */
  readonly maxAttempts?: number;
}

/** Where a bucket's objects are addressed: origin plus path prefix (path- or virtual-host style). */
interface BucketBase {
  readonly protocol: string;
  readonly hostname: string;
  readonly port: number | undefined;
  readonly pathPrefix: string;
}

/**
 * A signed GET, as s3-store.ts sends it: through the lean client (lean-http.ts), or node:https
 * with `agent` where PIPEMODE_NODE_HTTPS=1. `path` is sent verbatim (no dot-segment folding).
 */
export interface SignedGet {
  readonly protocol: string;
  readonly hostname: string;
  readonly port: number | undefined;
  readonly path: string;
  readonly headers: Record<string, string>;
  /** The keep-alive agent for https:// GETs through node:https (PIPEMODE_NODE_HTTPS=1 only). */
  readonly agent: https.Agent;
}

/** Encodes a key for an S3 request path: every byte but unreserved characters and "/". */
export function encodeKey(key: string): string {
  return key
    .split('/')
    .map((part) => encodeURIComponent(part).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`))
    .join('/');
}

class ResolvedRequest extends Error {
  constructor(readonly request: HttpRequest) {
    super('resolved');
  }
}

export class S3Access {
  readonly #options: S3AccessOptions;
  #setup: Promise<{ client: S3Client; signer: SignatureV4 }> | undefined;
  readonly #httpsAgent: https.Agent;
  readonly #bases = new Map<string, Promise<BucketBase>>();
  readonly #leanPools = new Map<string, LeanHttpPool>();

  constructor(options: S3AccessOptions = {}) {
    this.#options = options;
    const maxSockets = options.maxSockets ?? 64;
    this.#httpsAgent = new https.Agent({ keepAlive: true, maxSockets, scheduling: 'lifo' });
  }

  /** The SDK client, configured on first use (the region may need the SDK's own lookup). */
  async client(): Promise<S3Client> {
    return (await this.#ready()).client;
  }

  #ready(): Promise<{ client: S3Client; signer: SignatureV4 }> {
    this.#setup ??= (async () => {
      const endpoint = this.#options.endpoint ?? process.env.AWS_ENDPOINT_URL_S3 ?? process.env.AWS_ENDPOINT_URL;
      const custom = endpoint !== undefined && endpoint !== '';
      if (custom) checkEndpoint(endpoint, this.#options.endpoint !== undefined ? '--endpoint-url' : process.env.AWS_ENDPOINT_URL_S3 !== undefined ? 'AWS_ENDPOINT_URL_S3' : 'AWS_ENDPOINT_URL');
      const common = {
        ...(custom ? { endpoint, forcePathStyle: true } : {}),
        maxAttempts: this.#options.maxAttempts ?? 5,
        requestChecksumCalculation: 'WHEN_REQUIRED',
        responseChecksumValidation: 'WHEN_REQUIRED',
      } as const;
      let region = this.#options.region;
      if (region === undefined) {
        const probe = new S3Client(common);
        try {
          region = await probe.config.region();
        } catch (err) {
          if (!custom) throw new ConfigError(`no AWS region configured: set AWS_REGION or a profile region (${(err as Error).message})`, { field: 'AWS_REGION' });
          region = 'us-east-1'; // custom endpoints (Ceph, MinIO) rarely care
        } finally {
          probe.destroy();
        }
      }
      const client = new S3Client({ ...common, region });
      const signer = new SignatureV4({
        service: 's3',
        region,
        credentials: client.config.credentials,
        sha256: Hash.bind(null, 'sha256'),
        uriEscapePath: false,
        applyChecksum: false,
      });
      return { client, signer };
    })();
    return this.#setup;
  }

  /** Asks the SDK how it would address `bucket` (without sending anything) and caches it. */
  #baseFor(bucket: string): Promise<BucketBase> {
    let base = this.#bases.get(bucket);
    if (base === undefined) {
      base = (async () => {
        const probe = new HeadObjectCommand({ Bucket: bucket, Key: 'k' });
        probe.middlewareStack.add(
          () => (args) => {
            throw new ResolvedRequest(args.request as HttpRequest);
          },
          { step: 'build', name: 'pipemodeResolveOnly' },
        );
        try {
          await (await this.client()).send(probe);
        } catch (err) {
          if (!(err instanceof ResolvedRequest)) throw err;
          const r = err.request;
          if (!r.path.endsWith('/k')) throw new Error(`cannot derive the request path for bucket ${bucket} from ${r.path}`, { cause: err });
          return { protocol: r.protocol, hostname: r.hostname, port: r.port, pathPrefix: r.path.slice(0, -1) };
        }
        throw new Error('the SDK sent a probe request it was told not to send');
      })();
      base.catch(() => this.#bases.delete(bucket));
      this.#bases.set(bucket, base);
    }
    return base;
  }

  /** A signed GET for `key` with the given extra headers (Range, If-Match). */
  async signGet(bucket: string, key: string, headers: Record<string, string>): Promise<SignedGet> {
    const base = await this.#baseFor(bucket);
    const request = new HttpRequest({
      method: 'GET',
      protocol: base.protocol,
      hostname: base.hostname,
      ...(base.port !== undefined ? { port: base.port } : {}),
      path: base.pathPrefix + encodeKey(key),
      headers: {
        host: base.port === undefined ? base.hostname : `${base.hostname}:${base.port}`,
        'x-amz-content-sha256': 'UNSIGNED-PAYLOAD',
        ...headers,
      },
    });
    const signed = (await (await this.#ready()).signer.sign(request)) as HttpRequest;
    return {
      protocol: base.protocol,
      hostname: base.hostname,
      port: base.port,
      path: request.path,
      headers: signed.headers,
      agent: this.#httpsAgent,
    };
  }

  /**
   * Whether GETs go to a plain-http endpoint (known without a request: the configured endpoint
   * URL). Only such GETs can be spliced from the socket (pipe/splice-http.ts); TLS needs the copy.
   */
  get plainHttp(): boolean {
    const endpoint = this.#options.endpoint ?? process.env.AWS_ENDPOINT_URL_S3 ?? process.env.AWS_ENDPOINT_URL;
    return endpoint !== undefined && endpoint.startsWith('http://');
  }

  /** The lean keep-alive pool for a host, over TLS when `secure` (see lean-http.ts). */
  leanPool(hostname: string, port: number, secure = false): LeanHttpPool {
    const key = `${secure ? 'https' : 'http'}://${hostname}:${port}`;
    let pool = this.#leanPools.get(key);
    if (pool === undefined) {
      pool = new LeanHttpPool(hostname, port, this.#options.maxSockets ?? 64, secure);
      this.#leanPools.set(key, pool);
    }
    return pool;
  }

  destroy(): void {
    for (const pool of this.#leanPools.values()) pool.destroy();
    void this.#setup?.then(({ client }) => client.destroy(), () => {});
    this.#httpsAgent.destroy();
  }
}

/** An S3 endpoint must be an http:// or https:// URL; `field` names where it came from. */
function checkEndpoint(endpoint: string, field: string): void {
  let url: URL | undefined;
  try {
    url = new URL(endpoint);
  } catch {
    url = undefined;
  }
  if (url === undefined || (url.protocol !== 'http:' && url.protocol !== 'https:') || url.hostname === '') {
    throw new ConfigError(`${field} "${endpoint}" is not an S3 endpoint URL: expected http://host:port or https://host`, { field });
  }
}
