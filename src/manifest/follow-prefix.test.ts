import { test } from 'node:test';
import assert from 'node:assert/strict';
import { compareKeys, type ObjectInfo } from '../storage/object-store.js';
import { FollowPlanner, type ListingRequest } from './follow-prefix.js';

/** A store model: what a listing returns for a request, in key order. */
function list(objects: Map<string, ObjectInfo>, request: ListingRequest): ObjectInfo[] {
  return [...objects.values()]
    .filter((o) => request.startAfter === undefined || compareKeys(o.key, request.startAfter) > 0)
    .sort((a, b) => compareKeys(a.key, b.key));
}

/** A small seeded generator for the test's random interleavings (xorshift32). */
class Rng {
  #s: number;
  constructor(seed: number) {
    this.#s = seed * 2654435761 >>> 0 || 1;
  }
  below(n: number): number {
    this.#s ^= this.#s << 13;
    this.#s >>>= 0;
    this.#s ^= this.#s >>> 17;
    this.#s ^= this.#s << 5;
    this.#s >>>= 0;
    return this.#s % n;
  }
}

const info = (key: string, version: number, mtimeMs?: number): ObjectInfo => ({ key, size: 1, etag: `"v${version}"`, ...(mtimeMs !== undefined ? { mtimeMs } : {}) });

for (const timeOrdered of [true, false]) {
  test(`planner: random writes, deletes and polls (${timeOrdered ? 'time-ordered' : 'random'} keys): no key twice, nothing missed`, () => {
    for (let seed = 1; seed <= 40; seed++) {
      const prng = new Rng(seed);
      const objects = new Map<string, ObjectInfo>();
      let version = 0;
      let serial = 1000;
      const newKey = (): string => (timeOrdered ? `t/${serial++}` : `t/${prng.below(500).toString().padStart(3, '0')}-${prng.below(10)}`);
      for (let i = 0; i < 20; i++) {
        const key = newKey();
        objects.set(key, info(key, ++version));
      }
      const initial = [...objects.values()].sort((a, b) => compareKeys(a.key, b.key));
      const rescanEvery = 1 + prng.below(5);
      const planner = new FollowPlanner(initial, { rescanEvery, settleMs: 0 });
      const emitted = new Set(initial.map((o) => o.key));
      const ever = new Set(emitted);
      let sinceFull = 0;
      const written: string[] = [];
      for (let step = 0; step < 300; step++) {
        const op = prng.below(10);
        if (op < 5) {
          const key = newKey();
          objects.set(key, info(key, ++version));
          ever.add(key);
          written.push(key);
        } else if (op < 6 && objects.size > 0) {
          const keys = [...objects.keys()];
          objects.delete(keys[prng.below(keys.length)] as string);
        } else if (op < 7 && objects.size > 0) {
          const keys = [...objects.keys()];
          const key = keys[prng.below(keys.length)] as string;
          objects.set(key, info(key, ++version)); // a rewrite is not a new object
        } else {
          const request = planner.next();
          const found = planner.observe(request, list(objects, request), 0);
          for (const o of found) {
            assert.ok(!emitted.has(o.key), `seed ${seed}: ${o.key} reported twice`);
            emitted.add(o.key);
          }
          // keys come out in listing order within a poll
          assert.deepEqual(found.map((o) => o.key), [...found.map((o) => o.key)].sort(compareKeys));
          if (request.full) {
            // a full listing reports everything present
            for (const key of objects.keys()) assert.ok(emitted.has(key), `seed ${seed}: ${key} missed by a full listing`);
            sinceFull = 0;
          } else {
            sinceFull++;
            assert.ok(sinceFull < rescanEvery, 'a full listing comes every rescanEvery polls');
          }
          if (timeOrdered) {
            // keys after every key seen: an incremental poll finds them at once
            for (const key of written) if (objects.has(key)) assert.ok(emitted.has(key), `seed ${seed}: time-ordered ${key} not found by the next poll`);
          }
          written.length = 0;
        }
      }
      for (const key of emitted) assert.ok(ever.has(key));
    }
  });
}

test('planner: incremental polls start after the greatest key taken; files left to settle hold the cursor back', () => {
  const planner = new FollowPlanner([info('p/a', 1), info('p/c', 2)], { rescanEvery: 3, settleMs: 100 });
  let r = planner.next();
  assert.deepEqual(r, { startAfter: 'p/c', full: false });
  // p/d is still being written (mtime 50 ms ago), p/e is settled
  let found = planner.observe(r, [info('p/d', 3, 950), info('p/e', 4, 500)], 1000);
  assert.deepEqual(found.map((o) => o.key), ['p/e']);
  assert.equal(planner.unsettled, 1);
  r = planner.next();
  assert.equal(r.startAfter === undefined || compareKeys(r.startAfter, 'p/d') < 0, true, 'the cursor does not pass p/d');
  found = planner.observe(r, r.full ? [info('p/a', 1), info('p/c', 2), info('p/d', 3, 950), info('p/e', 4, 500)] : [info('p/d', 3, 950), info('p/e', 4, 500)], 2000);
  assert.deepEqual(found.map((o) => o.key), ['p/d']);
  // folder markers are never objects
  found = planner.observe(planner.next(), [{ key: 'p/zz/', size: 0, etag: '"x"' }], 3000);
  assert.deepEqual(found, []);
});
