import { test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { ioBuffers } from '../../core/buffer-pool.js';
import { ramp } from '../memory/memory-store.js';
import { FileStore } from './file-store.js';
import { withFiles } from '../../../test/helpers/temp-files.js';

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
