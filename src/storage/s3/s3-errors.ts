/**
 * Translates what an S3-compatible service says (SDK exceptions, raw HTTP statuses and error
 * codes, socket errors) into the error catalogue. Transient kinds come back with
 * `retryable = true`; everything else is final.
 */
import {
  AccessDeniedError, ConfigError, NoSuchBucketError, NoSuchKeyError, ObjectChangedError, PipemodeError,
  StoreProtocolError, TransientStoreError,
} from '../../core/errors.js';

/** Socket-level failures that a new connection may not repeat. */
const TRANSIENT_SOCKET_CODES = new Set([
  'ECONNRESET', 'ECONNREFUSED', 'ECONNABORTED', 'EPIPE', 'ETIMEDOUT', 'ENETUNREACH', 'EHOSTUNREACH',
  'EAI_AGAIN', 'ENOTFOUND', 'ERR_STREAM_PREMATURE_CLOSE',
]);

/** Maps an HTTP status plus the S3 error code from the body to a typed error. */
export function errorFromStatus(status: number, s3Code: string | undefined, uri: string, requestId?: string): PipemodeError {
  const details = { uri, status, s3Code, requestId };
  const said = s3Code === undefined ? `HTTP ${status}` : `${s3Code} (HTTP ${status})`;
  if (s3Code === 'NoSuchBucket') return new NoSuchBucketError(`bucket of ${uri} does not exist: ${said}`, details);
  if (status === 404 || s3Code === 'NoSuchKey') return new NoSuchKeyError(`${uri} does not exist: ${said}`, details);
  if (status === 403 || s3Code === 'AccessDenied') return new AccessDeniedError(`access to ${uri} denied: ${said}`, details);
  if (status === 412 || status === 416) return new ObjectChangedError(`${uri} changed while it was being read: ${said}`, details);
  if (status === 429 || status >= 500 || s3Code === 'SlowDown' || s3Code === 'RequestTimeout' || s3Code === 'InternalError') {
    return new TransientStoreError(`${uri}: ${said}`, details);
  }
  return new StoreProtocolError(`${uri}: unexpected ${said}`, details);
}

/** Maps a thrown socket or SDK error to a typed error. */
export function errorFromException(err: unknown, uri: string): PipemodeError {
  if (err instanceof PipemodeError) return err;
  if ((err as { name?: string }).name === 'CredentialsProviderError') {
    return new ConfigError(`no AWS credentials for ${uri}: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, AWS_PROFILE, or a credentials file (${(err as Error).message})`, {
      uri, field: 'AWS credentials',
    }, { cause: err });
  }
  const e = err as { code?: string; name?: string; message?: string; $metadata?: { httpStatusCode?: number; requestId?: string }; Code?: string };
  const status = e.$metadata?.httpStatusCode;
  if (status !== undefined) return errorFromStatus(status, e.Code ?? e.name, uri, e.$metadata?.requestId);
  if ((e.code !== undefined && TRANSIENT_SOCKET_CODES.has(e.code)) || e.name === 'TimeoutError' || e.message === 'aborted' || e.message === 'socket hang up') {
    return new TransientStoreError(`${uri}: ${e.code ?? e.name ?? 'network error'}: ${e.message ?? ''}`, { uri, cause: e.code }, { cause: err });
  }
  return new StoreProtocolError(`${uri}: ${e.message ?? String(err)}`, { uri }, { cause: err });
}
