/**
 * Writing side of a store, for what a training job produces: model and output archives and
 * checkpoints. `put` streams a body (an upload never holds a whole archive in memory) and makes
 * the object visible only when complete; `remove` deletes one key (absent is fine).
 */
import type { Readable } from 'node:stream';

export interface ObjectWriter {
  uriOf(key: string): string;
  put(key: string, body: Readable, signal?: AbortSignal): Promise<void>;
  remove(key: string): Promise<void>;
}
