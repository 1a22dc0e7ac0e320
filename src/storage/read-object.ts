/** Reads one whole (small) object into memory, with retries: manifests, channel specs on S3. */
import { ManifestError } from '../core/errors.js';
import type { ObjectStore } from './object-store.js';
import { readRangeWithRetry, withRetry, type RetryPolicy } from './retry.js';

export async function readWholeObject(
  store: ObjectStore, key: string, maxBytes: number, policy: RetryPolicy, signal?: AbortSignal,
): Promise<Buffer> {
  const info = await withRetry(() => store.head(key, signal), policy, signal);
  if (info.size > maxBytes) {
    throw new ManifestError(`${store.uriOf(key)} is ${info.size} bytes; manifests larger than ${maxBytes} bytes are not supported`, {
      uri: store.uriOf(key), size: info.size,
    });
  }
  const chunks: Buffer[] = [];
  if (info.size > 0) for await (const c of readRangeWithRetry(store, info, 0, info.size, policy, signal)) chunks.push(c);
  return Buffer.concat(chunks);
}
