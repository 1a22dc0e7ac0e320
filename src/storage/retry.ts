/**
 * Retrying transient store failures: capped exponential backoff with jitter, a bounded number
 * of attempts, and resumption of byte ranges from the last delivered byte (the range request is
 * re-issued for what is missing, still pinned to the listed version by the store). Only errors
 * marked `retryable` are retried; once attempts run out the caller gets RetriesExhaustedError
 * with the last failure as its cause.
 */
import { randomInt } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { AbortedError, PipemodeError, RetriesExhaustedError, throwIfAborted } from '../core/errors.js';
import type { ObjectInfo, ObjectStore } from './object-store.js';

export interface RetryPolicy {
  /** Attempts per request, the first included. @default 10 */
  readonly maxAttempts: number;
  /** Backoff before the first retry. @default 200 ms */
  readonly baseDelayMs: number;
  /** Backoff ceiling. @default 20 s */
  readonly maxDelayMs: number;
}

export const DEFAULT_RETRY_POLICY: RetryPolicy = Object.freeze({ maxAttempts: 10, baseDelayMs: 200, maxDelayMs: 20_000 });

/** Called before each retry with the error that caused it. */
export type RetryListener = (error: PipemodeError, attempt: number) => void;

/** Delay before retry number `attempt` (1-based): random in [d/2, d], d = min(cap, base·2^(attempt-1)). */
export function backoffDelay(policy: RetryPolicy, attempt: number): number {
  const ceiling = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** Math.min(attempt - 1, 30));
  const half = Math.floor(ceiling / 2);
  return half + (ceiling - half > 0 ? randomInt(ceiling - half + 1) : 0);
}

function asRetryable(err: unknown): PipemodeError | undefined {
  return err instanceof PipemodeError && err.retryable ? err : undefined;
}

async function pause(policy: RetryPolicy, attempt: number, signal: AbortSignal | undefined): Promise<void> {
  try {
    await sleep(backoffDelay(policy, attempt), undefined, signal !== undefined ? { signal } : {});
  } catch {
    throw new AbortedError('aborted during retry backoff', {}, { cause: signal?.reason });
  }
}

/** Runs `op` until it succeeds, fails for good, or runs out of attempts. */
export async function withRetry<T>(
  op: () => Promise<T>, policy: RetryPolicy, signal?: AbortSignal, onRetry?: RetryListener,
): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    throwIfAborted(signal);
    try {
      return await op();
    } catch (err) {
      const transient = asRetryable(err);
      if (transient === undefined || signal?.aborted) throw err;
      if (attempt >= policy.maxAttempts) {
        throw new RetriesExhaustedError(`gave up after ${attempt} attempts: ${transient.message}`, { ...transient.details, attempts: attempt }, { cause: err });
      }
      onRetry?.(transient, attempt);
      await pause(policy, attempt, signal);
    }
  }
}

/**
 * Bytes [start, end) of `info`, surviving transient failures: after a failure it asks again for
 * the bytes not yet delivered. Yields exactly end - start bytes or throws.
 */
export async function* readRangeWithRetry(
  store: ObjectStore, info: ObjectInfo, start: number, end: number,
  policy: RetryPolicy, signal?: AbortSignal, onRetry?: RetryListener,
): AsyncIterable<Buffer> {
  let position = start;
  let failures = 0;
  while (position < end) {
    throwIfAborted(signal);
    try {
      for await (const chunk of store.read(info, position, end, signal)) {
        position += chunk.length;
        yield chunk;
      }
      // a store that returns fewer bytes than asked without an error is a bug: refuse to go on
      if (position !== end) throw new Error(`store returned ${position - start} of ${end - start} bytes for ${store.uriOf(info.key)}`);
    } catch (err) {
      const transient = asRetryable(err);
      if (transient === undefined || signal?.aborted) throw err;
      failures++;
      if (failures >= policy.maxAttempts) {
        throw new RetriesExhaustedError(`gave up reading ${store.uriOf(info.key)} at byte ${position} after ${failures} attempts: ${transient.message}`, {
          ...transient.details, attempts: failures, offset: position,
        }, { cause: err });
      }
      onRetry?.(transient, failures);
      await pause(policy, failures, signal);
    }
  }
}
