/** Counters of one mount; read them any time (`pipemode mount` logs them when it stops). */
export class MountStats {
  /** FUSE open and read requests served. */
  opens = 0;
  reads = 0;
  /** Handles opened by a file's first read, with no OPEN request (a small-file mount, fuse-ops.ts). */
  openless = 0;
  /** Bytes handed to the kernel. */
  bytesServed = 0;
  /** Bytes received from the store (retried attempts included). */
  bytesFetched = 0;
  /** Ranged GETs started; retries of transient failures. */
  getRequests = 0;
  retries = 0;
  /** Files whose first bytes were prefetched because files were being opened in listing order, and how many of those were then opened. */
  filesPrefetched = 0;
  prefetchHits = 0;
  /** Bytes fetched and dropped unread (a read-ahead the reader seeked away from, a prefetched file never opened). */
  bytesWasted = 0;
  /** Reads answered with EIO. */
  readErrors = 0;
}
