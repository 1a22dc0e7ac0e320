/**
 * ObjectWriter for one S3 bucket: streamed multipart uploads (lib-storage `Upload`, 8 MiB parts,
 * 4 at a time, so at most ~32 MiB in memory whatever the size), aborted cleanly on failure.
 * Errors come back typed (s3-errors.ts).
 */
import type { Readable } from 'node:stream';
import type { ObjectWriter } from '../object-writer.js';
import { DeleteObjectCommand, libStorage } from './aws-sdk.js';
import type { S3Access } from './s3-access.js';
import { errorFromException } from './s3-errors.js';

export class S3ObjectWriter implements ObjectWriter {
  readonly #bucket: string;
  readonly #access: S3Access;

  constructor(bucket: string, access: S3Access) {
    this.#bucket = bucket;
    this.#access = access;
  }

  uriOf(key: string): string {
    return `s3://${this.#bucket}/${key}`;
  }

  async put(key: string, body: Readable, signal?: AbortSignal): Promise<void> {
    const { Upload } = libStorage();
    const upload = new Upload({
      client: await this.#access.client(),
      params: { Bucket: this.#bucket, Key: key, Body: body },
      partSize: 8 * 1024 * 1024,
      queueSize: 4,
      leavePartsOnError: false,
    });
    const onAbort = (): void => void upload.abort();
    signal?.addEventListener('abort', onAbort, { once: true });
    try {
      await upload.done();
    } catch (err) {
      throw errorFromException(err, this.uriOf(key));
    } finally {
      signal?.removeEventListener('abort', onAbort);
    }
  }

  async remove(key: string): Promise<void> {
    try {
      await (await this.#access.client()).send(new DeleteObjectCommand({ Bucket: this.#bucket, Key: key }));
    } catch (err) {
      throw errorFromException(err, this.uriOf(key));
    }
  }
}
