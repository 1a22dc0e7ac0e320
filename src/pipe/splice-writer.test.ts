import assert from 'node:assert/strict';
import { test } from 'node:test';
import { threadsStarted } from '../core/thread-starts.js';
import { prewarmSpliceWorker } from './splice-writer.js';

test('a prewarmed splice worker holds the CLI\'s exit until its modules are loaded', async () => {
  prewarmSpliceWorker();
  let started = false;
  const waiting = threadsStarted().then(() => (started = true));
  // a thread cannot start and load koffi within one turn of this loop
  await new Promise((resolve) => setImmediate(resolve));
  assert.equal(started, false);
  await waiting;
  assert.equal(started, true);
});
