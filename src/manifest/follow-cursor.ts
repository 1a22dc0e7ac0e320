/**
 * The cursor of followed channels: which objects have been streamed, kept in a local file so that
 * a restarted stream neither repeats nor skips an object.
 *
 * An object counts as streamed once its last byte has been written (taken by the kernel for a
 * FIFO). The file is a journal: a header line, then one JSON line `[channel, key, etag]` per
 * streamed object, appended with one write(2) at each object boundary, so the file is valid after
 * every append; a crash can at worst leave a torn last line, which is ignored on load (that
 * object is sent again — it was the one being written). Opening a cursor rewrites the journal
 * compactly (a temporary file renamed over it: atomic).
 */
import fs from 'node:fs';
import path from 'node:path';
import { ConfigError } from '../core/errors.js';

const HEADER = { pipemode: 'follow-cursor', version: 1 };

export class FollowCursor {
  readonly file: string;
  readonly #streamed = new Map<string, Map<string, string>>();
  #fd: number | undefined;

  private constructor(file: string) {
    this.file = file;
  }

  /** Opens (or creates) the cursor file. */
  static open(file: string): FollowCursor {
    const cursor = new FollowCursor(path.resolve(file));
    let text: string | undefined;
    try {
      text = fs.readFileSync(cursor.file, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') {
        throw new ConfigError(`cannot read the follow cursor ${file}: ${(err as Error).message}`, { field: '--state' }, { cause: err });
      }
    }
    if (text !== undefined && text !== '') cursor.#load(text, file);
    fs.mkdirSync(path.dirname(cursor.file), { recursive: true });
    const tmp = `${cursor.file}.${process.pid}.tmp`;
    const lines = [JSON.stringify(HEADER)];
    for (const [channel, keys] of cursor.#streamed) for (const [key, etag] of keys) lines.push(JSON.stringify([channel, key, etag]));
    fs.writeFileSync(tmp, `${lines.join('\n')}\n`, { mode: 0o600 });
    fs.renameSync(tmp, cursor.file);
    cursor.#fd = fs.openSync(cursor.file, 'a');
    return cursor;
  }

  #load(text: string, file: string): void {
    const lines = text.split('\n');
    // a last line without its newline was torn by a crash: that object was not fully recorded
    if (!text.endsWith('\n')) lines.pop();
    const [head, ...entries] = lines.filter((l) => l !== '');
    let ok: boolean;
    try {
      const h = JSON.parse(head ?? '') as { pipemode?: unknown; version?: unknown };
      ok = h.pipemode === HEADER.pipemode && h.version === HEADER.version;
    } catch {
      ok = false;
    }
    if (!ok) throw new ConfigError(`${file} is not a pipemode follow cursor (version ${HEADER.version})`, { field: '--state' });
    for (const [i, line] of entries.entries()) {
      let entry: unknown;
      try {
        entry = JSON.parse(line);
      } catch {
        entry = undefined;
      }
      if (!Array.isArray(entry) || entry.length !== 3 || !entry.every((x) => typeof x === 'string')) {
        throw new ConfigError(`${file}: line ${i + 2} is not a cursor entry ["channel", "key", "etag"]`, { field: '--state', line: i + 2 });
      }
      const [channel, key, etag] = entry as [string, string, string];
      this.#of(channel).set(key, etag);
    }
  }

  #of(channel: string): Map<string, string> {
    let keys = this.#streamed.get(channel);
    if (keys === undefined) this.#streamed.set(channel, (keys = new Map<string, string>()));
    return keys;
  }

  /** Whether `key` of `channel` has been streamed. */
  has(channel: string, key: string): boolean {
    return this.#streamed.get(channel)?.has(key) ?? false;
  }

  /** How many objects of `channel` have been streamed. */
  count(channel: string): number {
    return this.#streamed.get(channel)?.size ?? 0;
  }

  /** Records that `key` (version `etag`) of `channel` has been streamed: one append. */
  add(channel: string, key: string, etag: string | undefined): void {
    const keys = this.#of(channel);
    if (keys.has(key)) return;
    keys.set(key, etag ?? '');
    if (this.#fd !== undefined) fs.writeSync(this.#fd, `${JSON.stringify([channel, key, etag ?? ''])}\n`);
  }

  close(): void {
    if (this.#fd !== undefined) fs.closeSync(this.#fd);
    this.#fd = undefined;
  }
}
