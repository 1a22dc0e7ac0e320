/**
 * A transform job's input files and where each one's answers go. Listing reuses src/manifest/:
 * `S3Prefix` is every object under the prefix (folder markers skipped, ascending key order), and
 * `ManifestFile` the objects a manifest lists (`[{"prefix": URI}, "rel/key", …]`), never the
 * manifest itself.
 *
 * Output names (batch-transform guide: "<input name>.out" under S3OutputPath; the rule for nested
 * keys is not spelled out, so ours is that of File-mode channels): the key relative to the folder
 * part of the input prefix (for a manifest, of its `prefix`), then `.out`, below S3OutputPath taken
 * as a folder. `s3://b/in/` + `in/a/x.csv` → `<out>/a/x.csv.out`; `s3://b/in/data-` + `in/data-1`
 * → `<out>/data-1.out`. A relative name that would leave the output folder (`..`, empty segments)
 * is an UnsafeKeyError for that file.
 */
import { UnsafeKeyError } from '../core/errors.js';
import { staysBelowFolder } from '../channel/key-path.js';
import { itemsFromManifest } from '../manifest/from-manifest-file.js';
import { itemsFromPrefix } from '../manifest/from-prefix.js';
import type { ObjectInfo, ObjectStore } from '../storage/object-store.js';
import { readWholeObject } from '../storage/read-object.js';
import type { RetryPolicy } from '../storage/retry.js';
import { asFolder, formatSourceUri, parseSourceUri, type SourceUri } from '../storage/source-uri.js';
import type { Stores } from '../storage/stores.js';
import type { TransformJobSpec } from './transform-job-spec.js';

/** Manifests are read whole; beyond this size, something is wrong. */
const MAX_MANIFEST_BYTES = 256 * 1024 * 1024;

export interface TransformInputFile {
  readonly store: ObjectStore;
  readonly key: string;
  /** Size and version when the listing gave them; a HEAD finds them otherwise. */
  readonly info: ObjectInfo | undefined;
  /** The input's URI, for messages and the job record. */
  readonly uri: string;
  /** The name below S3OutputPath, `.out` included. */
  readonly outputName: string;
}

/** The folder part of a key prefix: `in/data-` → `in/`. */
function folderPart(prefix: string): string {
  return prefix.slice(0, prefix.lastIndexOf('/') + 1);
}

function inputFile(store: ObjectStore, key: string, info: ObjectInfo | undefined, base: string): TransformInputFile {
  const uri = store.uriOf(key);
  const rel = key.startsWith(base) ? key.slice(base.length) : key;
  if (!staysBelowFolder(rel)) {
    throw new UnsafeKeyError(`refusing to transform ${uri}: its output name "${rel}.out" would not stay below S3OutputPath`, { uri });
  }
  return Object.freeze({ store, key, info, uri, outputName: `${rel}.out` });
}

/** Lists a job's input files, in listing (or manifest) order. */
export async function listTransformInputs(spec: TransformJobSpec, stores: Stores, retry: RetryPolicy, signal?: AbortSignal): Promise<TransformInputFile[]> {
  const { source } = spec.input;
  const store = stores.storeFor(source);
  if (spec.input.dataType === 'S3Prefix') {
    const items = await itemsFromPrefix(store, source.key, signal);
    const base = folderPart(source.key);
    return items.map((item) => {
      const unit = item[0];
      if (unit?.kind !== 'object') throw new Error('a prefix listing yields objects');
      return inputFile(unit.store, unit.key, unit.info, base);
    });
  }
  const manifestUri = formatSourceUri(source);
  const text = (await readWholeObject(store, source.key, MAX_MANIFEST_BYTES, retry, signal)).toString('utf8');
  const items = itemsFromManifest(text, manifestUri, stores, source.kind === 'file');
  // itemsFromManifest has validated the head: {"prefix": URI}
  const head = (JSON.parse(text) as [{ prefix: string }])[0];
  const prefix: SourceUri = parseSourceUri(head.prefix);
  const base = folderPart(prefix.key);
  return items.map((item) => {
    const unit = item[0];
    if (unit?.kind !== 'object') throw new Error('a manifest entry is an object');
    return inputFile(unit.store, unit.key, unit.info, base);
  });
}

/** The key of `name` below the output path (taken as a folder). */
export function outputKey(outputPath: SourceUri, name: string): string {
  return asFolder(outputPath).key + name;
}
