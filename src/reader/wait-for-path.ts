/**
 * Waits for a path to exist, polling with stat (SageMaker's documented reader protocol: "if the
 * file for a given epoch doesn't exist yet, your code may need to retry until the pipe is
 * created"). Polls every 10 ms at first, backing off to 100 ms; costs no thread while waiting.
 */
import fs from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { AbortedError, FifoError } from '../core/errors.js';

export async function waitForPath(path: string, timeoutMs: number, signal?: AbortSignal): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  for (let delay = 10; ; delay = Math.min(100, delay * 2)) {
    if (fs.existsSync(path)) return;
    if (performance.now() >= deadline) {
      throw new FifoError(`${path} did not appear within ${Math.round(timeoutMs / 1000)} s: is pipemode serving this channel into this folder?`, { path, timeoutMs });
    }
    try {
      await sleep(delay, undefined, signal === undefined ? {} : { signal });
    } catch (err) {
      throw new AbortedError(`waiting for ${path} was aborted`, { path }, { cause: err });
    }
  }
}
