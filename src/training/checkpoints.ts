/**
 * CheckpointConfig (docs/training.md): what is under the checkpoint S3Uri when the job
 * starts is copied into the local checkpoint directory; while training runs, files written there
 * are uploaded (uncompressed, same relative paths) and files deleted there are deleted remotely;
 * a last sync runs when the training process has exited, whatever its outcome.
 *
 * Sync is a scan every `intervalMs`: a file is uploaded once its size and mtime have stayed the
 * same for one interval (so half-written checkpoints are not shipped), or at the final sync in
 * any case. Hidden temporary files of our own downloads are ignored.
 */
import fs from 'node:fs';
import path from 'node:path';
import { appendToKey, asFolder, type SourceUri } from '../storage/source-uri.js';
import type { RetryPolicy } from '../storage/retry.js';
import { itemsFromPrefix } from '../manifest/from-prefix.js';
import type { Logger } from '../core/log.js';
import { EmptySourceError, UnsafeKeyError } from '../core/errors.js';
import type { ObjectWriter } from '../storage/object-writer.js';
import type { Stores } from '../storage/stores.js';
import { readRangeWithRetry, withRetry } from '../storage/retry.js';
import { pipeline } from 'node:stream/promises';
import { Readable } from 'node:stream';
import { staysBelowFolder } from '../channel/key-path.js';

function scan(dir: string): Map<string, string> {
  const out = new Map<string, string>();
  if (!fs.existsSync(dir)) return out;
  for (const rel of fs.readdirSync(dir, { recursive: true }) as string[]) {
    if (rel.endsWith('.pipemode-tmp')) continue;
    const st = fs.lstatSync(path.join(dir, rel), { throwIfNoEntry: false });
    if (st?.isFile() === true) out.set(rel, `${st.size}:${st.mtimeMs}`);
  }
  return out;
}

/** Copies existing checkpoints in; returns how many files. */
export async function restoreCheckpoints(uri: SourceUri, dir: string, stores: Stores, retry: RetryPolicy, signal?: AbortSignal): Promise<number> {
  const prefix = asFolder(uri);
  const store = stores.storeFor(prefix);
  let items;
  try {
    items = await itemsFromPrefix(store, prefix.key, signal);
  } catch (err) {
    if (err instanceof EmptySourceError) return 0; // a first run has no checkpoints
    throw err;
  }
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  let n = 0;
  for (const [unit] of items) {
    if (unit?.kind !== 'object') continue;
    const rel = unit.key.slice(prefix.key.length);
    if (!staysBelowFolder(rel)) {
      throw new UnsafeKeyError(`refusing to restore checkpoint ${unit.store.uriOf(unit.key)}: "${rel}" would not land below ${dir}`, { uri: unit.store.uriOf(unit.key) });
    }
    const file = path.join(dir, rel);
    fs.mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
    const info = unit.info ?? await withRetry(() => unit.store.head(unit.key, signal), retry, signal);
    const body = info.size === 0 ? Readable.from([]) : Readable.from(readRangeWithRetry(unit.store, info, 0, info.size, retry, signal));
    await pipeline(body, fs.createWriteStream(file, { mode: 0o600 }));
    n++;
  }
  return n;
}

/** Keeps a checkpoint directory mirrored to its S3Uri while training runs. */
export class CheckpointSync {
  readonly #dir: string;
  readonly #prefix: SourceUri;
  readonly #writer: ObjectWriter;
  readonly #log: Logger;
  /** What the remote side has: relative path → size:mtime. */
  readonly #synced: Map<string, string>;
  #previous: Map<string, string>;
  #timer: NodeJS.Timeout | undefined;
  #running: Promise<void> = Promise.resolve();
  uploads = 0;
  deletions = 0;

  private constructor(dir: string, prefix: SourceUri, writer: ObjectWriter, log: Logger) {
    this.#dir = dir;
    this.#prefix = prefix;
    this.#writer = writer;
    this.#log = log;
    this.#synced = scan(dir); // restored files are already remote
    this.#previous = new Map(this.#synced);
  }

  static async start(uri: SourceUri, dir: string, stores: Stores, intervalMs: number, log: Logger): Promise<CheckpointSync> {
    const prefix = asFolder(uri);
    const sync = new CheckpointSync(dir, prefix, await stores.writerFor(prefix), log);
    sync.#timer = setInterval(() => {
      sync.#running = sync.#running.then(() => sync.#pass(false)).catch((err: unknown) => log.warn(`checkpoint sync: ${(err as Error).message}`));
    }, intervalMs);
    sync.#timer.unref();
    return sync;
  }

  async #pass(final: boolean): Promise<void> {
    const now = scan(this.#dir);
    for (const [rel, version] of now) {
      const stable = final || this.#previous.get(rel) === version;
      if (stable && this.#synced.get(rel) !== version) {
        await this.#writer.put(appendToKey(this.#prefix, rel).key, fs.createReadStream(path.join(this.#dir, rel)));
        this.#synced.set(rel, version);
        this.uploads++;
      }
    }
    for (const rel of [...this.#synced.keys()]) {
      if (!now.has(rel)) {
        await this.#writer.remove(appendToKey(this.#prefix, rel).key);
        this.#synced.delete(rel);
        this.deletions++;
      }
    }
    this.#previous = now;
  }

  /** Stops the timer and runs the final sync. */
  async finish(): Promise<void> {
    clearInterval(this.#timer);
    await this.#running.catch(() => {});
    await this.#pass(true);
    this.#log.debug(`checkpoints: ${this.uploads} uploads, ${this.deletions} deletions`);
  }
}
