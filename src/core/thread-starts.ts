/**
 * Worker threads still starting up. A thread that the process's exit stops while it loads a native
 * module (koffi, for the splice worker) can abort the whole process ("FATAL ERROR: napi_throw",
 * exit 134), after a job that had completed. So whoever starts a thread registers its start here,
 * and the CLI waits for every start before it exits (`threadsStarted`). Starting takes ~40 ms.
 */
import type { Worker } from 'node:worker_threads';

const starting = new Set<Promise<void>>();

/** Registers a thread's start-up: `started` settles once the thread has loaded its modules (or exited). */
export function trackThreadStart(started: Promise<void>): void {
  starting.add(started);
  void started.finally(() => starting.delete(started));
}

/**
 * Registers a worker whose first message says its modules are loaded (the splice and FUSE reader
 * threads post it before anything else); returns the start, after which it may be stopped.
 */
export function trackWorkerStart(worker: Worker): Promise<void> {
  const started = new Promise<void>((resolve) => {
    worker.once('message', () => resolve());
    worker.once('exit', () => resolve());
  });
  trackThreadStart(started);
  return started;
}

/** Resolves once no thread is starting, or after `timeoutMs` (a thread that never starts must not hold the exit). */
export async function threadsStarted(timeoutMs = 10_000): Promise<void> {
  if (starting.size === 0) return;
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([
    Promise.all(starting),
    // a timer that keeps the process alive: the threads themselves may not (a spare is unref'd)
    new Promise<void>((resolve) => (timer = setTimeout(resolve, timeoutMs))),
  ]);
  clearTimeout(timer);
}
