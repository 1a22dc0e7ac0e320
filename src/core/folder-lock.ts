/**
 * One owner per folder: an exclusive flock(2) on the folder itself (a directory fd, so no lock file
 * and no name a user's file could clash with). The kernel drops the lock when the holder closes the
 * fd or dies, SIGKILL included, so a stale lock cannot exist and nothing needs cleaning up. Used by
 * whoever serves Pipe-mode FIFOs in a folder and by the API server for its state folder.
 */
import fs from 'node:fs';
import { tryLockExclusive } from './libc.js';

export interface FolderLock {
  release(): void;
}

/** What lockFolder found: the lock, or the pid of the process holding it (undefined when unknown). */
export type FolderLockResult = { lock: FolderLock } | { holder: number | undefined };

/** The pid holding a flock on the file `st` describes, from /proc/locks; undefined when unknown. */
function lockHolder(st: fs.Stats): number | undefined {
  const major = ((st.dev >> 8) & 0xfff) | (Math.floor(st.dev / 2 ** 32) & ~0xfff);
  const minor = (st.dev & 0xff) | ((st.dev >> 12) & ~0xff);
  const id = `${major.toString(16).padStart(2, '0')}:${minor.toString(16).padStart(2, '0')}:${st.ino}`;
  try {
    for (const line of fs.readFileSync('/proc/locks', 'utf8').split('\n')) {
      const cols = line.trim().split(/\s+/);
      if (cols[1] === 'FLOCK' && cols[5] === id) return Number(cols[4]);
    }
  } catch {
    // no /proc/locks: the caller's message goes without the pid
  }
  return undefined;
}

/**
 * Takes the exclusive lock on an existing folder without waiting. Throws the system error when the
 * folder cannot be opened or locked for a reason other than another holder.
 */
export function lockFolder(dir: string): FolderLockResult {
  const fd = fs.openSync(dir, fs.constants.O_RDONLY | fs.constants.O_DIRECTORY);
  let locked: boolean;
  try {
    locked = tryLockExclusive(fd);
  } catch (err) {
    fs.closeSync(fd);
    throw err;
  }
  if (!locked) {
    const holder = lockHolder(fs.fstatSync(fd));
    fs.closeSync(fd);
    return { holder };
  }
  let open = true;
  return {
    lock: {
      release: () => {
        if (open) fs.closeSync(fd);
        open = false;
      },
    },
  };
}
