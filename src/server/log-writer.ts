/**
 * Container output lines → the log store, in batches: lines are buffered and written in one
 * transaction every `flushMs` (or once `maxBatch` are waiting), so a chatty trainer costs one
 * SQLite commit per batch, not per line. Lines longer than 256 KiB (CloudWatch's event limit)
 * are cut. `flush()` writes what is waiting now (before a job's final status is stored, so the
 * log is complete when a waiter sees Completed).
 */
import type { NewLogLine, StateStore } from './state-store.js';

const MAX_EVENT_BYTES = 256 * 1024 - 26;

export class LogWriter {
  readonly #store: StateStore;
  readonly #flushMs: number;
  readonly #maxBatch: number;
  #pending: NewLogLine[] = [];
  #timer: NodeJS.Timeout | undefined;

  constructor(store: StateStore, options: { flushMs?: number; maxBatch?: number } = {}) {
    this.#store = store;
    this.#flushMs = options.flushMs ?? 200;
    this.#maxBatch = options.maxBatch ?? 1000;
  }

  line(group: string, stream: string, message: string): void {
    const text = message.length > MAX_EVENT_BYTES / 4 && Buffer.byteLength(message) > MAX_EVENT_BYTES
      ? Buffer.from(message).subarray(0, MAX_EVENT_BYTES).toString('utf8') : message;
    this.#pending.push({ group, stream, timestamp: Date.now(), message: text });
    if (this.#pending.length >= this.#maxBatch) this.flush();
    else if (this.#timer === undefined) {
      this.#timer = setTimeout(() => this.flush(), this.#flushMs);
      this.#timer.unref();
    }
  }

  flush(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    const lines = this.#pending;
    this.#pending = [];
    if (lines.length > 0 && this.#store.db.open) this.#store.appendLogs(lines);
  }
}
