/**
 * What a channel is made of. A *unit* is one run of bytes in the stream (one object, or one
 * augmented-manifest attribute value) — the thing Gzip inflates and RecordIO wraps. An *item* is
 * what shuffling and sharding move around: one object for S3Prefix and ManifestFile, one JSON
 * line (all its attribute units, in AttributeNames order) for AugmentedManifestFile.
 */
import type { ObjectInfo, ObjectStore } from '../storage/object-store.js';

export interface ObjectUnit {
  readonly kind: 'object';
  readonly store: ObjectStore;
  readonly key: string;
  /** Size and version when the listing gave them; otherwise a HEAD finds them before reading. */
  readonly info: ObjectInfo | undefined;
}

export interface InlineUnit {
  readonly kind: 'inline';
  readonly bytes: Buffer;
  /** Where the value came from, for messages: "manifest.jsonl line 3, attribute label". */
  readonly origin: string;
}

export type Unit = ObjectUnit | InlineUnit;
export type Item = readonly Unit[];

/** A human name for a unit, for messages. */
export function describeUnit(unit: Unit): string {
  return unit.kind === 'object' ? unit.store.uriOf(unit.key) : unit.origin;
}
