import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Prng } from '../plan/prng.js';
import { dealFiles, dealOrder, filesForInstance } from './instance-deal.js';

const keys = Array.from({ length: 103 }, (_, i) => `in/part-${String(i).padStart(4, '0')}.csv`).concat(['in/é.csv', 'in/z.csv', 'in/😀.csv', 'in/\uffff.csv']);

function shuffled<T>(items: readonly T[], seed: number): T[] {
  const out = [...items];
  const prng = new Prng(BigInt(seed), 0);
  for (let i = out.length - 1; i > 0; i--) {
    const j = prng.below(i + 1);
    [out[i], out[j]] = [out[j] as T, out[i] as T];
  }
  return out;
}

test('every file goes to exactly one instance, for every count', () => {
  for (const count of [1, 2, 3, 7, 64, 200]) {
    const all = Array.from({ length: count }, (_, rank) => filesForInstance(keys, rank, count)).flat();
    assert.deepEqual(all.sort(), [...keys].sort(), `count ${count}`);
  }
});

test('instances get counts that differ by at most one', () => {
  for (const count of [2, 5, 10]) {
    const sizes = dealFiles(keys, count).map((h) => h.length);
    assert.ok(Math.max(...sizes) - Math.min(...sizes) <= 1, `count ${count}: ${sizes.join(',')}`);
  }
});

test('the deal does not depend on listing order (separate processes agree)', () => {
  for (const seed of [1, 2, 3]) {
    const other = shuffled(keys, seed);
    for (let rank = 0; rank < 4; rank++) assert.deepEqual(filesForInstance(other, rank, 4), filesForInstance(keys, rank, 4));
  }
});

test('one process dealing to all ranks equals each rank dealing for itself', () => {
  const hands = dealFiles(keys, 6);
  hands.forEach((hand, rank) => assert.deepEqual(hand, filesForInstance(shuffled(keys, rank + 10), rank, 6)));
});

test('deal order is UTF-8 byte order (S3 listing order), not UTF-16 order', () => {
  const order = dealOrder(['b', '\uffff', '😀', 'a']);
  assert.deepEqual(order, ['a', 'b', '\uffff', '😀']);
});

test('a key listed twice is dealt twice', () => {
  const twice = ['a', 'a', 'b'];
  assert.deepEqual(dealFiles(twice, 2).flat().sort(), twice);
});

test('bad ranks and counts are ConfigErrors', () => {
  assert.throws(() => filesForInstance(keys, 2, 2), /rank must be an integer from 0 to 1, got 2/);
  assert.throws(() => filesForInstance(keys, 0, 0), /count must be a positive integer/);
  assert.throws(() => filesForInstance(keys, -1, 3), (err: Error & { code?: string }) => err.code === 'PM_ERR_CONFIG');
});
