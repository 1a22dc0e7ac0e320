import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { tryLockExclusive } from '../core/libc.js';
import { PORT_BLOCK_SIZE, reservePortBlock, type PortBlock } from './port-block.js';

/** Whether another open file could take the block's lock now (closing it drops that lock again). */
function lockable(port: number): boolean {
  const fd = fs.openSync(path.join(os.tmpdir(), 'pipemode-ports', String(port)), 'r');
  try {
    return tryLockExclusive(fd);
  } finally {
    fs.closeSync(fd);
  }
}

test('port blocks: disjoint, the bind port outside its own range, each port free, locked while held and free after', async () => {
  const blocks: PortBlock[] = [];
  try {
    for (let i = 0; i < 12; i++) blocks.push(await reservePortBlock());
    const ports = new Set<number>();
    for (const b of blocks) {
      const m = /^(\d+)-(\d+)$/.exec(b.safeRange);
      assert.ok(m !== null, b.safeRange);
      const lo = Number(m[1]);
      const hi = Number(m[2]);
      assert.equal(lo, b.port + 1);
      assert.equal(hi - lo + 1, PORT_BLOCK_SIZE - 1);
      for (let p = b.port; p <= hi; p++) {
        assert.ok(!ports.has(p), `port ${p} in two blocks`);
        ports.add(p);
      }
      assert.ok(!lockable(b.port), `block ${b.port} is locked while held`);
    }
    // a port of a block can be bound (nothing listens there)
    const first = blocks[0] as PortBlock;
    await new Promise<void>((resolve, reject) => {
      const s = net.createServer().once('error', reject).listen(first.port, '127.0.0.1', () => s.close(() => resolve()));
    });
  } finally {
    for (const b of blocks) b.release();
  }
  for (const b of blocks) assert.ok(lockable(b.port), `block ${b.port} is free once released`);
});
