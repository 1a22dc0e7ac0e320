/**
 * Abort signals, one way everywhere: `childAbort` gives an operation its own controller whose
 * signal also follows the caller's (AbortSignal.any, no hand-made forwarding), and `onAbort`
 * adds a listener and returns the function that removes it, so every listener is removed when
 * its operation ends — whether it ended by abort or not.
 */
import { setMaxListeners } from 'node:events';

export interface ChildAbort {
  /** Aborted when `abort()` is called or the parent aborts (with the parent's reason). */
  readonly signal: AbortSignal;
  abort(reason?: unknown): void;
}

/**
 * An operation's own abort, tied to its caller's signal. `listeners`: how many listeners the
 * operation will add (one per request in flight, say); 0 lifts Node's warning limit.
 */
export function childAbort(parent?: AbortSignal, listeners?: number): ChildAbort {
  const own = new AbortController();
  const signal = parent === undefined ? own.signal : AbortSignal.any([own.signal, parent]);
  if (listeners !== undefined) setMaxListeners(listeners, signal);
  return { signal, abort: (reason?: unknown) => own.abort(reason) };
}

/** Calls `fn` once when `signal` aborts (at once if it has); returns the remover. */
export function onAbort(signal: AbortSignal | undefined, fn: () => void): () => void {
  if (signal === undefined) return () => {};
  if (signal.aborted) {
    fn();
    return () => {};
  }
  signal.addEventListener('abort', fn, { once: true });
  return () => signal.removeEventListener('abort', fn);
}
