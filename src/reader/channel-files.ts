/**
 * A File-mode (or FastFile-mode) channel's files: every regular file below the channel folder,
 * in ascending UTF-8 byte order of its path relative to that folder — the order S3 lists the
 * keys they were downloaded from, and the order pipemode streams the same objects in Pipe mode.
 * Symlinks are followed, each real directory once (so a cycle ends).
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { NoSuchKeyError } from '../core/errors.js';
import { compareKeys } from '../storage/object-store.js';

export interface ChannelFile {
  /** Path relative to the channel folder, "/"-separated. */
  readonly relative: string;
  readonly path: string;
  readonly size: number;
}

export async function channelFiles(dir: string): Promise<ChannelFile[]> {
  const files: ChannelFile[] = [];
  const seen = new Set<string>();
  async function walk(folder: string, prefix: string): Promise<void> {
    const real = await fs.realpath(folder);
    if (seen.has(real)) return;
    seen.add(real);
    for (const name of await fs.readdir(folder)) {
      const full = path.join(folder, name);
      let st;
      try {
        st = await fs.stat(full);
      } catch {
        continue; // a dangling symlink, or a file removed meanwhile
      }
      if (st.isDirectory()) await walk(full, `${prefix}${name}/`);
      else if (st.isFile()) files.push({ relative: `${prefix}${name}`, path: full, size: st.size });
    }
  }
  try {
    if (!(await fs.stat(dir)).isDirectory()) throw new NoSuchKeyError(`${dir} is not a directory: a File-mode channel is a folder of files`, { path: dir });
  } catch (err) {
    if (err instanceof NoSuchKeyError) throw err;
    throw new NoSuchKeyError(`no channel folder ${dir}: ${(err as Error).message}`, { path: dir }, { cause: err });
  }
  await walk(dir, '');
  return files.sort((a, b) => compareKeys(a.relative, b.relative));
}
