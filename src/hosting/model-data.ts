/**
 * A model's data, fetched once and laid out as a hosting container's `/opt/ml/model`.
 *
 * Sources, as CreateModel names them (`ContainerDefinition`):
 * - `ModelDataUrl`: one `model.tar.gz` (gzipped or plain tar) in any store (`s3://`, `file://`, a
 *   local path). A local *folder* is accepted too (pipemode extension) and copied as it is.
 * - `ModelDataSource.S3DataSource`: `S3DataType` S3Object or S3Prefix, `CompressionType` Gzip (one
 *   archive, unpacked) or None (the object, or every object below the prefix, copied uncompressed
 *   with its key relative to the prefix).
 *
 * Archives go through `unpackModelArchive` (entries or links leaving the folder, devices: refused,
 * nothing left behind). Keys of an uncompressed prefix are checked the same way. The bytes are
 * streamed from the store (with retries) into the folder, never held whole in memory. Once the folder is
 * complete its files lose their write bits (the hosting container reads, never writes, its model;
 * as root, model-instance.ts also mounts it read-only for the container). `prepareModelData` works
 * in `<dir>.partial` and renames it into place, so a folder that exists is complete: a second
 * call (another instance, another run) reuses it.
 */
import fs from 'node:fs';
import path from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { unpackModelArchive } from '../container/artifacts.js';
import { staysBelowFolder } from '../channel/key-path.js';
import { ConfigError, UnsafeKeyError } from '../core/errors.js';
import type { ObjectInfo, ObjectStore } from '../storage/object-store.js';
import { readRangeWithRetry, withRetry, DEFAULT_RETRY_POLICY, type RetryPolicy } from '../storage/retry.js';
import { asFolder, formatSourceUri, parseSourceUri, type SourceUri } from '../storage/source-uri.js';
import type { Stores } from '../storage/stores.js';

/** Where a model's data comes from, resolved from a ContainerDefinition. */
export type ModelDataSource =
  | { readonly kind: 'archive'; readonly uri: SourceUri }
  | { readonly kind: 'object'; readonly uri: SourceUri }
  | { readonly kind: 'prefix'; readonly uri: SourceUri };

/** The ContainerDefinition fields that say where model data lives. */
export interface ModelDataFields {
  readonly ModelDataUrl?: string | undefined;
  readonly ModelDataSource?: {
    readonly S3DataSource?: { readonly S3Uri: string; readonly S3DataType: string; readonly CompressionType: string } | undefined;
  } | undefined;
}

/** The model data source a container definition names, or undefined when it names none. */
export function modelDataSource(fields: ModelDataFields, field = 'PrimaryContainer'): ModelDataSource | undefined {
  const s3 = fields.ModelDataSource?.S3DataSource;
  if (fields.ModelDataUrl !== undefined && s3 !== undefined) {
    throw new ConfigError(`${field}: ModelDataUrl and ModelDataSource are mutually exclusive`, { field });
  }
  if (fields.ModelDataUrl !== undefined) return { kind: 'archive', uri: parseSourceUri(fields.ModelDataUrl) };
  if (s3 === undefined) return undefined;
  const uri = parseSourceUri(s3.S3Uri);
  if (s3.CompressionType === 'Gzip') {
    if (s3.S3DataType !== 'S3Object') {
      throw new ConfigError(`${field}.ModelDataSource.S3DataSource: CompressionType Gzip needs S3DataType S3Object (one archive)`, { field });
    }
    return { kind: 'archive', uri };
  }
  return s3.S3DataType === 'S3Prefix' ? { kind: 'prefix', uri: asFolder(uri) } : { kind: 'object', uri };
}

export interface PrepareModelDataOptions {
  readonly stores: Stores;
  readonly signal?: AbortSignal | undefined;
  readonly retry?: RetryPolicy | undefined;
}

function objectStream(store: ObjectStore, info: ObjectInfo, policy: RetryPolicy, signal?: AbortSignal): Readable {
  return Readable.from(info.size === 0 ? [] : readRangeWithRetry(store, info, 0, info.size, policy, signal), { objectMode: false });
}

async function copyObject(store: ObjectStore, info: ObjectInfo, target: string, policy: RetryPolicy, signal?: AbortSignal): Promise<void> {
  fs.mkdirSync(path.dirname(target), { recursive: true });
  await pipeline(objectStream(store, info, policy, signal), fs.createWriteStream(target, { mode: 0o644 }));
}

function copyFolder(from: string, to: string): void {
  fs.cpSync(from, to, { recursive: true, verbatimSymlinks: true, filter: (src) => {
    const st = fs.lstatSync(src);
    if (st.isSymbolicLink()) {
      const target = fs.readlinkSync(src);
      const rel = path.relative(from, path.resolve(path.dirname(src), target));
      if (path.isAbsolute(target) || !staysBelowFolder(rel)) {
        throw new UnsafeKeyError(`refusing to copy model folder ${from}: "${path.relative(from, src)}" links outside it`, { uri: from });
      }
    }
    return st.isFile() || st.isDirectory() || st.isSymbolicLink();
  } });
}

/** Removes write bits below `dir` (files and folders), so the container cannot change its model. */
function makeReadOnly(dir: string): void {
  for (const rel of fs.readdirSync(dir, { recursive: true }) as string[]) {
    const p = path.join(dir, rel);
    const st = fs.lstatSync(p);
    if (st.isFile()) fs.chmodSync(p, st.mode & 0o555);
  }
}

/** Gives write bits back to the owner below `dir`, so it can be removed. */
export function removeModelFolder(dir: string): void {
  if (!fs.existsSync(dir)) return;
  for (const rel of fs.readdirSync(dir, { recursive: true }) as string[]) {
    const p = path.join(dir, rel);
    const st = fs.lstatSync(p);
    if (!st.isSymbolicLink()) fs.chmodSync(p, st.mode | 0o200);
  }
  fs.rmSync(dir, { recursive: true, force: true });
}

/**
 * Fetches `source` into `dir` (created; an existing `dir` is taken as complete and reused).
 * Resolves with the number of files it holds.
 */
export async function prepareModelData(source: ModelDataSource, dir: string, options: PrepareModelDataOptions): Promise<{ files: number; reused: boolean }> {
  if (fs.existsSync(dir)) return { files: (fs.readdirSync(dir, { recursive: true }) as string[]).length, reused: true };
  const partial = `${dir}.partial`;
  removeModelFolder(partial);
  fs.mkdirSync(partial, { recursive: true, mode: 0o755 });
  const policy = options.retry ?? DEFAULT_RETRY_POLICY;
  const { signal } = options;
  const what = formatSourceUri(source.uri);
  let files = 0;
  try {
    const local = source.uri.kind === 'file' ? `/${source.uri.key}` : undefined;
    if (local !== undefined && source.kind !== 'object' && fs.existsSync(local) && fs.statSync(local).isDirectory()) {
      copyFolder(local, partial);
      files = (fs.readdirSync(partial, { recursive: true }) as string[]).length;
    } else {
      const store = options.stores.storeFor(source.uri);
      if (source.kind === 'prefix') {
        for await (const info of store.list(source.uri.key, signal)) {
          const rel = info.key.slice(source.uri.key.length);
          if (rel === '' || rel.endsWith('/')) continue; // folder markers
          if (!staysBelowFolder(rel)) throw new UnsafeKeyError(`refusing model data ${store.uriOf(info.key)}: its key would land outside the model folder`, { uri: store.uriOf(info.key) });
          await copyObject(store, info, path.join(partial, rel), policy, signal);
          files++;
        }
      } else {
        const info = await withRetry(() => store.head(source.uri.key, signal), policy, signal);
        if (source.kind === 'object') {
          await copyObject(store, info, path.join(partial, path.posix.basename(info.key)), policy, signal);
          files = 1;
        } else {
          files = (await unpackModelArchive(objectStream(store, info, policy, signal), partial, what)).files;
        }
      }
    }
    makeReadOnly(partial);
    fs.renameSync(partial, dir);
    return { files, reused: false };
  } catch (err) {
    removeModelFolder(partial);
    throw err;
  }
}
