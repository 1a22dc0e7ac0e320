/**
 * The error catalogue: every failure pipemode reports is one of these classes, each with a stable
 * `code` (documented in docs/errors.md; a test keeps the two in sync). Callers match on `code`,
 * never on message text: errors cross process boundaries (CLI exit codes, reader libraries).
 *
 * Errors are sorted by who must act:
 * - the user's input is wrong (config, URI, manifest, data that cannot be framed): fix the input;
 * - the store said no (no such key/bucket, access denied, object changed): fix the data or rights;
 * - transient trouble that outlived its retries: the store or network is unhealthy.
 * `retryable` marks errors a retry loop may try again; everything else fails at once.
 * Codes are never reused once retired. Each class also names its CLI exit status and how a
 * server answers with it (HTTP status, SageMaker control-plane and Runtime error types), so the
 * catalogue is the one place where a failure becomes an exit code or an HTTP answer.
 * `error-codes.ts` finds the classes by their code (by reflection over this module).
 */
import { EXIT } from './exit-status.js';

export type ErrorDetails = Readonly<Record<string, string | number | boolean | undefined>>;

/**
 * How an error surfaces from pipemode's servers: the HTTP status, the error type the SageMaker
 * control plane (awsJson1_1 `__type`) and the SageMaker Runtime API (`ErrorCode`) would use.
 */
export interface HttpMapping {
  readonly status: number;
  readonly controlPlane: string;
  readonly runtime: string;
}

/** The few mappings the catalogue uses, named by what went wrong from the caller's side. */
export const HTTP = Object.freeze({
  /** The request (or the data it names) is wrong: fix it and send again. */
  INVALID: Object.freeze({ status: 400, controlPlane: 'ValidationException', runtime: 'ValidationError' }),
  /** What the request names does not exist (SageMaker answers "Could not find …" with 400). */
  NOT_FOUND: Object.freeze({ status: 400, controlPlane: 'ValidationException', runtime: 'ValidationError' }),
  DENIED: Object.freeze({ status: 403, controlPlane: 'AccessDeniedException', runtime: 'AccessDeniedException' }),
  /** Trouble that may pass: try again later. */
  UNAVAILABLE: Object.freeze({ status: 503, controlPlane: 'ServiceUnavailable', runtime: 'ServiceUnavailable' }),
  /** pipemode or the machine failed the request. */
  FAILED: Object.freeze({ status: 500, controlPlane: 'InternalFailure', runtime: 'InternalFailure' }),
} satisfies Record<string, HttpMapping>);

export abstract class PipemodeError extends Error {
  /** The stable code of this kind of failure (each subclass sets its own; never reused). */
  static readonly code: string = '';
  /** The CLI's exit status for it (docs/cli.md). */
  static readonly exitCode: number = EXIT.INTERNAL;
  static readonly http: HttpMapping = HTTP.FAILED;
  /** Whether the same request may succeed if tried again. */
  readonly retryable: boolean = false;
  readonly details: ErrorDetails;

  constructor(message: string, details: ErrorDetails = {}, options?: { cause?: unknown }) {
    super(message, options);
    this.details = details;
  }

  override get name(): string {
    return this.constructor.name;
  }

  get code(): string {
    return (this.constructor as typeof PipemodeError).code;
  }

  get exitCode(): number {
    return (this.constructor as typeof PipemodeError).exitCode;
  }

  get http(): HttpMapping {
    return (this.constructor as typeof PipemodeError).http;
  }
}

/** A CLI flag, channel field or option has a wrong value; `details.field` names it. */
export class ConfigError extends PipemodeError {
  static override readonly code = 'PM_ERR_CONFIG';
  static override readonly exitCode = EXIT.USAGE;
  static override readonly http = HTTP.INVALID;
}

/** A file given on the command line (channel spec, job) cannot be read or parsed. */
export class SpecFileError extends PipemodeError {
  static override readonly code = 'PM_ERR_SPEC_FILE';
  static override readonly exitCode = EXIT.USAGE;
  static override readonly http = HTTP.INVALID;
}

/** An S3Uri / source is not an s3://, file:// or absolute local path URI we can use. */
export class SourceUriError extends PipemodeError {
  static override readonly code = 'PM_ERR_SOURCE_URI';
  static override readonly exitCode = EXIT.USAGE;
  static override readonly http = HTTP.INVALID;
}

/** An S3Prefix matched no object (SageMaker fails such a job too). */
export class EmptySourceError extends PipemodeError {
  static override readonly code = 'PM_ERR_EMPTY_SOURCE';
  static override readonly exitCode = EXIT.SOURCE;
  static override readonly http = HTTP.INVALID;
}

/** A ManifestFile or AugmentedManifestFile is malformed; details name the line (and column). */
export class ManifestError extends PipemodeError {
  static override readonly code = 'PM_ERR_MANIFEST';
  static override readonly exitCode = EXIT.SOURCE;
  static override readonly http = HTTP.INVALID;
}

/** The object or local file does not exist. */
export class NoSuchKeyError extends PipemodeError {
  static override readonly code = 'PM_ERR_NO_SUCH_KEY';
  static override readonly exitCode = EXIT.SOURCE;
  static override readonly http = HTTP.NOT_FOUND;
}

/** The bucket (or local folder root) does not exist. */
export class NoSuchBucketError extends PipemodeError {
  static override readonly code = 'PM_ERR_NO_SUCH_BUCKET';
  static override readonly exitCode = EXIT.SOURCE;
  static override readonly http = HTTP.NOT_FOUND;
}

/** The store refused the credentials or the request (403, EACCES). */
export class AccessDeniedError extends PipemodeError {
  static override readonly code = 'PM_ERR_ACCESS_DENIED';
  static override readonly exitCode = EXIT.SOURCE;
  static override readonly http = HTTP.DENIED;
}

/** The object changed after it was listed (ETag/If-Match, or size/mtime for local files). */
export class ObjectChangedError extends PipemodeError {
  static override readonly code = 'PM_ERR_OBJECT_CHANGED';
  static override readonly exitCode = EXIT.STREAM;
  static override readonly http = HTTP.FAILED;
}

/** A transient store or network failure; retried with backoff. */
export class TransientStoreError extends PipemodeError {
  static override readonly code = 'PM_ERR_TRANSIENT';
  static override readonly exitCode = EXIT.STREAM;
  static override readonly http = HTTP.UNAVAILABLE;
  override readonly retryable = true;
}

/** Transient failures went on after every allowed retry. `cause` is the last one. */
export class RetriesExhaustedError extends PipemodeError {
  static override readonly code = 'PM_ERR_RETRIES_EXHAUSTED';
  static override readonly exitCode = EXIT.STREAM;
  static override readonly http = HTTP.UNAVAILABLE;
}

/** The store answered in a way no retry will fix (unexpected status, bad Content-Range). */
export class StoreProtocolError extends PipemodeError {
  static override readonly code = 'PM_ERR_STORE_PROTOCOL';
  static override readonly exitCode = EXIT.STREAM;
  static override readonly http = HTTP.FAILED;
}

/** An object is too large for one single-part RecordIO record (length must be < 2^29). */
export class RecordTooLargeError extends PipemodeError {
  static override readonly code = 'PM_ERR_RECORD_TOO_LARGE';
  static override readonly exitCode = EXIT.STREAM;
  static override readonly http = HTTP.INVALID;
}

/** A Gzip channel object is not valid gzip; details give the object and compressed offset. */
export class GzipError extends PipemodeError {
  static override readonly code = 'PM_ERR_GZIP';
  static override readonly exitCode = EXIT.STREAM;
  static override readonly http = HTTP.INVALID;
}

/** Holding data the configuration requires would exceed the memory budget. */
export class MemoryBudgetError extends PipemodeError {
  static override readonly code = 'PM_ERR_MEMORY_BUDGET';
  static override readonly exitCode = EXIT.STREAM;
  static override readonly http = HTTP.INVALID;
}

/** Creating, opening or writing a FIFO failed for a reason other than the reader leaving. */
export class FifoError extends PipemodeError {
  static override readonly code = 'PM_ERR_FIFO';
  static override readonly exitCode = EXIT.FIFO;
  static override readonly http = HTTP.FAILED;
}

/** The operation was cancelled (signal, reader gone); never reported as a failure by the CLI. */
export class AbortedError extends PipemodeError {
  static override readonly code = 'PM_ERR_ABORTED';
  static override readonly exitCode = EXIT.OK;
  static override readonly http = HTTP.UNAVAILABLE;
}

/**
 * Record bytes do not follow their format (bad RecordIO magic or part flags, a TFRecord CRC
 * mismatch, malformed protobuf, input that ends inside a record). `details` give the format, the
 * 0-based `record` index and the byte `offset` in the stream where decoding failed.
 */
export class RecordFormatError extends PipemodeError {
  static override readonly code = 'PM_ERR_RECORD_FORMAT';
  static override readonly exitCode = EXIT.STREAM;
  static override readonly http = HTTP.INVALID;
}

/** A `convert` input (CSV row, JSON line) cannot be turned into a record; `details` name the file and line. */
export class InputFormatError extends PipemodeError {
  static override readonly code = 'PM_ERR_INPUT_FORMAT';
  static override readonly exitCode = EXIT.STREAM;
  static override readonly http = HTTP.INVALID;
}

/** An object key cannot become a file below the channel directory ("..", absolute, empty segments). */
export class UnsafeKeyError extends PipemodeError {
  static override readonly code = 'PM_ERR_UNSAFE_KEY';
  static override readonly exitCode = EXIT.SOURCE;
  static override readonly http = HTTP.INVALID;
}

/**
 * A channel cannot be mounted (FastFile): FUSE is unavailable here (no /dev/fuse, no permission to
 * mount, the kernel refused the mount or never answered), the mount point is unusable, or the
 * channel is not an S3Prefix. `details.reason` says which; callers may fall back to File mode.
 */
export class MountError extends PipemodeError {
  static override readonly code = 'PM_ERR_MOUNT';
  static override readonly exitCode = EXIT.MOUNT;
  static override readonly http = HTTP.FAILED;
}

/** A bug in pipemode: an invariant did not hold. Please report it. */
export class InternalError extends PipemodeError {
  static override readonly code = 'PM_ERR_INTERNAL';
  static override readonly exitCode = EXIT.INTERNAL;
  static override readonly http = HTTP.FAILED;
}

/**
 * Batch transform: a request payload would exceed MaxPayloadInMB (one record after framing, or a
 * whole SplitType=None object). `details` give the `source` file, the 0-based `record` index (absent
 * for a whole object), its `size` and the `limit`, both in bytes.
 */
export class PayloadTooLargeError extends PipemodeError {
  static override readonly code = 'PM_ERR_PAYLOAD_TOO_LARGE';
  static override readonly exitCode = EXIT.STREAM;
  static override readonly http = HTTP.INVALID;
}

/**
 * Batch transform: the model's answer to a mini-batch cannot be split into one answer per record
 * (a count mismatch, an Accept type with no record framing). `details` give the `source` file, the
 * batch's `first` record, the records `expected` and the answers `found`.
 */
export class ResponseFramingError extends PipemodeError {
  static override readonly code = 'PM_ERR_RESPONSE_FRAMING';
  static override readonly exitCode = EXIT.STREAM;
  static override readonly http = HTTP.FAILED;
}

/**
 * Batch transform DataProcessing: an InputFilter, OutputFilter or JoinSource cannot be applied to a
 * record (not JSON, an index out of range, a key missing). `details` give the `source` file, the
 * 0-based `record` index and the `expression`.
 */
export class DataProcessingError extends PipemodeError {
  static override readonly code = 'PM_ERR_DATA_PROCESSING';
  static override readonly exitCode = EXIT.STREAM;
  static override readonly http = HTTP.INVALID;
}

/**
 * An AWS shared-credentials file (the server's access keys) cannot be read, parsed or written:
 * a malformed line, a key outside a section, a profile without both keys, a symlink in the way.
 * `details` name the file and, for parse errors, the 1-based line.
 */
export class CredentialsFileError extends PipemodeError {
  static override readonly code = 'PM_ERR_CREDENTIALS_FILE';
  static override readonly exitCode = EXIT.USAGE;
  static override readonly http = HTTP.FAILED;
}

/**
 * The hosts of a job cannot run as namespaces here: an `ip` (iproute2) command failed, or more hosts
 * than the namespace range holds; `details.reason` says which and `details.command` names the
 * command (`--host-isolation none` runs the hosts on the shared network instead).
 */
export class HostNetworkError extends PipemodeError {
  static override readonly code = 'PM_ERR_HOST_NETWORK';
  static override readonly exitCode = EXIT.USAGE;
  static override readonly http = HTTP.FAILED;
}

/**
 * A server's state folder cannot be used: its SQLite database cannot be opened or is not one of
 * pipemode's, or another pipemode server holds it (`details.pid`). `details.dir` names the folder.
 */
export class ServerStateError extends PipemodeError {
  static override readonly code = 'PM_ERR_SERVER_STATE';
  static override readonly exitCode = EXIT.USAGE;
  static override readonly http = HTTP.FAILED;
}

/**
 * A framework (script-mode) job cannot be launched as asked: `sagemaker_program` or
 * `sagemaker_submit_directory` missing or unusable, the program not in the source, or a
 * `distribution` pipemode does not run (MPI, SMDDP, parameter servers, XLA); `details.field` names the
 * hyperparameter.
 */
export class ScriptModeError extends PipemodeError {
  static override readonly code = 'PM_ERR_SCRIPT_MODE';
  static override readonly exitCode = EXIT.USAGE;
  static override readonly http = HTTP.INVALID;
}

/**
 * Another pipemode already serves Pipe-mode FIFOs in this folder (two writers would interleave
 * their bytes in the same FIFOs); `details.pid` names the holder when it can be found.
 */
export class PipesLockedError extends PipemodeError {
  static override readonly code = 'PM_ERR_LOCKED';
  static override readonly exitCode = EXIT.FIFO;
  static override readonly http = HTTP.FAILED;
}

/**
 * The writer of an epoch's FIFO died before the epoch was complete (pipemode killed, e.g. by
 * SIGKILL or the OOM killer): written into `<ch>_N.error` by pipemode's guardian process, so a
 * reader never takes the cut-short epoch for a whole one.
 */
export class WriterDiedError extends PipemodeError {
  static override readonly code = 'PM_ERR_WRITER_DIED';
  static override readonly exitCode = EXIT.STREAM;
  static override readonly http = HTTP.FAILED;
}

/**
 * A container image named by a model or job has no command in the images file (nor among the
 * built-in framework mappings). `details.image` names it; the message says how to map it.
 */
export class ImageNotMappedError extends PipemodeError {
  static override readonly code = 'PM_ERR_IMAGE_NOT_MAPPED';
  static override readonly exitCode = EXIT.USAGE;
  static override readonly http = HTTP.INVALID;
}

/**
 * `serve`: an endpoint could not be brought InService: its model data could not be fetched in
 * time, or a hosting container exited or never answered `GET /ping` with 200 within the startup
 * health-check timeout. The message carries the container's last output; `details` name the
 * `endpoint`, `variant` and `instance`.
 */
export class EndpointFailedError extends PipemodeError {
  static override readonly code = 'PM_ERR_ENDPOINT_FAILED';
  static override readonly exitCode = EXIT.ENDPOINT_FAILED;
  static override readonly http = HTTP.FAILED;
}

/**
 * A local path given on the command line or in a request (`--jobs-dir`, `--base-dir`, `--dir`, a
 * local S3OutputPath, stdout) cannot be used: a file in the way, not a folder, no permission, a
 * read-only file system. The message names the path and the flag or field; `details.errno` the
 * system's code (ENOTDIR, EEXIST, EACCES, …).
 */
export class LocalPathError extends PipemodeError {
  static override readonly code = 'PM_ERR_LOCAL_PATH';
  static override readonly exitCode = EXIT.USAGE;
  static override readonly http = HTTP.INVALID;
}

/** The local disk is full (ENOSPC, EDQUOT); `details.path` names where. Partial files are removed. */
export class NoSpaceError extends PipemodeError {
  static override readonly code = 'PM_ERR_NO_SPACE';
  static override readonly exitCode = EXIT.STREAM;
  static override readonly http = HTTP.FAILED;
}

/** The training command cannot be started (not found, not executable); `details.command` names it. */
export class EntrypointError extends PipemodeError {
  static override readonly code = 'PM_ERR_ENTRYPOINT';
  static override readonly exitCode = EXIT.USAGE;
  static override readonly http = HTTP.INVALID;
}

/** A job record (`job.json`, `runner.json`) cannot be read or parsed; `details.file` names it. */
export class JobRecordError extends PipemodeError {
  static override readonly code = 'PM_ERR_JOB_RECORD';
  static override readonly exitCode = EXIT.SOURCE;
  static override readonly http = HTTP.INVALID;
}

/**
 * Batch transform: the model container did not transform a mini-batch: it answered 4xx or 5xx
 * (final: never retried), or gave no answer (crashed, timed out) after InvocationsMaxRetries
 * retries. Fails that input file only; `details` give the `source` file, the batch's `first`
 * record, the `status` answered (absent when none) and the `attempts`.
 */
export class ModelInvocationError extends PipemodeError {
  static override readonly code = 'PM_ERR_MODEL_INVOCATION';
  static override readonly exitCode = EXIT.TRANSFORM_FAILED;
  static override readonly http = HTTP.FAILED;
}

export function isPipemodeError(err: unknown): err is PipemodeError {
  return err instanceof PipemodeError;
}

/** Throws an AbortedError (with the signal's reason as cause) if the signal is aborted. */
export function throwIfAborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw new AbortedError('operation aborted', {}, { cause: signal.reason });
}
