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
 * Codes are never reused once retired.
 */

export type ErrorDetails = Readonly<Record<string, string | number | boolean | undefined>>;

export abstract class PipemodeError extends Error {
  abstract readonly code: string;
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
}

/** A CLI flag, channel field or option has a wrong value; `details.field` names it. */
export class ConfigError extends PipemodeError {
  readonly code = 'PM_ERR_CONFIG';
}

/** A file given on the command line (channel spec, job) cannot be read or parsed. */
export class SpecFileError extends PipemodeError {
  readonly code = 'PM_ERR_SPEC_FILE';
}

/** An S3Uri / source is not an s3://, file:// or absolute local path URI we can use. */
export class SourceUriError extends PipemodeError {
  readonly code = 'PM_ERR_SOURCE_URI';
}

/** An S3Prefix matched no object (SageMaker fails such a job too). */
export class EmptySourceError extends PipemodeError {
  readonly code = 'PM_ERR_EMPTY_SOURCE';
}

/** A ManifestFile or AugmentedManifestFile is malformed; details name the line (and column). */
export class ManifestError extends PipemodeError {
  readonly code = 'PM_ERR_MANIFEST';
}

/** The object or local file does not exist. */
export class NoSuchKeyError extends PipemodeError {
  readonly code = 'PM_ERR_NO_SUCH_KEY';
}

/** The bucket (or local folder root) does not exist. */
export class NoSuchBucketError extends PipemodeError {
  readonly code = 'PM_ERR_NO_SUCH_BUCKET';
}

/** The store refused the credentials or the request (403, EACCES). */
export class AccessDeniedError extends PipemodeError {
  readonly code = 'PM_ERR_ACCESS_DENIED';
}

/** The object changed after it was listed (ETag/If-Match, or size/mtime for local files). */
export class ObjectChangedError extends PipemodeError {
  readonly code = 'PM_ERR_OBJECT_CHANGED';
}

/** A transient store or network failure; retried with backoff. */
export class TransientStoreError extends PipemodeError {
  readonly code = 'PM_ERR_TRANSIENT';
  override readonly retryable = true;
}

/** Transient failures went on after every allowed retry. `cause` is the last one. */
export class RetriesExhaustedError extends PipemodeError {
  readonly code = 'PM_ERR_RETRIES_EXHAUSTED';
}

/** The store answered in a way no retry will fix (unexpected status, bad Content-Range). */
export class StoreProtocolError extends PipemodeError {
  readonly code = 'PM_ERR_STORE_PROTOCOL';
}

/** An object is too large for one single-part RecordIO record (length must be < 2^29). */
export class RecordTooLargeError extends PipemodeError {
  readonly code = 'PM_ERR_RECORD_TOO_LARGE';
}

/** A Gzip channel object is not valid gzip; details give the object and compressed offset. */
export class GzipError extends PipemodeError {
  readonly code = 'PM_ERR_GZIP';
}

/** Holding data the configuration requires would exceed the memory budget. */
export class MemoryBudgetError extends PipemodeError {
  readonly code = 'PM_ERR_MEMORY_BUDGET';
}

/** Creating, opening or writing a FIFO failed for a reason other than the reader leaving. */
export class FifoError extends PipemodeError {
  readonly code = 'PM_ERR_FIFO';
}

/** The operation was cancelled (signal, reader gone); never reported as a failure by the CLI. */
export class AbortedError extends PipemodeError {
  readonly code = 'PM_ERR_ABORTED';
}

/**
 * Record bytes do not follow their format (bad RecordIO magic or part flags, a TFRecord CRC
 * mismatch, malformed protobuf, input that ends inside a record). `details` give the format, the
 * 0-based `record` index and the byte `offset` in the stream where decoding failed.
 */
export class RecordFormatError extends PipemodeError {
  readonly code = 'PM_ERR_RECORD_FORMAT';
}

/** A `convert` input (CSV row, JSON line) cannot be turned into a record; `details` name the file and line. */
export class InputFormatError extends PipemodeError {
  readonly code = 'PM_ERR_INPUT_FORMAT';
}

/** An object key cannot become a file below the channel directory ("..", absolute, empty segments). */
export class UnsafeKeyError extends PipemodeError {
  readonly code = 'PM_ERR_UNSAFE_KEY';
}

/**
 * A channel cannot be mounted (FastFile): FUSE is unavailable here (no /dev/fuse, no permission to
 * mount, the FUSE module failed to load), the mount point is unusable, or the channel is not an
 * S3Prefix. `details.reason` says which; callers may fall back to File mode.
 */
export class MountError extends PipemodeError {
  readonly code = 'PM_ERR_MOUNT';
}

/** A bug in pipemode: an invariant did not hold. Please report it. */
export class InternalError extends PipemodeError {
  readonly code = 'PM_ERR_INTERNAL';
}

/**
 * Batch transform: a request payload would exceed MaxPayloadInMB (one record after framing, or a
 * whole SplitType=None object). `details` give the `source` file, the 0-based `record` index (absent
 * for a whole object), its `size` and the `limit`, both in bytes.
 */
export class PayloadTooLargeError extends PipemodeError {
  readonly code = 'PM_ERR_PAYLOAD_TOO_LARGE';
}

/**
 * Batch transform: the model's answer to a mini-batch cannot be split into one answer per record
 * (a count mismatch, an Accept type with no record framing). `details` give the `source` file, the
 * batch's `first` record, the records `expected` and the answers `found`.
 */
export class ResponseFramingError extends PipemodeError {
  readonly code = 'PM_ERR_RESPONSE_FRAMING';
}

/**
 * Batch transform DataProcessing: an InputFilter, OutputFilter or JoinSource cannot be applied to a
 * record (not JSON, an index out of range, a key missing). `details` give the `source` file, the
 * 0-based `record` index and the `expression`.
 */
export class DataProcessingError extends PipemodeError {
  readonly code = 'PM_ERR_DATA_PROCESSING';
}

/** Every code in the catalogue, for docs and tests. */
export const ERROR_CLASSES = [
  ConfigError, SpecFileError, SourceUriError, EmptySourceError, ManifestError,
  NoSuchKeyError, NoSuchBucketError, AccessDeniedError, ObjectChangedError,
  TransientStoreError, RetriesExhaustedError, StoreProtocolError,
  RecordTooLargeError, GzipError, MemoryBudgetError, FifoError, AbortedError, InternalError,
  RecordFormatError, InputFormatError, UnsafeKeyError, MountError,
  PayloadTooLargeError, ResponseFramingError, DataProcessingError,
] as const;

/** Rebuilds a typed error from its code (errors that crossed a thread or process boundary). */
export function errorFromCode(code: string, message: string, details: ErrorDetails = {}): PipemodeError {
  for (const Cls of ERROR_CLASSES) {
    const err = new Cls(message, details);
    if (err.code === code) return err;
  }
  return new InternalError(message, { ...details, code });
}

export function isPipemodeError(err: unknown): err is PipemodeError {
  return err instanceof PipemodeError;
}

/** Throws an AbortedError (with the signal's reason as cause) if the signal is aborted. */
export function throwIfAborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw new AbortedError('operation aborted', {}, { cause: signal.reason });
}
