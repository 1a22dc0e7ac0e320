/**
 * Server-side check of AWS Signature Version 4 on an incoming request, so the official SDKs and
 * the AWS CLI can talk to pipemode's servers with ordinary access keys.
 *
 * The client's `Authorization` header (or, for presigned URLs, the `X-Amz-*` query parameters)
 * names the access key, the credential scope (date/region/service/aws4_request), the headers it
 * signed and the signature. We look the secret up by access key id, rebuild the request from
 * exactly those headers, the path and query as received and the payload hash, and let
 * @smithy/signature-v4 (the JS SDK's own signer) compute the signature with the region and service
 * from the scope. The two signatures are compared in constant time.
 *
 * Payload: when the client signed `x-amz-content-sha256`, its value is the payload hash (after
 * checking it against the body bytes we were given); `UNSIGNED-PAYLOAD` leaves the body
 * unauthenticated, as in S3. Otherwise the body bytes given (none = empty) are hashed.
 *
 * Every outcome is a value, not an exception: `{ ok: true, ... }` or an `AuthRejection` that
 * carries the HTTP status, the AWS error code and an AWS-worded message, ready for
 * aws-error-response.ts. These are answers to a client, not pipemode failures, so they are not in
 * the error catalogue. The secret never appears in an outcome or a message.
 */
import crypto from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import { SignatureV4 } from '@smithy/signature-v4';
import { HttpRequest } from '@smithy/protocol-http';
import { Hash } from '@smithy/hash-node';

/** What the check reads from a request; a node:http IncomingMessage is one. */
export interface IncomingRequestLike {
  readonly method?: string | undefined;
  /** Request target as received: path plus optional `?query`, still percent-encoded. */
  readonly url?: string | undefined;
  readonly headers: IncomingHttpHeaders;
  /** Names and values as received; used when present so repeated headers keep their order. */
  readonly rawHeaders?: readonly string[];
}

export type AuthRejectionCode =
  | 'MissingAuthenticationTokenException'
  | 'IncompleteSignatureException'
  | 'UnrecognizedClientException'
  | 'InvalidSignatureException';

export interface AuthRejection {
  readonly ok: false;
  readonly status: 400 | 403;
  readonly code: AuthRejectionCode;
  readonly message: string;
}

export interface AuthSuccess {
  readonly ok: true;
  readonly accessKeyId: string;
  /** Region and service from the credential scope. */
  readonly region: string;
  readonly service: string;
  /** Lower-case names the client signed, in its order. */
  readonly signedHeaders: readonly string[];
  /** True when the client sent `x-amz-content-sha256: UNSIGNED-PAYLOAD`: the body is not covered. */
  readonly unsignedPayload: boolean;
  readonly via: 'header' | 'query';
}

export type SigV4Outcome = AuthSuccess | AuthRejection;

export interface VerifySigV4Options {
  /** Access key id → secret access key. */
  readonly credentials: ReadonlyMap<string, string>;
  /** The request body as received; absent means empty. */
  readonly body?: Uint8Array | undefined;
  /** When set, a scope naming another service is rejected (e.g. 'sagemaker'). */
  readonly service?: string | undefined;
  /** Clock for the skew and expiry checks. @default new Date() */
  readonly now?: Date | undefined;
  /** Allowed difference between `x-amz-date` and our clock. @default 15 minutes (AWS's) */
  readonly maxSkewMs?: number | undefined;
  /** Double-encode the path as every AWS service but S3 does. @default true */
  readonly uriEscapePath?: boolean | undefined;
}

const ALGORITHM = 'AWS4-HMAC-SHA256';
const DEFAULT_SKEW_MS = 15 * 60 * 1000;
/** Presigned URLs may live at most a week (SigV4 rule). */
const MAX_PRESIGN_EXPIRES_S = 7 * 24 * 3600;
const UNSIGNED_PAYLOAD = 'UNSIGNED-PAYLOAD';
const SHA256_HEADER = 'x-amz-content-sha256';
const HEX64 = /^[0-9a-f]{64}$/;
const AMZ_DATE = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/;
/** Query parameters that carry a presigned request's authentication. */
const QUERY_AUTH = {
  algorithm: 'X-Amz-Algorithm', credential: 'X-Amz-Credential', date: 'X-Amz-Date',
  expires: 'X-Amz-Expires', signedHeaders: 'X-Amz-SignedHeaders', signature: 'X-Amz-Signature',
} as const;

// Messages as AWS words them (AWS IAM "Troubleshoot signed requests", AWS SDK issue reports).
const MSG_MISSING = 'Missing Authentication Token';
const MSG_UNKNOWN_KEY = 'The security token included in the request is invalid.';
const MSG_MISMATCH = 'The request signature we calculated does not match the signature you provided. '
  + 'Check your AWS Secret Access Key and signing method. Consult the service documentation for details.';

function reject(code: AuthRejectionCode, message: string): AuthRejection {
  return { ok: false, status: code === 'IncompleteSignatureException' ? 400 : 403, code, message };
}

/** `YYYYMMDDTHHMMSSZ`, the SigV4 long date. */
export function formatAmzDate(date: Date): string {
  return date.toISOString().replace(/[-:]/g, '').replace(/\.\d{3}/, '');
}

function parseAmzDate(text: string): Date | undefined {
  const m = AMZ_DATE.exec(text);
  if (m === null) return undefined;
  const [, y, mo, d, h, mi, s] = m.map(Number) as [number, number, number, number, number, number, number];
  const date = new Date(Date.UTC(y, mo - 1, d, h, mi, s));
  return formatAmzDate(date) === text ? date : undefined;
}

/** Header name (lower case) → values as received joined with ',' (SigV4's canonical join). */
function collectHeaders(req: IncomingRequestLike): Map<string, string> {
  const out = new Map<string, string[]>();
  const add = (name: string, value: string): void => {
    const key = name.toLowerCase();
    const list = out.get(key);
    if (list) list.push(value.trim());
    else out.set(key, [value.trim()]);
  };
  if (req.rawHeaders !== undefined) {
    for (let i = 0; i + 1 < req.rawHeaders.length; i += 2) add(req.rawHeaders[i] ?? '', req.rawHeaders[i + 1] ?? '');
  } else {
    for (const [name, value] of Object.entries(req.headers)) {
      if (value === undefined) continue;
      for (const v of Array.isArray(value) ? value : [value]) add(name, v);
    }
  }
  return new Map([...out].map(([k, v]) => [k, v.join(',')]));
}

/** Splits the raw query into decoded name → value(s); undefined when it is not valid percent-encoding. */
function parseQuery(raw: string): Map<string, string[]> | undefined {
  const out = new Map<string, string[]>();
  if (raw === '') return out;
  for (const pair of raw.split('&')) {
    if (pair === '') continue;
    const eq = pair.indexOf('=');
    let name: string;
    let value: string;
    try {
      name = decodeURIComponent(eq < 0 ? pair : pair.slice(0, eq));
      value = eq < 0 ? '' : decodeURIComponent(pair.slice(eq + 1));
    } catch {
      return undefined;
    }
    const list = out.get(name);
    if (list) list.push(value);
    else out.set(name, [value]);
  }
  return out;
}

interface AuthFields {
  readonly via: 'header' | 'query';
  readonly credential: string;
  readonly signedHeaders: string;
  readonly signature: string;
  readonly amzDate: string | undefined;
  readonly expires: string | undefined;
}

function parseAuthorizationHeader(header: string): AuthFields | AuthRejection {
  const space = header.indexOf(' ');
  const algorithm = space < 0 ? header : header.slice(0, space);
  if (algorithm !== ALGORITHM) {
    return reject('IncompleteSignatureException', `Unsupported Authorization algorithm "${algorithm}"; only ${ALGORITHM} is accepted.`);
  }
  const params = new Map<string, string>();
  for (const part of header.slice(space + 1).split(',')) {
    const eq = part.indexOf('=');
    if (eq > 0) params.set(part.slice(0, eq).trim(), part.slice(eq + 1).trim());
  }
  const missing = ['Credential', 'SignedHeaders', 'Signature'].filter((p) => !params.get(p));
  if (missing.length > 0) {
    return reject('IncompleteSignatureException',
      `${missing.map((p) => `Authorization header requires '${p}' parameter.`).join(' ')} Authorization=${header}`);
  }
  return {
    via: 'header',
    credential: params.get('Credential') ?? '',
    signedHeaders: params.get('SignedHeaders') ?? '',
    signature: params.get('Signature') ?? '',
    amzDate: undefined,
    expires: undefined,
  };
}

function parseQueryAuth(query: ReadonlyMap<string, readonly string[]>): AuthFields | AuthRejection {
  const one = (name: string): string | undefined => query.get(name)?.[0];
  const algorithm = one(QUERY_AUTH.algorithm);
  if (algorithm !== ALGORITHM) {
    return reject('IncompleteSignatureException', `Unsupported ${QUERY_AUTH.algorithm} "${algorithm}"; only ${ALGORITHM} is accepted.`);
  }
  const missing = [QUERY_AUTH.credential, QUERY_AUTH.date, QUERY_AUTH.expires, QUERY_AUTH.signedHeaders, QUERY_AUTH.signature]
    .filter((p) => !one(p));
  if (missing.length > 0) {
    return reject('IncompleteSignatureException', missing.map((p) => `AWS query-string parameters must include '${p}'.`).join(' '));
  }
  return {
    via: 'query',
    credential: one(QUERY_AUTH.credential) ?? '',
    signedHeaders: one(QUERY_AUTH.signedHeaders) ?? '',
    signature: one(QUERY_AUTH.signature) ?? '',
    amzDate: one(QUERY_AUTH.date),
    expires: one(QUERY_AUTH.expires),
  };
}

function signaturesEqual(expected: string, given: string): boolean {
  const a = Buffer.from(expected, 'utf8');
  const b = Buffer.from(given, 'utf8');
  return a.length === b.length && crypto.timingSafeEqual(a, b);
}

/**
 * Checks the SigV4 signature of `req`. Resolves to `{ ok: true }` with the caller's access key,
 * region and service, or to an AuthRejection to send back (see writeAwsJsonError).
 */
export async function verifySigV4(req: IncomingRequestLike, options: VerifySigV4Options): Promise<SigV4Outcome> {
  const now = options.now ?? new Date();
  const maxSkewMs = options.maxSkewMs ?? DEFAULT_SKEW_MS;
  const target = req.url ?? '/';
  const qmark = target.indexOf('?');
  const path = qmark < 0 ? target : target.slice(0, qmark);
  const query = parseQuery(qmark < 0 ? '' : target.slice(qmark + 1));
  if (query === undefined) return reject('IncompleteSignatureException', 'The query string is not valid percent-encoding.');
  const headers = collectHeaders(req);

  const authorization = headers.get('authorization');
  let fields: AuthFields | AuthRejection;
  if (authorization !== undefined) fields = parseAuthorizationHeader(authorization);
  else if (query.has(QUERY_AUTH.algorithm)) fields = parseQueryAuth(query);
  else return reject('MissingAuthenticationTokenException', MSG_MISSING);
  if ('ok' in fields) return fields;

  const scope = fields.credential.split('/');
  if (scope.length !== 5 || scope[4] !== 'aws4_request' || scope.some((s) => s === '')) {
    return reject('IncompleteSignatureException',
      `Credential must have exactly 5 slash-delimited elements, e.g. keyid/date/region/service/aws4_request, got '${fields.credential}'.`);
  }
  const [accessKeyId, scopeDate, region, service] = scope as [string, string, string, string, string];

  const amzDateText = fields.amzDate ?? headers.get('x-amz-date');
  if (amzDateText === undefined) {
    return reject('IncompleteSignatureException', "Authorization header requires existence of a 'X-Amz-Date' header.");
  }
  const signingDate = parseAmzDate(amzDateText);
  if (signingDate === undefined) {
    return reject('IncompleteSignatureException', `X-Amz-Date '${amzDateText}' is not an ISO-8601 basic date-time (YYYYMMDDTHHMMSSZ).`);
  }

  const secret = options.credentials.get(accessKeyId);
  if (secret === undefined) return reject('UnrecognizedClientException', MSG_UNKNOWN_KEY);

  const skewMinutes = Math.round(maxSkewMs / 60_000);
  if (signingDate.getTime() > now.getTime() + maxSkewMs) {
    return reject('InvalidSignatureException', `Signature not yet current: ${amzDateText} is still later than `
      + `${formatAmzDate(new Date(now.getTime() + maxSkewMs))} (${formatAmzDate(now)} + ${skewMinutes} min.)`);
  }
  if (fields.via === 'header' && signingDate.getTime() < now.getTime() - maxSkewMs) {
    return reject('InvalidSignatureException', `Signature expired: ${amzDateText} is now earlier than `
      + `${formatAmzDate(new Date(now.getTime() - maxSkewMs))} (${formatAmzDate(now)} - ${skewMinutes} min.)`);
  }
  let expiresS = 0;
  if (fields.via === 'query') {
    expiresS = Number(fields.expires);
    if (!Number.isInteger(expiresS) || expiresS < 1 || expiresS > MAX_PRESIGN_EXPIRES_S) {
      return reject('IncompleteSignatureException', `X-Amz-Expires must be an integer from 1 to ${MAX_PRESIGN_EXPIRES_S}, got '${fields.expires}'.`);
    }
    if (signingDate.getTime() + expiresS * 1000 < now.getTime()) {
      return reject('InvalidSignatureException', `Signature expired: ${amzDateText} + ${expiresS} s is now earlier than ${formatAmzDate(now)}.`);
    }
  }
  if (scopeDate !== amzDateText.slice(0, 8)) {
    return reject('InvalidSignatureException', 'Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: '
      + `'${scopeDate}' != '${amzDateText.slice(0, 8)}', from '${amzDateText}'.`);
  }
  if (options.service !== undefined && service !== options.service) {
    return reject('InvalidSignatureException', `Credential should be scoped to correct service: '${options.service}'.`);
  }

  const signedHeaders = fields.signedHeaders.split(';');
  if (!signedHeaders.includes('host')) {
    return reject('IncompleteSignatureException', "'Host' must be a 'SignedHeader' in the AWS Authorization.");
  }
  const toSign: Record<string, string> = {};
  for (const name of signedHeaders) {
    const value = headers.get(name);
    // x-amz-date is re-added by the signer from signingDate; a signed header that is absent
    // simply makes the signatures differ.
    if (value !== undefined && name !== 'x-amz-date') toSign[name] = value;
  }

  let unsignedPayload = false;
  const claimedHash = signedHeaders.includes(SHA256_HEADER) ? headers.get(SHA256_HEADER) : undefined;
  if (claimedHash !== undefined) {
    if (claimedHash === UNSIGNED_PAYLOAD) {
      unsignedPayload = true;
    } else if (HEX64.test(claimedHash)) {
      const actual = crypto.createHash('sha256').update(options.body ?? new Uint8Array(0)).digest('hex');
      if (actual !== claimedHash) {
        return reject('InvalidSignatureException', `The provided '${SHA256_HEADER}' header does not match what was computed.`);
      }
    } else {
      return reject('IncompleteSignatureException', `${SHA256_HEADER} '${claimedHash}' is not supported; send a hex SHA-256 or ${UNSIGNED_PAYLOAD}.`);
    }
  }

  const signedQuery: Record<string, string | string[]> = {};
  for (const [name, values] of query) {
    if (fields.via === 'query' && name === QUERY_AUTH.signature) continue;
    signedQuery[name] = values.length === 1 ? (values[0] ?? '') : [...values];
  }
  const request = new HttpRequest({
    method: req.method ?? 'GET',
    protocol: 'http:',
    hostname: headers.get('host') ?? 'localhost',
    path,
    query: signedQuery,
    headers: toSign,
    ...(options.body !== undefined && options.body.length > 0 ? { body: options.body } : {}),
  });
  const signer = new SignatureV4({
    credentials: { accessKeyId, secretAccessKey: secret },
    region,
    service,
    sha256: Hash.bind(null, 'sha256'),
    applyChecksum: false,
    uriEscapePath: options.uriEscapePath ?? true,
  });
  const signable = new Set(signedHeaders);
  let expected: string | undefined;
  if (fields.via === 'header') {
    const signed = await signer.sign(request, { signingDate, signingRegion: region, signingService: service, signableHeaders: signable });
    expected = /Signature=([0-9a-f]{64})/.exec(String(signed.headers.authorization))?.[1];
  } else {
    const signed = await signer.presign(request, {
      signingDate, signingRegion: region, signingService: service, expiresIn: expiresS,
      signableHeaders: signable, unhoistableHeaders: signable,
    });
    const sig = signed.query?.[QUERY_AUTH.signature];
    expected = typeof sig === 'string' ? sig : undefined;
  }
  if (expected === undefined || !signaturesEqual(expected, fields.signature)) {
    return reject('InvalidSignatureException', MSG_MISMATCH);
  }
  return { ok: true, accessKeyId, region, service, signedHeaders, unsignedPayload, via: fields.via };
}
