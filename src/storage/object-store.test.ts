import { test } from 'node:test';
import assert from 'node:assert/strict';
import { compareKeys } from './object-store.js';

test('compareKeys orders like the keys\' UTF-8 bytes, over ASCII, BMP above the surrogates and astral characters', () => {
  const alphabet = ['a', 'b', '.', '/', '-', '0', 'é', '\u07ff', '\u0800', '\ud7ff', '\ue000', '\uff21', '\ufffd', '\uffff', '😀', '𝄞', '\u{10000}', '\u{10ffff}'];
  let seed = 17;
  const random = (n: number): number => {
    seed = (seed * 1103515245 + 12345) % 2 ** 31;
    return seed % n;
  };
  const key = (): string => Array.from({ length: random(6) }, () => alphabet[random(alphabet.length)]).join('');
  const sign = (n: number): number => (n < 0 ? -1 : n > 0 ? 1 : 0);
  for (let i = 0; i < 20000; i++) {
    const a = key();
    const b = random(4) === 0 ? a : key();
    assert.equal(compareKeys(a, b), sign(Buffer.compare(Buffer.from(a), Buffer.from(b))), `${JSON.stringify(a)} vs ${JSON.stringify(b)}`);
  }
  assert.equal(compareKeys('', ''), 0);
  assert.equal(compareKeys('a', 'ab'), -1);
  assert.equal(compareKeys('\uffff', '😀'), -1); // 3 UTF-8 bytes (EF BF BF) before 4 (F0 …), though U+D83D < U+FFFF in UTF-16
});
