/**
 * The marker `<fifo>.error` (JSON {"code", "message"}) that pipemode writes before it closes an
 * epoch's FIFO early (a failure, or pipemode being stopped): EOF on a FIFO cannot say "incomplete",
 * so a reader checks for the marker once it reaches EOF and turns it into the typed error.
 *
 * A marker left over from an earlier run must not fail a good epoch: pipemode writes the marker
 * only after a reader attached, so one that exists before we open the FIFO is stale. The state
 * seen before the open is remembered, and only a marker that is new or changed since counts.
 */
import fs from 'node:fs';
import { errorFromCode } from '../core/error-codes.js';
import type { PipemodeError } from '../core/errors.js';

export class EpochMarker {
  readonly path: string;
  readonly #before: string | undefined;

  /** Snapshots the marker of `fifo`; call before opening the FIFO. */
  constructor(fifo: string) {
    this.path = `${fifo}.error`;
    this.#before = identity(this.path);
  }

  /** After EOF: the error the marker reports, if a fresh one exists. */
  failure(context: string): PipemodeError | undefined {
    const now = identity(this.path);
    if (now === undefined || now === this.#before) return undefined;
    let code = 'PM_ERR_INTERNAL';
    let message = 'no message';
    try {
      const parsed = JSON.parse(fs.readFileSync(this.path, 'utf8')) as { code?: unknown; message?: unknown };
      if (typeof parsed.code === 'string') code = parsed.code;
      if (typeof parsed.message === 'string') message = parsed.message;
    } catch (err) {
      message = `unreadable marker: ${(err as Error).message}`;
    }
    return errorFromCode(code, `${context} ended incomplete (${this.path}): ${message}`, { marker: this.path });
  }
}

/** A file's identity for "did it change": inode, size, mtime; undefined when absent. */
function identity(path: string): string | undefined {
  try {
    const st = fs.statSync(path);
    return `${st.ino}:${st.size}:${st.mtimeMs}`;
  } catch {
    return undefined;
  }
}
