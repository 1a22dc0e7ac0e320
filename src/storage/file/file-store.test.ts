import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import path from 'node:path';
import { ioBuffers } from '../../core/buffer-pool.js';
import { ramp } from '../memory/memory-store.js';
import { FileStore, readFolderAhead } from './file-store.js';
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

test('listing: every file under the prefix once, in UTF-8 key order, with sizes, across folders, links and a cycle', async () => {
  await withFiles({}, async (dir) => {
    // more names per folder than stats in flight; "a.b" sorts before "a/" ('.' < '/'), "é" after "z"
    const files: Record<string, number> = { 'a.b': 3, 'a/x': 1, 'a/y/z': 2, 'ab': 0, 'z': 5, 'é': 4 };
    for (let i = 0; i < 100; i++) files[`many/f${String(i).padStart(3, '0')}`] = i;
    for (const [name, size] of Object.entries(files)) {
      await fs.mkdir(path.dirname(path.join(dir, name)), { recursive: true });
      await fs.writeFile(path.join(dir, name), Buffer.alloc(size, 1));
    }
    await fs.symlink(path.join(dir, 'a'), path.join(dir, 'link')); // a folder reached twice
    await fs.symlink(dir, path.join(dir, 'a', 'loop')); // a cycle
    await fs.symlink(path.join(dir, 'gone'), path.join(dir, 'dangling'));
    const store = new FileStore();
    const root = dir.slice(1) + '/';
    const listed = async (prefix: string): Promise<[string, number][]> => {
      const out: [string, number][] = [];
      for await (const info of store.list(root + prefix)) out.push([info.key.slice(root.length), info.size]);
      return out;
    };
    // a real folder is walked once: "link/" only where "a/" is not listed, and the loops never
    const viaLink = (prefix: string): Record<string, number> => (prefix.startsWith('li') ? { 'link/x': 1, 'link/y/z': 2 } : {});
    // a listing that starts inside "a/" meets the root first through "a/loop"
    const viaLoop = (prefix: string): Record<string, number> => (prefix === 'a/'
      ? Object.fromEntries(Object.entries(files).filter(([k]) => !k.startsWith('a/')).map(([k, v]) => [`a/loop/${k}`, v]))
      : {});
    const expected = (prefix: string): [string, number][] => Object.entries({ ...files, ...viaLink(prefix), ...viaLoop(prefix) })
      .filter(([k]) => k.startsWith(prefix))
      .sort(([a], [b]) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
    for (const prefix of ['', 'a', 'a/', 'many/f0', 'li', 'nothing']) assert.deepEqual(await listed(prefix), expected(prefix), `prefix "${prefix}"`);
  });
});

test('listing with startAfter: exactly the keys after it, whole folders before it skipped', async () => {
  await withFiles({}, async (dir) => {
    const names = ['a-1', 'a.b', 'a/x', 'a/y/z', 'a/y0', 'ab', 'b/c/d/e', 'b/c0', 'z', 'é/1', '😀'];
    for (const name of names) {
      await fs.mkdir(path.dirname(path.join(dir, name)), { recursive: true });
      await fs.writeFile(path.join(dir, name), name);
    }
    const store = new FileStore();
    const root = dir.slice(1) + '/';
    const all: string[] = [];
    for await (const info of store.list(root)) all.push(info.key.slice(root.length));
    assert.deepEqual(all, [...names].sort((x, y) => Buffer.compare(Buffer.from(x), Buffer.from(y))));
    // every key, and points between keys: inside a folder, a folder's own name, past the end
    for (const after of [...all, '', 'a', 'a/', 'a/y', 'a/y/', 'a0', 'b/c/', 'b/c/d', 'zz', '\u{10ffff}']) {
      const seen: string[] = [];
      let requests = 0;
      for await (const info of store.list(root, undefined, { startAfter: root + after, onRequest: () => requests++ })) seen.push(info.key.slice(root.length));
      assert.deepEqual(seen, all.filter((k) => Buffer.compare(Buffer.from(k), Buffer.from(after)) > 0), `startAfter "${after}"`);
      assert.equal(requests, 1);
    }
  });
});

test('listing streams: a file added to a later folder after the first key was taken is listed', async () => {
  await withFiles({}, async (dir) => {
    for (const name of ['a/1', 'b/1']) {
      await fs.mkdir(path.dirname(path.join(dir, name)), { recursive: true });
      await fs.writeFile(path.join(dir, name), name);
    }
    const store = new FileStore();
    const root = dir.slice(1) + '/';
    const seen: string[] = [];
    for await (const info of store.list(root)) {
      seen.push(info.key.slice(root.length));
      if (seen.length === 1) await fs.writeFile(path.join(dir, 'b', '0'), 'late');
    }
    assert.deepEqual(seen, ['a/1', 'b/0', 'b/1']);
  });
});

test('a folder read ahead is taken by the next listing of it, once; a missing one lists nothing', async () => {
  await withFiles({}, async (dir) => {
    for (const name of ['d/x-1', 'd/x/y', 'd/z']) {
      await fs.mkdir(path.dirname(path.join(dir, name)), { recursive: true });
      await fs.writeFile(path.join(dir, name), name);
    }
    const store = new FileStore();
    const keys = async (prefix: string): Promise<string[]> => {
      const out: string[] = [];
      for await (const info of store.list(prefix)) out.push(info.key.slice(dir.length - 1));
      return out;
    };
    const prefix = dir.slice(1) + '/d/';
    readFolderAhead(prefix);
    readFolderAhead(prefix); // a second hint for the same folder changes nothing
    await new Promise((resolve) => setTimeout(resolve, 50)); // the read ahead is done by now
    await fs.writeFile(path.join(dir, 'd', 'late'), 'd');
    // the listing starts from the names read ahead (as if it had started then), its folders as usual
    assert.deepEqual(await keys(prefix), ['/d/x-1', '/d/x/y', '/d/z']);
    assert.deepEqual(await keys(prefix), ['/d/late', '/d/x-1', '/d/x/y', '/d/z']);
    // a partial name's listing starts in the same folder
    readFolderAhead(dir.slice(1) + '/d/x');
    assert.deepEqual(await keys(dir.slice(1) + '/d/x'), ['/d/x-1', '/d/x/y']);
    // a folder that is not there: the read's failure is the listing's, an empty one (like S3)
    readFolderAhead(dir.slice(1) + '/missing/');
    await new Promise((resolve) => setTimeout(resolve, 20));
    assert.deepEqual(await keys(dir.slice(1) + '/missing/'), []);
  });
});

test('small reads: exact bytes of any range, and the version checks and errors of large ones', async () => {
  await withFiles({}, async (dir) => {
    const store = new FileStore();
    const body = ramp(5000, 3);
    const file = path.join(dir, 'f');
    await fs.writeFile(file, body);
    const info = await store.head(file.slice(1));
    const read = async (i: typeof info, start: number, end: number): Promise<Buffer> => {
      const chunks: Buffer[] = [];
      for await (const c of store.read(i, start, end)) chunks.push(c);
      return Buffer.concat(chunks);
    };
    for (const [start, end] of [[0, 5000], [0, 1], [4999, 5000], [1234, 4321]] as const) {
      assert.ok((await read(info, start, end)).equals(body.subarray(start, end)), `${start}-${end}`);
    }
    // replaced after the listing: a different version, refused before a byte is read
    await fs.writeFile(file, ramp(4000, 4));
    await assert.rejects(read(info, 0, 100), { code: 'PM_ERR_OBJECT_CHANGED', message: /changed after it was listed/ });
    await fs.rm(file);
    await assert.rejects(read(info, 0, 100), { code: 'PM_ERR_NO_SUCH_KEY' });
    // a range past the end of what is there now, under the same version token: truncated
    await fs.writeFile(file, body.subarray(0, 10));
    const short = await store.head(file.slice(1));
    await assert.rejects(read({ ...short, etag: undefined }, 0, 100), { code: 'PM_ERR_OBJECT_CHANGED', message: /ended at byte 10, expected 100/ });
  });
});
