/**
 * S3Prefix: every object whose key starts with the prefix (a plain string prefix, not a folder
 * boundary), in ascending UTF-8 key order, with zero-byte "folder/" marker keys skipped. No
 * match is an error, as it is for a SageMaker job. The listing is made by several requests in
 * parallel (prefix-listing.ts); the result is the serial listing's.
 *
 * `itemsFromPrefix` waits for the whole listing. `PrefixItems` hands the items out in key order
 * while the listing is still under way, so a channel streamed in key order (no ShuffleConfig)
 * starts on the first page.
 */
import type { ObjectStore } from '../storage/object-store.js';
import { PrefixListing } from './prefix-listing.js';
import type { Item, ObjectUnit } from './unit.js';

export async function itemsFromPrefix(store: ObjectStore, prefix: string, signal?: AbortSignal): Promise<Item[]> {
  return (await PrefixListing.start(store, prefix, signal).all()).map((info): Item => [{ kind: 'object', store, key: info.key, info }]);
}

/** An S3Prefix channel's items as they are listed. */
export class PrefixItems {
  readonly #listing: PrefixListing;
  readonly #store: ObjectStore;
  readonly #check: (unit: ObjectUnit) => void;
  /** The items listed so far, in key order; all of them once `listed` has settled. */
  readonly items: Item[] = [];
  /** Settles with every item when the listing is complete (or rejects with its failure). */
  readonly listed: Promise<readonly Item[]>;
  #complete = false;
  /** Settles once `items` holds an item. */
  readonly #someItems: Promise<void>;

  /**
   * `check` runs on every object as it is listed; what it throws fails the listing's readers.
   * `parallel`: listing requests at most at a time (PrefixListing).
   */
  constructor(store: ObjectStore, prefix: string, signal: AbortSignal | undefined, check: (unit: ObjectUnit) => void = () => {}, parallel?: number) {
    this.#store = store;
    this.#check = check;
    this.#listing = PrefixListing.start(store, prefix, signal, parallel);
    let someItems: () => void = () => {};
    this.#someItems = new Promise<void>((resolve) => (someItems = resolve));
    this.listed = (async () => {
      for await (const batch of this.batches()) {
        for (const item of batch) this.items.push(item);
        someItems();
      }
      this.#complete = true;
      return this.items;
    })();
    this.listed.catch(() => {}); // seen by whoever awaits it, or by the readers of `batches()`
  }

  /** Whether every item is listed (and in `items`). */
  get complete(): boolean {
    return this.#complete;
  }

  /**
   * Settles once the first page is listed and its items are in `items` (if that was the whole
   * listing, every item). Rejects with the listing's failure, EmptySourceError included, if it
   * came by then.
   */
  async started(): Promise<void> {
    await this.#listing.firstPage;
    if (this.#listing.done) await this.listed;
    // the first page's objects in `items` (readers are woken once per turn of the event loop)
    else await Promise.race([this.#someItems, this.listed]);
  }

  /** Every item in key order, in batches, as listed (each call reads from the first item). */
  async *batches(): AsyncGenerator<Item[]> {
    for await (const batch of this.#listing.objects()) {
      yield batch.map((info): Item => {
        const unit: ObjectUnit = { kind: 'object', store: this.#store, key: info.key, info };
        this.#check(unit);
        return [unit];
      });
    }
  }
}
