/**
 * ManifestFile and AugmentedManifestFile sources (SageMaker S3DataSource semantics).
 *
 * ManifestFile: a JSON array whose head is {"prefix": URI}; every other entry is a string
 * appended to that prefix (plain concatenation) to name one object. Order = array order.
 *
 * AugmentedManifestFile: JSON Lines; for each line, for each of AttributeNames in order, one
 * unit: an attribute ending in "-ref" names an object (s3:// or file:// URI, or an absolute
 * path in a local manifest) whose bytes are streamed; any other attribute streams its string
 * form (strings as-is, other JSON values as compact JSON text). Every problem names its line.
 *
 * Where a manifest may point: a manifest read from S3 names objects in S3 only (an s3:// prefix or
 * reference; a `file://`, absolute or relative path there would read this machine's files); a
 * local manifest may name local files and S3 objects. For every store alike, a key with a `.` or
 * `..` segment is refused (on a file system it would name a path outside the prefix).
 */
import { EmptySourceError, ManifestError } from '../core/errors.js';
import { hasDotSegment } from '../channel/key-path.js';
import { appendToKey, parseSourceUri, type SourceUri } from '../storage/source-uri.js';
import type { Stores } from '../storage/stores.js';
import type { Item, Unit } from './unit.js';
import { jsonErrorLocation } from '../core/json-position.js';

function parseJson(text: string, uri: string, line?: number): unknown {
  try {
    return JSON.parse(text);
  } catch (err) {
    const at = jsonErrorLocation(text);
    const lineNo = line ?? at?.line;
    const where = lineNo === undefined ? '' : ` at line ${lineNo}${at ? `, column ${at.column}` : ''}`;
    throw new ManifestError(`${uri}: invalid JSON${where}: ${at?.problem ?? (err as Error).message}`, {
      uri, line: lineNo, column: at?.column,
    }, { cause: err });
  }
}

/** Parses a ManifestFile body into one item per entry; `local`: the manifest is a local file. */
export function itemsFromManifest(text: string, manifestUri: string, stores: Stores, local: boolean): Item[] {
  const doc = parseJson(text, manifestUri);
  if (!Array.isArray(doc) || doc.length === 0) {
    throw new ManifestError(`${manifestUri}: a manifest must be a JSON array starting with {"prefix": "s3://bucket/prefix/"}`, { uri: manifestUri });
  }
  const [head, ...entries] = doc as unknown[];
  const prefixText = typeof head === 'object' && head !== null ? (head as { prefix?: unknown }).prefix : undefined;
  if (typeof prefixText !== 'string' || prefixText === '') {
    throw new ManifestError(`${manifestUri}: the first array element must be {"prefix": "s3://bucket/prefix/"}`, { uri: manifestUri, entry: 0 });
  }
  if (!local && !prefixText.startsWith('s3://')) {
    throw new ManifestError(`${manifestUri}: the prefix ${JSON.stringify(prefixText)} is not an s3:// URI: a manifest in S3 may name objects in S3 only, never local files`, { uri: manifestUri, entry: 0 });
  }
  let prefix: SourceUri;
  try {
    prefix = parseSourceUri(prefixText);
  } catch (err) {
    throw new ManifestError(`${manifestUri}: invalid prefix: ${(err as Error).message}`, { uri: manifestUri, entry: 0 }, { cause: err });
  }
  const store = stores.storeFor(prefix);
  const items = entries.map((entry, i): Item => {
    if (typeof entry !== 'string') {
      throw new ManifestError(`${manifestUri}: entry ${i + 1} must be a string (a path relative to the prefix)`, { uri: manifestUri, entry: i + 1 });
    }
    const key = appendToKey(prefix, entry).key;
    if (hasDotSegment(key)) {
      throw new ManifestError(`${manifestUri}: entry ${i + 1} ${JSON.stringify(entry)} makes the key "${key}", which has a "." or ".." segment (it could name a file outside the prefix): refused`, {
        uri: manifestUri, entry: i + 1,
      });
    }
    return [{ kind: 'object', store, key, info: undefined }];
  });
  if (items.length === 0) throw new EmptySourceError(`${manifestUri}: the manifest lists no objects`, { uri: manifestUri });
  return items;
}

/** The bytes an augmented-manifest attribute value streams as. */
export function attributeText(value: unknown): string {
  return typeof value === 'string' ? value : JSON.stringify(value);
}

/** Parses an AugmentedManifestFile body into one item per (non-blank) line. */
export function itemsFromAugmentedManifest(
  text: string, manifestUri: string, attributeNames: readonly string[], stores: Stores, local: boolean,
): Item[] {
  const items: Item[] = [];
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const raw = lines[i] ?? '';
    if (raw.trim() === '') continue;
    const lineNo = i + 1;
    const record = parseJson(raw, manifestUri, lineNo);
    if (typeof record !== 'object' || record === null || Array.isArray(record)) {
      throw new ManifestError(`${manifestUri}: line ${lineNo} must be a JSON object`, { uri: manifestUri, line: lineNo });
    }
    const units = attributeNames.map((name): Unit => {
      if (!Object.hasOwn(record, name)) {
        throw new ManifestError(`${manifestUri}: line ${lineNo} has no attribute "${name}"`, { uri: manifestUri, line: lineNo, attribute: name });
      }
      const value = (record as Record<string, unknown>)[name];
      if (!name.endsWith('-ref')) {
        return { kind: 'inline', bytes: Buffer.from(attributeText(value), 'utf8'), origin: `${manifestUri} line ${lineNo} attribute ${name}` };
      }
      const ok = typeof value === 'string' && (value.startsWith('s3://') || value.startsWith('file://') || (local && value.startsWith('/')));
      if (!ok) {
        throw new ManifestError(`${manifestUri}: line ${lineNo} attribute "${name}" must be an s3:// URI${local ? ' or an absolute path' : ''}, got ${JSON.stringify(value)}`, {
          uri: manifestUri, line: lineNo, attribute: name,
        });
      }
      let ref: SourceUri;
      try {
        ref = parseSourceUri(value);
      } catch (err) {
        throw new ManifestError(`${manifestUri}: line ${lineNo} attribute "${name}": ${(err as Error).message}`, {
          uri: manifestUri, line: lineNo, attribute: name,
        }, { cause: err });
      }
      if (!local && ref.kind !== 's3') {
        throw new ManifestError(`${manifestUri}: line ${lineNo} attribute "${name}" names a local file (${JSON.stringify(value)}): a manifest in S3 may name objects in S3 only`, {
          uri: manifestUri, line: lineNo, attribute: name,
        });
      }
      if (hasDotSegment(value)) {
        throw new ManifestError(`${manifestUri}: line ${lineNo} attribute "${name}" ${JSON.stringify(value)} has a "." or ".." segment: refused`, {
          uri: manifestUri, line: lineNo, attribute: name,
        });
      }
      return { kind: 'object', store: stores.storeFor(ref), key: ref.key, info: undefined };
    });
    items.push(units);
  }
  if (items.length === 0) throw new EmptySourceError(`${manifestUri}: the augmented manifest has no lines`, { uri: manifestUri });
  return items;
}
