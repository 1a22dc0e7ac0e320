/**
 * One writer per FIFO folder: two pipemode processes serving the same folder would both open
 * `<ch>_N` and interleave their bytes in it. So whoever serves Pipe-mode FIFOs holds the folder's
 * lock (core/folder-lock.ts: a flock the kernel drops when the holder dies). A second server is
 * refused with PipesLockedError naming the holder's pid.
 */
import { FifoError, PipesLockedError } from '../core/errors.js';
import { lockFolder, type FolderLock } from '../core/folder-lock.js';

export type PipesLock = FolderLock;

/** Takes the folder's lock (the folder must exist) or throws PipesLockedError. */
export function lockPipesDir(dir: string): PipesLock {
  let result;
  try {
    result = lockFolder(dir);
  } catch (err) {
    throw new FifoError(`cannot lock the FIFO folder ${dir}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`, { path: dir }, { cause: err });
  }
  if ('lock' in result) return result.lock;
  const pid = result.holder;
  const who = pid === undefined ? 'another process' : `another pipemode (pid ${pid})`;
  throw new PipesLockedError(`${who} already serves Pipe-mode FIFOs in ${dir}; stop it first or use another --dir`, { path: dir, ...(pid !== undefined ? { pid } : {}) });
}
