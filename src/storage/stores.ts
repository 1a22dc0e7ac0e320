/**
 * Finds the store for a source URI: one FileStore for the local file system, one S3Store per
 * bucket sharing a single S3Access (SDK client, signer, connection pool). S3 is set up only
 * when an s3:// URI is first used, so local-only runs never touch AWS configuration.
 */
import type { SourceUri } from '../channel/source-uri.js';
import type { ObjectStore } from './object-store.js';
import { FileStore, type FileStoreOptions } from './file/file-store.js';
import { S3Access, type S3AccessOptions } from './s3/s3-access.js';
import { S3Store, type S3StoreOptions } from './s3/s3-store.js';

export interface StoresOptions {
  readonly s3?: S3AccessOptions & S3StoreOptions;
  readonly file?: FileStoreOptions;
}

export class Stores {
  readonly #options: StoresOptions;
  #file: FileStore | undefined;
  #access: S3Access | undefined;
  readonly #buckets = new Map<string, S3Store>();

  constructor(options: StoresOptions = {}) {
    this.#options = options;
  }

  /** The store holding `uri`'s objects; `uri.key` is the key (or prefix) within it. */
  storeFor(uri: SourceUri): ObjectStore {
    if (uri.kind === 'file') return (this.#file ??= new FileStore(this.#options.file));
    let store = this.#buckets.get(uri.bucket);
    if (store === undefined) {
      this.#access ??= new S3Access(this.#options.s3);
      store = new S3Store(uri.bucket, this.#access, this.#options.s3);
      this.#buckets.set(uri.bucket, store);
    }
    return store;
  }

  /** Closes pooled connections so the process can exit. */
  close(): void {
    this.#access?.destroy();
  }
}
