/**
 * Which input files each of a job's InstanceCount instances transforms. SageMaker says only that
 * "different files go to different instances" (batch-transform guide); the rule here is ours:
 * sort the keys by their UTF-8 bytes (S3's listing order), then deal them round-robin, so the
 * i-th key goes to instance i mod count. The rule depends on nothing but the set of keys, so one
 * process dealing to all ranks and separate `--instance-rank/--instance-count` processes, each
 * listing in whatever order, agree; every file goes to exactly one instance, counts differ by at
 * most one. A key listed twice (a manifest may) is two inputs and is dealt twice.
 */
import { ConfigError } from '../core/errors.js';

function compareUtf8(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));
}

/** `keys` in the order every rank agrees on. */
export function dealOrder(keys: readonly string[]): string[] {
  return [...keys].sort(compareUtf8);
}

function checkRank(rank: number, count: number): void {
  if (!Number.isSafeInteger(count) || count < 1) throw new ConfigError(`instance count must be a positive integer, got ${count}`, { field: 'instance-count' });
  if (!Number.isSafeInteger(rank) || rank < 0 || rank >= count) {
    throw new ConfigError(`instance rank must be an integer from 0 to ${count - 1}, got ${rank}`, { field: 'instance-rank' });
  }
}

/** The files instance `rank` (0-based) of `count` transforms, in deal order. */
export function filesForInstance(keys: readonly string[], rank: number, count: number): string[] {
  checkRank(rank, count);
  return dealOrder(keys).filter((_, i) => i % count === rank);
}

/** Every instance's files at once: `result[rank]` equals `filesForInstance(keys, rank, count)`. */
export function dealFiles(keys: readonly string[], count: number): string[][] {
  checkRank(0, count);
  const hands: string[][] = Array.from({ length: count }, () => []);
  dealOrder(keys).forEach((key, i) => hands[i % count]?.push(key));
  return hands;
}
