import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { ioBuffers } from '../../core/buffer-pool.js';
import { Prefetcher } from '../../fetch/prefetcher.js';
import { ramp } from '../memory/memory-store.js';
import { FileStore } from './file-store.js';

async function withFiles(bodies: Record<string, Buffer>, fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'pipemode-file-store-'));
  try {
    for (const [name, body] of Object.entries(bodies)) await fs.writeFile(path.join(dir, name), body);
    await fn(dir);
  } finally {
    await fs.rm(dir, { recursive: true, force: true });
  }
}

test('a small file is read into an exact-size buffer, not a pooled one', async () => {
  const small = ramp(8 * 1024, 1);
  await withFiles({ small }, async (dir) => {
    const store = new FileStore();
    const info = await store.head(path.join(dir, 'small').slice(1));
    const chunks: Buffer[] = [];
    for await (const chunk of store.read(info, 0, info.size)) chunks.push(chunk);
    assert.equal(chunks.length, 1);
    const chunk = chunks[0] as Buffer;
    assert.equal(ioBuffers.owns(chunk), false);
    assert.equal(chunk.buffer.byteLength, small.length);
    assert.ok(chunk.equals(small));
  });
});

test('a large file is read into pooled buffers, its small tail into an exact-size one', async () => {
  const large = ramp(ioBuffers.size + 1000, 2);
  await withFiles({ large }, async (dir) => {
    const store = new FileStore();
    const info = await store.head(path.join(dir, 'large').slice(1));
    const chunks: Buffer[] = [];
    for await (const chunk of store.read(info, 0, info.size)) chunks.push(chunk);
    assert.deepEqual(chunks.map((c) => [c.length, ioBuffers.owns(c)]), [[ioBuffers.size, true], [1000, false]]);
    assert.ok(Buffer.concat(chunks).equals(large));
  });
});

test('the prefetcher holds a small file in its exact-size buffer (no pooled buffer, no copy)', async () => {
  const small = ramp(8 * 1024, 3);
  await withFiles({ small }, async (dir) => {
    const store = new FileStore();
    const key = path.join(dir, 'small').slice(1);
    const prefetcher = new Prefetcher([{ kind: 'object', store, key, info: await store.head(key) }], {
      partSize: 1 << 20, maxRequests: 2, memoryBudget: 16 << 20, retry: { maxAttempts: 1, baseDelayMs: 1, maxDelayMs: 1 },
    });
    const chunks: Buffer[] = [];
    for await (const unit of prefetcher) for await (const batch of unit.chunks) chunks.push(...batch);
    assert.equal(chunks.length, 1);
    const chunk = chunks[0] as Buffer;
    assert.equal(ioBuffers.owns(chunk), false);
    assert.equal(chunk.buffer.byteLength, small.length);
    assert.ok(chunk.equals(small));
  });
});
