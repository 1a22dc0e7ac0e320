/**
 * Finds the store for a source URI: one FileStore for the local file system, one S3Store per
 * bucket sharing a single S3Access (SDK client, signer, connection pool). The AWS SDK is loaded
 * only when an s3:// URI is first used (it costs ~150 ms of start-up), so local-only runs never
 * load it or touch AWS configuration.
 */
import type { SourceUri } from './source-uri.js';
import type { ListOptions, ObjectInfo, ObjectStore } from './object-store.js';
import type { ObjectWriter } from './object-writer.js';
import { FileStore } from './file/file-store.js';
import type { S3Access, S3AccessOptions } from './s3/s3-access.js';
import type { S3StoreOptions } from './s3/s3-store.js';

export interface StoresOptions {
  readonly s3?: S3AccessOptions & S3StoreOptions;
}

/** An ObjectStore whose implementation is created on first use. */
class LazyStore implements ObjectStore {
  readonly #uriPrefix: string;
  readonly #load: () => Promise<ObjectStore>;
  #store: Promise<ObjectStore> | undefined;

  constructor(uriPrefix: string, load: () => Promise<ObjectStore>) {
    this.#uriPrefix = uriPrefix;
    this.#load = load;
  }

  #loaded: ObjectStore | undefined;

  #get(): Promise<ObjectStore> {
    return (this.#store ??= this.#load().then((store) => (this.#loaded = store)));
  }

  /** The store itself once it has been used (a listing loads it), for fast paths that need its type. */
  get loaded(): ObjectStore | undefined {
    return this.#loaded;
  }

  uriOf(key: string): string {
    return this.#uriPrefix + key;
  }

  async *list(prefix: string, signal?: AbortSignal, options?: ListOptions): AsyncIterable<ObjectInfo> {
    yield* (await this.#get()).list(prefix, signal, options);
  }

  async head(key: string, signal?: AbortSignal): Promise<ObjectInfo> {
    return (await this.#get()).head(key, signal);
  }

  async *read(info: ObjectInfo, start: number, end: number, signal?: AbortSignal): AsyncIterable<Buffer> {
    yield* (await this.#get()).read(info, start, end, signal);
  }
}

export class Stores {
  readonly #options: StoresOptions;
  #file: FileStore | undefined;
  #access: Promise<S3Access> | undefined;
  readonly #buckets = new Map<string, ObjectStore>();

  constructor(options: StoresOptions = {}) {
    this.#options = options;
  }

  /** The store holding `uri`'s objects; `uri.key` is the key (or prefix) within it. */
  storeFor(uri: SourceUri): ObjectStore {
    if (uri.kind === 'file') return (this.#file ??= new FileStore());
    const bucket = uri.bucket;
    let store = this.#buckets.get(bucket);
    if (store === undefined) {
      store = new LazyStore(`s3://${bucket}/`, async () => {
        const [access, { S3Store }] = await Promise.all([this.s3Access(), import('./s3/s3-store.js')]);
        return new S3Store(bucket, access, this.#options.s3);
      });
      this.#buckets.set(bucket, store);
    }
    return store;
  }

  /** A writer for the bucket (or local file system) holding `uri`. */
  async writerFor(uri: SourceUri): Promise<ObjectWriter> {
    if (uri.kind === 'file') {
      const { FileObjectWriter } = await import('./file/file-object-writer.js');
      return new FileObjectWriter();
    }
    const [access, { S3ObjectWriter }] = await Promise.all([this.s3Access(), import('./s3/s3-object-writer.js')]);
    return new S3ObjectWriter(uri.bucket, access);
  }

  /** The S3Access (SDK client, signer, connection pool) every bucket shares, created on first use. */
  async s3Access(): Promise<S3Access> {
    const { S3Access } = await import('./s3/s3-access.js');
    this.#access ??= Promise.resolve(new S3Access(this.#options.s3));
    return this.#access;
  }

  /** Closes pooled connections so the process can exit. */
  close(): void {
    void this.#access?.then((a) => a.destroy());
  }
}
