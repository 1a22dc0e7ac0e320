import { test } from 'node:test';
import assert from 'node:assert/strict';
import { UnsafeKeyError } from '../core/errors.js';
import { MemoryStore } from '../storage/memory/memory-store.js';
import { MountTree, type MountEntry } from './mount-tree.js';

const store = new MemoryStore();

function entry(key: string, size: number, rel: string, mtimeMs?: number): MountEntry {
  return { store, rel, info: { key, size, etag: `"${key}"`, ...(mtimeMs !== undefined ? { mtimeMs } : {}) } };
}

test('folders come from the keys, names are sorted by UTF-8 bytes per folder, files keep listing order', () => {
  const tree = MountTree.build([
    entry('p/train/b.csv', 2, 'train/b.csv', 2000),
    entry('p/train-1.csv', 1, 'train-1.csv', 1000),
    entry('p/train/a/x.csv', 3, 'train/a/x.csv', 5000),
    entry('p/train/a.csv', 4, 'train/a.csv'),
  ], 9999);
  assert.deepEqual(tree.root.names, ['train', 'train-1.csv']);
  const train = tree.lookup('/train');
  assert.equal(train?.kind, 'dir');
  assert.deepEqual(train?.kind === 'dir' ? train.names : [], ['a', 'a.csv', 'b.csv']);
  assert.deepEqual(tree.files.map((f) => f.path), ['/train-1.csv', '/train/a.csv', '/train/a/x.csv', '/train/b.csv']);
  assert.deepEqual(tree.files.map((f) => f.index), [0, 1, 2, 3]);
  assert.equal(tree.totalBytes, 10);
  assert.equal(tree.largestFile, 4);
  const x = tree.lookup('/train/a/x.csv');
  assert.equal(x?.kind === 'file' ? x.info.size : -1, 3);
  // mtimes from the listing, the fallback where there is none; a folder has its newest file's
  assert.equal(tree.lookup('/train/a.csv')?.kind === 'file' ? (tree.lookup('/train/a.csv') as { mtimeMs: number }).mtimeMs : 0, 9999);
  assert.equal(train?.mtimeMs, 9999);
  assert.equal((tree.lookup('/train/a') as { mtimeMs: number }).mtimeMs, 5000);
  assert.equal(tree.lookup('/nope'), undefined);
  assert.equal(tree.lookup('/train/'), undefined);
});

test('a key that is both a file and a folder is refused', () => {
  assert.throws(() => MountTree.build([entry('p/a', 1, 'a'), entry('p/a/b', 1, 'a/b')], 0), UnsafeKeyError);
  assert.throws(() => MountTree.build([entry('p/a/b', 1, 'a/b'), entry('p/a', 1, 'a')], 0), UnsafeKeyError);
});

test('keys that would leave the mount point or are not files are refused', () => {
  for (const rel of ['../x', 'a/../../x', 'a//b', './a', 'a/', '']) {
    assert.throws(() => MountTree.build([entry(`p/${rel}`, 1, rel)], 0), UnsafeKeyError, rel);
  }
});

test('an empty listing is an empty root', () => {
  const tree = MountTree.build([], 42);
  assert.deepEqual(tree.root.names, []);
  assert.equal(tree.root.mtimeMs, 42);
  assert.equal(tree.files.length, 0);
});
