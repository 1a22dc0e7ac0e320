/**
 * Where an object's key lands below its channel folder (File mode downloads, FastFile mounts):
 * SageMaker's rule (for S3Prefix the key below the prefix's folder part, for manifests the whole
 * key), and the one safety rule every path built from a key obeys: it stays below its folder.
 * A key that would not (`..` or `.` segments, a leading `/`, empty segments, NUL, a name longer
 * than the file system takes) is refused with PM_ERR_UNSAFE_KEY, never written.
 */
import { UnsafeKeyError } from '../core/errors.js';
import type { ChannelSpec } from './channel-spec.js';

/** Longest file name Linux file systems take (bytes). */
const NAME_MAX = 255;

/**
 * Whether a relative path names a file below its folder: not empty, no NUL, no `.`/`..` or empty
 * segments (so no leading or trailing `/` either).
 */
export function staysBelowFolder(rel: string): boolean {
  return rel !== '' && !rel.includes('\0') && !rel.split('/').some((s) => s === '' || s === '.' || s === '..');
}

/**
 * Whether a key has a `.` or `..` segment: on a file system such a key names another path than
 * it does in S3, so no store serves one (manifest entries and references are checked with this).
 */
export function hasDotSegment(key: string): boolean {
  return key.split('/').some((s) => s === '.' || s === '..');
}

/** The path of an object below its channel directory, or UnsafeKeyError. */
export function channelRelativePath(spec: ChannelSpec, key: string, uri: string): string {
  let rel = key;
  if (spec.dataType === 'S3Prefix') {
    const prefix = spec.source.key;
    const dirPart = prefix.slice(0, prefix.lastIndexOf('/') + 1);
    rel = key.slice(dirPart.length);
  }
  if (!staysBelowFolder(rel)) {
    throw new UnsafeKeyError(`refusing to download ${uri}: its key would land at "${rel}", outside or not a file of the channel directory`, { uri });
  }
  const long = rel.split('/').find((s) => Buffer.byteLength(s) > NAME_MAX);
  if (long !== undefined) {
    throw new UnsafeKeyError(`cannot download ${uri}: the name "${long.slice(0, 40)}…" is ${Buffer.byteLength(long)} bytes, more than a file name may have (${NAME_MAX})`, { uri });
  }
  return rel;
}

/**
 * Two keys of which one would be a file and a folder at once (`a` and `a/b`): the first such pair
 * of `rels` (paths below the channel folder), or undefined. Neither can be written beside the other.
 */
export function fileFolderClash(rels: readonly string[]): readonly [file: string, inside: string] | undefined {
  const files = new Set(rels);
  for (const rel of rels) {
    for (let i = rel.indexOf('/'); i !== -1; i = rel.indexOf('/', i + 1)) {
      const folder = rel.slice(0, i);
      if (files.has(folder)) return [folder, rel];
    }
  }
  return undefined;
}
