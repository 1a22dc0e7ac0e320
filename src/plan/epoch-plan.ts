/**
 * The order in which one host streams a channel's items in one epoch: a pure function of the
 * item list, the shuffle seed, the epoch number, the host rank and the host count. No I/O, no
 * clock, no global randomness, so every host of a job computes the same global order on its own
 * and the hosts need no coordinator.
 *
 * 1. Shuffle (only with ShuffleConfig): Fisher-Yates over the whole list with Prng(seed, epoch),
 *    i = n-1 … 1, j = below(i+1), swap — a fresh order every epoch.
 * 2. Shard (only with ShardedByS3Key): host r of N takes positions r, r+N, r+2N, … of that order.
 *    Shuffling first means an item may move to another host from one epoch to the next, as AWS
 *    documents for ShuffleConfig with ShardedByS3Key. (AWS's own assignment function is not
 *    published; this one is balanced to within one item.)
 *
 * Without ShuffleConfig, position i of the listing goes to host i mod N (`takesPosition`), which
 * a channel streamed while it is listed applies item by item.
 */
import type { Distribution } from '../channel/channel-spec.js';
import { Prng } from './prng.js';

export interface EpochPlanOptions {
  readonly seed: bigint | undefined;
  readonly epoch: number;
  readonly distribution: Distribution;
  /** 0-based rank of this host. */
  readonly hostRank: number;
  readonly hostCount: number;
}

/** Returns a new array: the items this host streams in this epoch, in order. */
export function planEpoch<T>(items: readonly T[], options: EpochPlanOptions): T[] {
  const order = [...items];
  if (options.seed !== undefined) {
    const prng = new Prng(options.seed, options.epoch);
    for (let i = order.length - 1; i > 0; i--) {
      const j = prng.below(i + 1);
      const t = order[i] as T;
      order[i] = order[j] as T;
      order[j] = t;
    }
  }
  if (options.distribution === 'FullyReplicated' || options.hostCount === 1) return order;
  return order.filter((_, position) => takesPosition(position, options));
}

/**
 * The shard step alone: whether this host takes the item at `position` of the epoch's order.
 * Without ShuffleConfig the order is the item list itself, so a host can deal items as they are
 * listed, one position at a time, and take exactly what planEpoch would give it.
 */
export function takesPosition(position: number, options: Pick<EpochPlanOptions, 'distribution' | 'hostRank' | 'hostCount'>): boolean {
  return options.distribution === 'FullyReplicated' || options.hostCount === 1 || position % options.hostCount === options.hostRank;
}
