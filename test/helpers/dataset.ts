/**
 * A test dataset stored twice — in a local folder and in an S3 bucket — with awkward keys
 * (spaces, unicode, + = & %, deep nesting, upper/lower case order, an empty object, an object
 * spanning several parts), gzipped copies, a ManifestFile and an AugmentedManifestFile for each
 * store, and an independent model of the bytes pipemode must stream for any combination.
 */
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import zlib from 'node:zlib';
import { planEpoch } from '../../src/plan/epoch-plan.js';
import { compareKeys } from '../../src/storage/object-store.js';
import { frame } from './recordio.js';
import { newBucket, put, putAll } from './s3.js';

export const NAMES = [
  'plain a.bin',
  'ünïcödé/ファイル.bin',
  'a+b=c&d%20e.bin',
  'deep/1/2/3/4/5/6/7/8/9/leaf.bin',
  'zero.bin',
  'big.bin',
  'Z-upper.bin',
  'z-lower.bin',
  '~tilde.bin',
  'multi.bin',
];

/** Content of each object, by name. `big.bin` spans several 1 MiB parts. */
export function makeContents(): Map<string, Buffer> {
  const m = new Map<string, Buffer>();
  for (const [i, name] of NAMES.entries()) {
    const size = name === 'zero.bin' ? 0 : name === 'big.bin' ? 3.5 * 2 ** 20 + 3 : 1000 + i * 4099;
    m.set(name, randomBytes(size));
  }
  return m;
}

/** Gzip form of an object: multi.bin as two gzip members, an empty object as an empty file. */
export function gzipOf(name: string, body: Buffer): Buffer {
  if (body.length === 0) return body;
  if (name === 'multi.bin') {
    const cut = Math.floor(body.length / 3);
    return Buffer.concat([zlib.gzipSync(body.subarray(0, cut)), zlib.gzipSync(body.subarray(cut))]);
  }
  return zlib.gzipSync(body);
}

export interface StoredDataset {
  /** "s3" or "local". */
  readonly kind: string;
  /** URI prefix of the raw objects, e.g. s3://bucket/raw/ or /tmp/x/raw/ (ends with /). */
  readonly raw: string;
  readonly gz: string;
  /** URIs of the manifests (raw and gz variants). */
  readonly manifest: { readonly raw: string; readonly gz: string };
  readonly augmented: { readonly raw: string; readonly gz: string };
}

/** Manifest entries, deliberately not in listing order. */
export const MANIFEST_ORDER = [...NAMES].reverse();
export const ATTRIBUTES = ['source-ref', 'label'];

function manifestBody(prefix: string): string {
  return JSON.stringify([{ prefix }, ...MANIFEST_ORDER]);
}

function augmentedBody(prefix: string): string {
  return NAMES.map((name, i) => JSON.stringify({ label: i % 2 === 0 ? i : `class ${i}`, 'source-ref': prefix + name, ignored: [1, 2] })).join('\n') + '\n';
}

/** Writes the dataset to a fresh temp folder. */
export function writeLocal(contents: ReadonlyMap<string, Buffer>): StoredDataset {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'pipemode-ds-'));
  for (const [name, body] of contents) {
    for (const [dir, data] of [['raw', body], ['gz', gzipOf(name, body)]] as const) {
      const file = path.join(root, dir, name);
      fs.mkdirSync(path.dirname(file), { recursive: true });
      fs.writeFileSync(file, data);
    }
  }
  // a sibling that shares the textual prefix "raw" but not the folder: must never be streamed
  fs.writeFileSync(path.join(root, 'raw-sibling.bin'), 'not part of raw/');
  return describe('local', `${root}/`, (rel, body) => fs.writeFileSync(path.join(root, rel), body));
}

/** Uploads the dataset to a fresh bucket. */
export async function writeS3(contents: ReadonlyMap<string, Buffer>): Promise<StoredDataset> {
  const bucket = await newBucket('pm-ds');
  const objects = new Map<string, Buffer>();
  for (const [name, body] of contents) {
    objects.set(`raw/${name}`, body);
    objects.set(`gz/${name}`, gzipOf(name, body));
  }
  objects.set('raw/sub/', Buffer.alloc(0)); // a folder marker: skipped
  objects.set('raw-sibling.bin', Buffer.from('not part of raw/'));
  await putAll(bucket, objects);
  const later: Promise<void>[] = [];
  const ds = describe('s3', `s3://${bucket}/`, (rel, body) => later.push(put(bucket, rel, body)));
  await Promise.all(later);
  return ds;
}

function describe(kind: string, base: string, write: (rel: string, body: string) => void): StoredDataset {
  write('manifest-raw.json', manifestBody(`${base}raw/`));
  write('manifest-gz.json', manifestBody(`${base}gz/`));
  write('augmented-raw.jsonl', augmentedBody(`${base}raw/`));
  write('augmented-gz.jsonl', augmentedBody(`${base}gz/`));
  return {
    kind,
    raw: `${base}raw/`,
    gz: `${base}gz/`,
    manifest: { raw: `${base}manifest-raw.json`, gz: `${base}manifest-gz.json` },
    augmented: { raw: `${base}augmented-raw.jsonl`, gz: `${base}augmented-gz.jsonl` },
  };
}

export type DataType = 'S3Prefix' | 'ManifestFile' | 'AugmentedManifestFile';

export interface Combination {
  readonly dataType: DataType;
  readonly gzip: boolean;
  readonly recordio: boolean;
  readonly seed: bigint | undefined;
  readonly epoch: number;
  readonly hostRank: number;
  readonly hostCount: number;
}

/** The bytes pipemode must stream for `c`, computed from first principles. */
export function expectedStream(contents: ReadonlyMap<string, Buffer>, c: Combination): Buffer {
  const body = (name: string): Buffer => contents.get(name) as Buffer;
  let items: Buffer[][];
  if (c.dataType === 'S3Prefix') {
    const sorted = [...NAMES].sort(compareKeys);
    items = sorted.map((n) => [body(n)]);
  } else if (c.dataType === 'ManifestFile') {
    items = MANIFEST_ORDER.map((n) => [body(n)]);
  } else {
    items = NAMES.map((n, i) => [body(n), Buffer.from(i % 2 === 0 ? String(i) : `class ${i}`)]);
  }
  const units = planEpoch(items, {
    seed: c.seed, epoch: c.epoch, hostRank: c.hostRank, hostCount: c.hostCount,
    distribution: c.hostCount > 1 ? 'ShardedByS3Key' : 'FullyReplicated',
  }).flat();
  return Buffer.concat(c.recordio ? units.map(frame) : units);
}

/** pipemode cat arguments for `c` against `ds`. */
export function catArgs(ds: StoredDataset, c: Combination): string[] {
  const variant = c.gzip ? 'gz' : 'raw';
  const source = c.dataType === 'S3Prefix' ? ds[variant] : c.dataType === 'ManifestFile' ? ds.manifest[variant] : ds.augmented[variant];
  const args = ['cat', source, '--s3-data-type', c.dataType, '--epoch', String(c.epoch), '--part-size', '1MiB', '--memory-budget', '4MiB'];
  if (c.dataType === 'AugmentedManifestFile') args.push('--attribute-names', ATTRIBUTES.join(','));
  if (c.gzip) args.push('--compression', 'Gzip');
  if (c.recordio) args.push('--record-wrapper', 'RecordIO');
  if (c.seed !== undefined) args.push('--shuffle-seed', String(c.seed));
  if (c.hostCount > 1) args.push('--distribution', 'ShardedByS3Key', '--host-rank', String(c.hostRank), '--host-count', String(c.hostCount));
  return args;
}
