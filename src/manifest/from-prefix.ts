/**
 * S3Prefix: every object whose key starts with the prefix (a plain string prefix, not a folder
 * boundary), in ascending UTF-8 key order, with zero-byte "folder/" marker keys skipped. No
 * match is an error, as it is for a SageMaker job.
 */
import { EmptySourceError } from '../core/errors.js';
import type { ObjectStore } from '../storage/object-store.js';
import type { Item } from './unit.js';

export async function itemsFromPrefix(store: ObjectStore, prefix: string, signal?: AbortSignal): Promise<Item[]> {
  const items: Item[] = [];
  for await (const info of store.list(prefix, signal)) {
    if (info.size === 0 && info.key.endsWith('/')) continue;
    items.push([{ kind: 'object', store, key: info.key, info }]);
  }
  if (items.length === 0) {
    throw new EmptySourceError(`no objects match the prefix ${store.uriOf(prefix)}`, { uri: store.uriOf(prefix) });
  }
  return items;
}
