/**
 * A job's artifacts, packed and uploaded as SageMaker does it:
 *
 *   model/        → <S3OutputPath>/<job>/output/model.tar.gz   (or, with CompressionType NONE,
 *                   each file under <S3OutputPath>/<job>/output/model/)
 *   output/data/  → <S3OutputPath>/<job>/output/output.tar.gz
 *
 * With several hosts, their trees are merged into one archive; where two hosts wrote the same
 * name, the later host (algo-2 over algo-1) wins, as SageMaker documents. Archives are streamed
 * (tar → gzip → multipart upload): nothing is held whole in memory or on disk. Entry names are
 * relative ("model.json", "sub/x"), with portable (uid/gid-free) headers.
 *
 * The other way round, for hosting: `unpackModelArchive` extracts a `model.tar.gz` into a
 * folder (`/opt/ml/model` of an instance). It refuses, with PM_ERR_UNSAFE_KEY and nothing left
 * behind, any entry that would land outside the folder (`..`, absolute names), links whose
 * target leaves it, and devices or FIFOs; files are written with the archive's permission bits
 * minus group/other write, owned by whoever runs pipemode.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import zlib from 'node:zlib';
import { appendToKey, asFolder, formatSourceUri, type SourceUri } from '../storage/source-uri.js';
import type { Stores } from '../storage/stores.js';
import { staysBelowFolder } from '../channel/key-path.js';
import { UnsafeKeyError } from '../core/errors.js';

export interface Artifacts {
  readonly modelUri: string;
  readonly outputUri: string;
}

/** `<S3OutputPath>/<job>/output/` as a source URI (no double slash whatever the path ends with). */
export function outputPrefix(outputPath: SourceUri, jobName: string): SourceUri {
  return appendToKey(asFolder(outputPath), `${jobName}/output/`);
}

/** Files below `dir`, relative, sorted; [] if it does not exist. */
function filesBelow(dir: string): string[] {
  if (!fs.existsSync(dir)) return [];
  return (fs.readdirSync(dir, { recursive: true, withFileTypes: false }) as string[])
    .filter((rel) => fs.lstatSync(path.join(dir, rel)).isFile())
    .sort();
}

/**
 * One directory holding the union of `dirs` (later ones win), made of hard links (copies across
 * file systems) in a temp dir; a single directory is returned as it is.
 */
function merged(dirs: readonly string[]): { dir: string; cleanup: () => void } {
  if (dirs.length === 1) return { dir: dirs[0] as string, cleanup: () => {} };
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'pipemode-merge-'));
  for (const dir of dirs) {
    for (const rel of filesBelow(dir)) {
      const target = path.join(tmp, rel);
      fs.mkdirSync(path.dirname(target), { recursive: true });
      fs.rmSync(target, { force: true });
      try {
        fs.linkSync(path.join(dir, rel), target);
      } catch {
        fs.copyFileSync(path.join(dir, rel), target);
      }
    }
  }
  return { dir: tmp, cleanup: () => fs.rmSync(tmp, { recursive: true, force: true }) };
}

/** A gzipped tar of everything in `dir` (an empty archive if there is nothing). */
async function tarGz(dir: string): Promise<Readable> {
  const entries = fs.existsSync(dir) ? fs.readdirSync(dir).sort() : [];
  // tar refuses an empty file list; an empty archive is just the two zero end-of-archive blocks
  if (entries.length === 0) return Readable.from([zlib.gzipSync(Buffer.alloc(1024))]);
  const tar = await import('tar'); // loaded when a job ends, not on the way to its first byte
  return Readable.from(tar.c({ gzip: true, portable: true, cwd: dir }, entries) as AsyncIterable<Buffer>);
}

export interface UploadOutputsOptions {
  readonly jobName: string;
  /** A folder below `<job>/output/` (hosts of a distributed job other than algo-1 upload apart). */
  readonly subfolder?: string;
  readonly outputPath: SourceUri;
  readonly compressModel: boolean;
  /** Each host's model/ and output/data/ directories, in host order. */
  readonly modelDirs: readonly string[];
  readonly outputDataDirs: readonly string[];
  readonly stores: Stores;
  readonly signal?: AbortSignal;
}

export async function uploadOutputs(options: UploadOutputsOptions): Promise<Artifacts> {
  const base = outputPrefix(options.outputPath, options.jobName);
  const prefix = options.subfolder === undefined ? base : appendToKey(base, `${options.subfolder}/`);
  const writer = await options.stores.writerFor(prefix);
  const model = merged(options.modelDirs);
  const data = merged(options.outputDataDirs);
  try {
    let modelUri: string;
    if (options.compressModel) {
      const key = appendToKey(prefix, 'model.tar.gz').key;
      await writer.put(key, await tarGz(model.dir), options.signal);
      modelUri = writer.uriOf(key);
    } else {
      for (const rel of filesBelow(model.dir)) {
        await writer.put(appendToKey(prefix, `model/${rel}`).key, fs.createReadStream(path.join(model.dir, rel)), options.signal);
      }
      modelUri = formatSourceUri(appendToKey(prefix, 'model/'));
    }
    const outputKey = appendToKey(prefix, 'output.tar.gz').key;
    await writer.put(outputKey, await tarGz(data.dir), options.signal);
    return { modelUri, outputUri: writer.uriOf(outputKey) };
  } finally {
    model.cleanup();
    data.cleanup();
  }
}

const ENTRY_TYPES = new Set(['File', 'OldFile', 'ContiguousFile', 'Directory', 'SymbolicLink', 'Link']);

/** Why an archive entry may not be unpacked below its folder, or undefined if it may. */
export function unsafeArchiveEntry(entry: { readonly path: string; readonly type: string; readonly linkpath?: string }): string | undefined {
  const name = entry.path.replace(/^\.\//, '').replace(/\/$/, '');
  if (entry.type === 'Directory' && (name === '' || name === '.')) return undefined;
  if (!ENTRY_TYPES.has(entry.type)) return `"${entry.path}" is a ${entry.type} entry (only files, folders and links inside the archive are unpacked)`;
  if (name.startsWith('/') || !staysBelowFolder(name)) return `"${entry.path}" would land outside the model folder`;
  if (entry.type === 'SymbolicLink' || entry.type === 'Link') {
    const target = entry.linkpath ?? '';
    if (target.startsWith('/')) return `"${entry.path}" links to the absolute path "${target}"`;
    const resolved = entry.type === 'Link' ? target : path.posix.join(path.posix.dirname(name), target);
    const normal = path.posix.normalize(resolved);
    if (normal === '..' || normal.startsWith('../') || normal === '' ) return `"${entry.path}" links to "${target}", outside the model folder`;
  }
  return undefined;
}

/**
 * Extracts a gzipped (or plain) tar stream into `dir` (created if missing). An unsafe entry fails
 * the whole archive: `dir` is emptied again and UnsafeKeyError names the archive and the entry.
 */
export async function unpackModelArchive(archive: NodeJS.ReadableStream, dir: string, what: string): Promise<{ files: number }> {
  const tar = await import('tar');
  fs.mkdirSync(dir, { recursive: true, mode: 0o755 });
  let refused: string | undefined;
  let files = 0;
  const extract = tar.x({
    cwd: dir,
    strict: true,
    preserveOwner: false,
    noChmod: false,
    umask: 0o022,
    filter: (_p, entry) => {
      const e = entry as unknown as { path: string; type: string; linkpath?: string };
      refused ??= unsafeArchiveEntry(e);
      if (refused === undefined && e.type !== 'Directory') files++;
      return refused === undefined;
    },
  });
  const { pipeline } = await import('node:stream/promises');
  try {
    await pipeline(archive, extract as unknown as NodeJS.WritableStream);
  } catch (err) {
    if (refused === undefined) throw err;
  }
  if (refused !== undefined) {
    for (const name of fs.readdirSync(dir)) fs.rmSync(path.join(dir, name), { recursive: true, force: true });
    throw new UnsafeKeyError(`refusing to unpack ${what}: ${refused}`, { uri: what });
  }
  return { files };
}
