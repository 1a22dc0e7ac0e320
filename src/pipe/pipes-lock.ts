/**
 * One writer per FIFO folder: two pipemode processes serving the same folder would both open
 * `<ch>_N` and interleave their bytes in it. So whoever serves Pipe-mode FIFOs holds an exclusive
 * flock(2) on the folder itself (a directory fd: no lock file, no name a channel could clash with).
 * The kernel drops the lock when the holder closes it or dies, SIGKILL included, so a stale lock
 * cannot exist. A second server is refused with PipesLockedError naming the holder's pid, read
 * from /proc/locks.
 */
import fs from 'node:fs';
import { FifoError, PipesLockedError } from '../core/errors.js';
import { tryLockExclusive } from '../core/libc.js';

export interface PipesLock {
  release(): void;
}

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
    // no /proc/locks: the message goes without the pid
  }
  return undefined;
}

/** Takes the folder's lock (the folder must exist) or throws PipesLockedError. */
export function lockPipesDir(dir: string): PipesLock {
  let fd: number;
  try {
    fd = fs.openSync(dir, fs.constants.O_RDONLY | fs.constants.O_DIRECTORY);
  } catch (err) {
    throw new FifoError(`cannot open the FIFO folder ${dir}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`, { path: dir }, { cause: err });
  }
  let locked: boolean;
  try {
    locked = tryLockExclusive(fd);
  } catch (err) {
    fs.closeSync(fd);
    throw new FifoError(`cannot lock the FIFO folder ${dir}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`, { path: dir }, { cause: err });
  }
  if (!locked) {
    const pid = lockHolder(fs.fstatSync(fd));
    fs.closeSync(fd);
    const who = pid === undefined ? 'another process' : `another pipemode (pid ${pid})`;
    throw new PipesLockedError(`${who} already serves Pipe-mode FIFOs in ${dir}; stop it first or use another --dir`, { path: dir, ...(pid !== undefined ? { pid } : {}) });
  }
  let open = true;
  return {
    release: () => {
      if (open) fs.closeSync(fd);
      open = false;
    },
  };
}
