/**
 * Where `convert` puts finished shards: a local folder or an S3 prefix, behind one interface so
 * the shard writer does not care which. A shard becomes visible only once complete: locally it is
 * written as `<name>.tmp` and renamed; on S3 it is one PutObject of the whole shard (held in
 * memory, at most --shard-size plus one record), which S3 makes visible atomically.
 */
import fs from 'node:fs';
import path from 'node:path';
import { DEFAULT_RETRY_POLICY, withRetry, type RetryPolicy } from '../storage/retry.js';
import type { S3Access } from '../storage/s3/s3-access.js';
import { errorFromException } from '../storage/s3/s3-errors.js';

const WRITE_BATCH = 1 << 20;

export interface ShardSink {
  /** Names a shard in messages (a path or an s3:// URI). */
  uriOf(name: string): string;
  /** Starts shard `name`. */
  open(name: string): Promise<ShardOutput>;
}

export interface ShardOutput {
  /** Appends bytes (may keep references to them until close). */
  write(pieces: readonly Buffer[]): Promise<void>;
  /** Makes the shard visible under its name. */
  close(): Promise<void>;
  /** Drops a shard that will not be finished (removes its temp file). */
  abort(): Promise<void>;
}

export class LocalShardSink implements ShardSink {
  readonly #dir: string;

  constructor(dir: string) {
    this.#dir = dir;
  }

  uriOf(name: string): string {
    return path.join(this.#dir, name);
  }

  async open(name: string): Promise<ShardOutput> {
    await fs.promises.mkdir(this.#dir, { recursive: true });
    const final = path.join(this.#dir, name);
    const tmp = `${final}.tmp`;
    const handle = await fs.promises.open(tmp, 'w');
    let closed = false;
    // small records are batched into ~1 MiB writes: one syscall per record would be the bottleneck
    let batch: Buffer[] = [];
    let batched = 0;
    const flush = async (): Promise<void> => {
      if (batched === 0) return;
      const bytes = Buffer.concat(batch, batched);
      batch = [];
      batched = 0;
      for (let done = 0; done < bytes.length;) done += (await handle.write(bytes, done)).bytesWritten;
    };
    return {
      async write(pieces) {
        for (const p of pieces) {
          batch.push(p);
          batched += p.length;
        }
        if (batched >= WRITE_BATCH) await flush();
      },
      async close() {
        closed = true;
        await flush();
        await handle.sync();
        await handle.close();
        await fs.promises.rename(tmp, final);
      },
      async abort() {
        if (!closed) await handle.close().catch(() => {});
        await fs.promises.rm(tmp, { force: true });
      },
    };
  }
}

export class S3ShardSink implements ShardSink {
  readonly #access: S3Access;
  readonly #bucket: string;
  readonly #prefix: string;
  readonly #retry: RetryPolicy;

  constructor(access: S3Access, bucket: string, prefix: string, retry: RetryPolicy = DEFAULT_RETRY_POLICY) {
    this.#access = access;
    this.#bucket = bucket;
    this.#prefix = prefix;
    this.#retry = retry;
  }

  uriOf(name: string): string {
    return `s3://${this.#bucket}/${this.#prefix}${name}`;
  }

  async open(name: string): Promise<ShardOutput> {
    const pieces: Buffer[] = [];
    let length = 0;
    const key = this.#prefix + name;
    return {
      write: async (more) => {
        for (const p of more) {
          pieces.push(p);
          length += p.length;
        }
      },
      close: async () => {
        const { PutObjectCommand } = await import('../storage/s3/aws-sdk.js');
        const body = Buffer.concat(pieces, length);
        pieces.length = 0;
        const client = await this.#access.client();
        // one PUT of the whole shard: idempotent, so transient failures are simply retried
        await withRetry(async () => {
          try {
            await client.send(new PutObjectCommand({ Bucket: this.#bucket, Key: key, Body: body, ContentLength: body.length }));
          } catch (err) {
            throw errorFromException(err, this.uriOf(name));
          }
        }, this.#retry);
      },
      abort: async () => {
        pieces.length = 0;
      },
    };
  }
}
