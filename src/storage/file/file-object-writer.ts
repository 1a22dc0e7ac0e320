/**
 * ObjectWriter for the local file system ("/" bucket): writes to `<path>.tmp-<pid>` and renames,
 * so a reader never sees half an object. Directories are created (mode 0700) as needed.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { ObjectWriter } from '../object-writer.js';

export class FileObjectWriter implements ObjectWriter {
  uriOf(key: string): string {
    return `file:///${key}`;
  }

  async put(key: string, body: Readable, signal?: AbortSignal): Promise<void> {
    const file = path.join('/', key);
    await fs.promises.mkdir(path.dirname(file), { recursive: true, mode: 0o700 });
    const tmp = `${file}.tmp-${process.pid}`;
    try {
      await pipeline(body, fs.createWriteStream(tmp, { mode: 0o600 }), signal !== undefined ? { signal } : {});
      await fs.promises.rename(tmp, file);
    } catch (err) {
      await fs.promises.rm(tmp, { force: true });
      throw err;
    }
  }

  async remove(key: string): Promise<void> {
    await fs.promises.rm(path.join('/', key), { force: true });
  }
}
