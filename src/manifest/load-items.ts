/**
 * Loads a channel's items once, at start: the prefix listing or the manifest, resolved to units.
 * This snapshot is reused for every epoch; an object that changes afterwards is caught when it
 * is read (its version is pinned), not silently streamed in its new form.
 */
import type { ChannelSpec } from '../channel/channel-spec.js';
import { formatSourceUri } from '../storage/source-uri.js';
import type { Stores } from '../storage/stores.js';
import { readWholeObject } from '../storage/read-object.js';
import type { RetryPolicy } from '../storage/retry.js';
import { itemsFromPrefix } from './from-prefix.js';
import { itemsFromAugmentedManifest, itemsFromManifest } from './from-manifest-file.js';
import type { Item } from './unit.js';

/** Manifests are read whole into memory; beyond this size, something is wrong. */
const MAX_MANIFEST_BYTES = 1024 * 1024 * 1024;

export async function loadItems(spec: ChannelSpec, stores: Stores, retry: RetryPolicy, signal?: AbortSignal): Promise<Item[]> {
  const store = stores.storeFor(spec.source);
  if (spec.dataType === 'S3Prefix') return itemsFromPrefix(store, spec.source.key, signal);
  const uri = formatSourceUri(spec.source);
  const text = (await readWholeObject(store, spec.source.key, MAX_MANIFEST_BYTES, retry, signal)).toString('utf8');
  if (spec.dataType === 'ManifestFile') return itemsFromManifest(text, uri, stores, spec.source.kind === 'file');
  return itemsFromAugmentedManifest(text, uri, spec.attributeNames, stores, spec.source.kind === 'file');
}
