/**
 * Exit codes of the pipemode CLI (documented in docs/cli.md): each error class names its own in
 * the catalogue (core/errors.ts); anything that is not a PipemodeError is a bug (1).
 */
import { ERROR_CLASSES } from '../core/error-codes.js';
import { isPipemodeError } from '../core/errors.js';
import { EXIT } from '../core/exit-status.js';

export { EXIT };

export function exitCodeFor(err: unknown): number {
  return isPipemodeError(err) ? err.exitCode : EXIT.INTERNAL;
}

/** For docs and tests: every error code with its exit status. */
export const EXIT_CODE_BY_ERROR_CODE: Readonly<Record<string, number>> = Object.freeze(
  Object.fromEntries(ERROR_CLASSES.map((Cls) => [Cls.code, Cls.exitCode])),
);
