/**
 * ContainerProcess.start: the process group is announced (onSpawned) before start resolves, and
 * the guardian that kills the container if pipemode dies is running from that moment on. Real
 * processes: a Node process stands in for pipemode and SIGKILLs itself at the earliest point.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';
import { ContainerProcess, pidAlive } from './container-process.js';
import { EntrypointError } from '../core/errors.js';

test('onSpawned gets the process group before start resolves; a command that cannot start gets none', async () => {
  const seen: number[] = [];
  const started = ContainerProcess.start({ command: ['sleep', '30'], env: process.env, onSpawned: (pgid) => seen.push(pgid) });
  assert.equal(seen.length, 1, 'called synchronously, before start resolves');
  const cp = await started;
  assert.deepEqual(seen, [cp.pid]);
  cp.kill();
  assert.equal((await cp.exited).signal, 'SIGKILL');

  const none: number[] = [];
  await assert.rejects(ContainerProcess.start({ command: ['/nonexistent/pipemode-test-cmd'], env: process.env, onSpawned: (p) => none.push(p) }), (err: unknown) => {
    assert.ok(err instanceof EntrypointError);
    assert.match(err.message, /cannot start the command/);
    return true;
  });
  assert.deepEqual(none, []);
});

test('pipemode SIGKILLed the moment its container exists: the guardian still kills the container', async () => {
  // the stand-in for pipemode prints the group and kills itself inside onSpawned, before start resolves
  const module = new URL('./container-process.js', import.meta.url).href;
  const script = `
    import { ContainerProcess } from ${JSON.stringify(module)};
    ContainerProcess.start({ command: ['sleep', '30'], env: process.env, stdio: 'pipe', onSpawned: (pgid) => {
      process.stdout.write(String(pgid));
      process.kill(process.pid, 'SIGKILL');
    } });`;
  const run = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8', timeout: 20_000 });
  assert.equal(run.signal, 'SIGKILL', run.stderr);
  const pgid = Number(run.stdout);
  assert.ok(pgid > 0, `the group was announced: ${JSON.stringify(run.stdout)}`);
  for (const end = Date.now() + 10_000; pidAlive(pgid) && Date.now() < end;) await sleep(20);
  assert.ok(!pidAlive(pgid), `container ${pgid} outlived pipemode`);
});
