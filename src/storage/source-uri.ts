/**
 * Where a channel's bytes live. `s3://bucket/key-prefix` names an S3-compatible store;
 * `file:///abs/path` or a plain path names the local file system, which pipemode treats as one
 * bucket rooted at "/" whose keys are paths without the leading slash. That makes prefix
 * semantics identical: `/data/train` matches `/data/train-1.csv` and `/data/train/x.csv`,
 * exactly as `s3://b/data/train` would.
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { SourceUriError } from '../core/errors.js';

export type SourceUri =
  | { readonly kind: 's3'; readonly bucket: string; readonly key: string }
  | { readonly kind: 'file'; readonly key: string };

/** S3 bucket names as AWS allows them (3-63 chars; lower case, digits, dots, hyphens). */
const BUCKET = /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/;

/** Whether `text` names an S3 location (the rest of it is checked by parseSourceUri). */
export function isS3Uri(text: string): boolean {
  return text.startsWith('s3://');
}

/**
 * Parses an S3Uri-style source. Relative local paths are resolved against `cwd`.
 * A trailing "/" is kept: it matters for prefix matching.
 */
export function parseSourceUri(text: string, cwd: string = process.cwd()): SourceUri {
  if (text === '') throw new SourceUriError('empty source URI: expected s3://bucket/prefix, file:///path or a local path');
  if (isS3Uri(text)) {
    const rest = text.slice(5);
    const slash = rest.indexOf('/');
    const bucket = slash === -1 ? rest : rest.slice(0, slash);
    const key = slash === -1 ? '' : rest.slice(slash + 1);
    if (!BUCKET.test(bucket)) {
      throw new SourceUriError(`invalid bucket name "${bucket}" in "${text}": 3-63 characters of a-z, 0-9, "." and "-"`, { uri: text });
    }
    return { kind: 's3', bucket, key };
  }
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(text) && !text.startsWith('file://')) {
    throw new SourceUriError(`unsupported source URI "${text}": use s3://bucket/prefix, file:///path or a local path`, { uri: text });
  }
  let local: string;
  try {
    local = text.startsWith('file://') ? fileURLToPath(text) : text;
  } catch (err) {
    throw new SourceUriError(`invalid file URI "${text}": ${(err as Error).message}`, { uri: text }, { cause: err });
  }
  const trailing = local.endsWith('/') ? '/' : '';
  const absolute = path.resolve(cwd, local);
  const key = absolute === '/' ? '' : absolute.slice(1) + trailing;
  return { kind: 'file', key };
}

/** Renders a source back as a URI for messages: s3://bucket/key or file:///key. */
export function formatSourceUri(uri: SourceUri): string {
  return uri.kind === 's3' ? `s3://${uri.bucket}/${uri.key}` : `file:///${uri.key}`;
}

/** The source `uri` with `suffix` appended to its key (manifest entries are plain concatenation). */
export function appendToKey(uri: SourceUri, suffix: string): SourceUri {
  return { ...uri, key: uri.key + suffix };
}

/** `uri` as a folder prefix: its key with a trailing "/" (an empty key, a bucket or root, stays as it is). */
export function asFolder(uri: SourceUri): SourceUri {
  return uri.key === '' || uri.key.endsWith('/') ? uri : appendToKey(uri, '/');
}
