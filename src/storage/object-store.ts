/**
 * The seam between pipemode and where bytes live. Two implementations: `S3Store` (any
 * S3-compatible service, through the AWS SDK's configuration and signer) and `FileStore` (the
 * local file system as one bucket rooted at "/"). Both give the same prefix semantics and order.
 *
 * `read` is one attempt at a byte range of one object version: it throws typed errors from
 * core/errors.ts, with `retryable` set on transient ones. Retrying and resuming from the
 * delivered offset is the caller's job (fetch/read-with-retry.ts), so every store gets it alike.
 */

export interface ObjectInfo {
  readonly key: string;
  readonly size: number;
  /**
   * Version token: the S3 ETag, or inode/size/mtime for local files. A read of an object whose
   * token no longer matches fails with ObjectChangedError.
   */
  readonly etag: string | undefined;
  /** Last-modified time in ms since the epoch (S3 LastModified, a file's mtime), where the store gives one. */
  readonly mtimeMs?: number;
}

/** Options of one listing (all optional; a store may ignore none of them). */
export interface ListOptions {
  /** Only keys that sort after this one (S3 ListObjectsV2 StartAfter). */
  readonly startAfter?: string;
  /** Keys per listing request at most (S3 MaxKeys), a hint: stores that list in one go ignore it. */
  readonly pageSize?: number;
  /**
   * Called once per listing request (an S3 page, a local walk) with the keys it returned (the
   * listing's cost) and, where the store says so, whether more pages follow.
   */
  readonly onRequest?: (keys: number, more?: boolean) => void;
}

export interface ObjectStore {
  /** Renders a key as a URI for messages: s3://bucket/key or file:///path. */
  uriOf(key: string): string;
  /** Every object whose key starts with `prefix`, in ascending UTF-8 byte order of keys. */
  list(prefix: string, signal?: AbortSignal, options?: ListOptions): AsyncIterable<ObjectInfo>;
  /** Size and version of one object; NoSuchKeyError if it does not exist. */
  head(key: string, signal?: AbortSignal): Promise<ObjectInfo>;
  /** Bytes [start, end) of the object version `info`, as chunks in order. One attempt. */
  read(info: ObjectInfo, start: number, end: number, signal?: AbortSignal): AsyncIterable<Buffer>;
  /**
   * The most bytes worth fetching ahead of a reader, where that is less than any budget: a store
   * that answers at once (the local page cache) gains nothing from a deep window, and a shallow
   * one keeps the bytes in the CPU cache between the read and the write. Absent: no limit.
   */
  readonly readAheadBytes?: number;
}

/**
 * Compares keys by their UTF-8 bytes, the order S3 lists them in, without encoding them: UTF-8
 * byte order is code point order, and UTF-16 code units compare in that order too except that
 * surrogates (D800–DFFF, the halves of code points above FFFF) must sort after E000–FFFF, so
 * the first units that differ are shifted before they are compared. Keys are well-formed
 * UTF-16: neither S3 listings nor file names (decoded with U+FFFD for bad bytes) have lone
 * surrogates.
 */
export function compareKeys(a: string, b: string): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const x = a.charCodeAt(i);
    const y = b.charCodeAt(i);
    if (x !== y) return utf8Rank(x) < utf8Rank(y) ? -1 : 1;
  }
  return a.length === b.length ? 0 : a.length < b.length ? -1 : 1;
}

function utf8Rank(unit: number): number {
  return unit < 0xd800 ? unit : unit <= 0xdfff ? unit + 0x2000 : unit - 0x800;
}
