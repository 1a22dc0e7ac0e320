/**
 * Exit statuses of the pipemode CLI (docs/cli.md). Each error class of the catalogue names its
 * own (errors.ts); these are the values.
 */
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
  /** `serve`: the endpoint could not be brought InService (a container never became healthy). */
  ENDPOINT_FAILED: 13,
  /** `transform`: the job is Failed because the model container failed input files (an error answer, no answer). */
  TRANSFORM_FAILED: 14,
});
