import assert from 'node:assert/strict';
import { test } from 'node:test';
import { threadsStarted, trackThreadStart } from './thread-starts.js';

test('threadsStarted waits for every registered start, and no longer than its timeout', async () => {
  await threadsStarted(); // nothing registered: at once
  let release: () => void = () => {};
  trackThreadStart(new Promise<void>((resolve) => (release = resolve)));
  let done = false;
  const waiting = threadsStarted().then(() => (done = true));
  await new Promise((resolve) => setImmediate(resolve));
  assert.equal(done, false, 'a start still under way holds it');
  release();
  await waiting;
  assert.equal(done, true);
  trackThreadStart(new Promise<void>(() => {})); // a thread that never starts
  const t0 = performance.now();
  await threadsStarted(50);
  assert.ok(performance.now() - t0 < 5_000, 'the timeout lets the exit go on');
});
