/**
 * Exit codes of the pipemode CLI (documented in docs/cli.md). Errors map to codes by their
 * stable error code, the only place where errors become exit statuses.
 */
import { isPipemodeError } from '../core/errors.js';

export const EXIT = Object.freeze({
  /** Done; for `pipe`, also: stopped by SIGINT/SIGTERM. For `cat`, also: the reader closed early. */
  OK: 0,
  /** A bug in pipemode (PM_ERR_INTERNAL or an unexpected exception). */
  INTERNAL: 1,
  /** Bad command line, channel spec or option (fix the invocation). */
  USAGE: 2,
  /** The data cannot be found or read: empty prefix, bad manifest, no such key/bucket, access denied. */
  SOURCE: 3,
  /** Streaming failed part-way: object changed, retries exhausted, bad gzip, record too large, store misbehaved, corrupt records or convert input. */
  STREAM: 4,
  /** A FIFO could not be created or opened. */
  FIFO: 5,
  /** `mount`: the channel could not be mounted (no FUSE here, no permission, mount point unusable). */
  MOUNT: 6,
  /** `train`: the training command failed (the job is Failed with an AlgorithmError). */
  TRAINER_FAILED: 10,
  /** `train`: the job was stopped (SIGINT/SIGTERM). */
  STOPPED: 11,
  /** `train`: the job ran past MaxRuntimeInSeconds and was stopped. */
  MAX_RUNTIME: 12,
});

const BY_CODE: Readonly<Record<string, number>> = {
  PM_ERR_CONFIG: EXIT.USAGE,
  PM_ERR_SPEC_FILE: EXIT.USAGE,
  PM_ERR_SOURCE_URI: EXIT.USAGE,
  PM_ERR_EMPTY_SOURCE: EXIT.SOURCE,
  PM_ERR_MANIFEST: EXIT.SOURCE,
  PM_ERR_NO_SUCH_KEY: EXIT.SOURCE,
  PM_ERR_NO_SUCH_BUCKET: EXIT.SOURCE,
  PM_ERR_ACCESS_DENIED: EXIT.SOURCE,
  PM_ERR_OBJECT_CHANGED: EXIT.STREAM,
  PM_ERR_TRANSIENT: EXIT.STREAM,
  PM_ERR_RETRIES_EXHAUSTED: EXIT.STREAM,
  PM_ERR_STORE_PROTOCOL: EXIT.STREAM,
  PM_ERR_RECORD_TOO_LARGE: EXIT.STREAM,
  PM_ERR_GZIP: EXIT.STREAM,
  PM_ERR_MEMORY_BUDGET: EXIT.STREAM,
  PM_ERR_FIFO: EXIT.FIFO,
  PM_ERR_UNSAFE_KEY: EXIT.SOURCE,
  PM_ERR_ABORTED: EXIT.OK,
  PM_ERR_INTERNAL: EXIT.INTERNAL,
  PM_ERR_RECORD_FORMAT: EXIT.STREAM,
  PM_ERR_INPUT_FORMAT: EXIT.STREAM,
  PM_ERR_MOUNT: EXIT.MOUNT,
  PM_ERR_PAYLOAD_TOO_LARGE: EXIT.STREAM,
  PM_ERR_RESPONSE_FRAMING: EXIT.STREAM,
  PM_ERR_DATA_PROCESSING: EXIT.STREAM,
};

export function exitCodeFor(err: unknown): number {
  return isPipemodeError(err) ? (BY_CODE[err.code] ?? EXIT.INTERNAL) : EXIT.INTERNAL;
}

/** For docs and tests: every error code the table knows. */
export const EXIT_CODE_BY_ERROR_CODE = BY_CODE;
