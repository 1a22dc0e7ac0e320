/**
 * Node's system errors (an `errno` code such as ENOTDIR plus a `path`) turned into the catalogue:
 * a disk that is full is NoSpaceError, a local path that cannot be used (a file in the way, no
 * permission, not a folder) LocalPathError, each message naming the path and, where the caller
 * knows it, the flag or field it came from. Used where a path is known (`--jobs-dir`, `--dir`)
 * and, for anything that slipped through, at the CLI boundary: a user's or the machine's mistake
 * never reads as a bug in pipemode (exit 1).
 */
import { LocalPathError, NoSpaceError, isPipemodeError, type PipemodeError } from './errors.js';

/** What each code means, in words. */
const MEANING: Readonly<Record<string, string>> = {
  ENOTDIR: 'a part of the path is a file, not a folder',
  EEXIST: 'something else (a file) is already there',
  EISDIR: 'it is a folder, where a file is needed',
  EACCES: 'permission denied',
  EPERM: 'operation not permitted',
  EROFS: 'the file system is read-only',
  ENOENT: 'no such file or folder',
  ELOOP: 'too many symbolic links',
  ENAMETOOLONG: 'the name is too long',
  ENOSPC: 'no space left on the device',
  EDQUOT: 'the disk quota is exceeded',
  ENXIO: 'no reader or device at the other end',
};

export interface SystemErrorContext {
  /** The flag or field the path came from (`--jobs-dir`, `OutputDataConfig.S3OutputPath`). */
  readonly flag?: string;
  /** The path, when the error itself does not carry one. */
  readonly path?: string;
}

/** Whether `err` is a Node system error with one of the codes translated here. */
export function isSystemError(err: unknown): err is NodeJS.ErrnoException {
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  return err instanceof Error && !isPipemodeError(err) && typeof code === 'string' && Object.hasOwn(MEANING, code);
}

/** The meaning of a system error code in words (the code itself when unknown). */
export function describeErrno(code: string | undefined): string {
  return (code !== undefined ? MEANING[code] : undefined) ?? code ?? 'unknown error';
}

/** `err` as a catalogue error when it is a system error about a local path; otherwise `err` itself. */
export function fromSystemError(err: unknown, context: SystemErrorContext = {}): unknown {
  if (!isSystemError(err)) return err;
  const code = err.code as string;
  const where = err.path ?? context.path;
  const dest = (err as { dest?: string }).dest;
  const subject = `${context.flag !== undefined ? `${context.flag} ` : ''}${where ?? '(unknown path)'}${dest !== undefined ? ` → ${dest}` : ''}`;
  const message = `${subject}: ${describeErrno(code)} (${code}${err.syscall !== undefined ? `, ${err.syscall}` : ''})`;
  const details = { path: where, errno: code, ...(context.flag !== undefined ? { field: context.flag } : {}) };
  const made: PipemodeError = code === 'ENOSPC' || code === 'EDQUOT'
    ? new NoSpaceError(message, details, { cause: err })
    : new LocalPathError(message, details, { cause: err });
  return made;
}

/** Runs `fn`, translating a system error about `context.path` (see fromSystemError). */
export function withPathContext<T>(context: SystemErrorContext, fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    throw fromSystemError(err, context);
  }
}
