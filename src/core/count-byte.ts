/**
 * How many times one byte value occurs in a buffer (batch transform counts the "\n" of every
 * request body and of every answer). A `Buffer.indexOf` loop costs one native call per
 * occurrence, which dominates when lines are short (an answer of a few bytes per line); this
 * scans four bytes per step instead, in plain 32-bit integer arithmetic (SWAR): for a word `x`
 * (the data XOR the byte repeated), the high bit of each byte of `((x & 0x7f7f7f7f) + 0x7f7f7f7f)
 * | x` is clear exactly where that byte of `x` is zero. No carry crosses a byte, so the count is
 * exact. Per-byte lane sums are gathered in one integer and flushed before a lane can overflow.
 */

const LOW7 = 0x7f7f7f7f;
const ONES = 0x01010101;
/** Words per flush: each step of the inner loop adds at most 4 to a lane, which holds 255. */
const BLOCK = 252;
const NO_WORDS = new Int32Array(0);

/** Ones in the low bit of each byte lane where the word `x` has a zero byte. */
function zeroLanes(x: number): number {
  return (~(((x & LOW7) + LOW7) | x) >>> 7) & ONES;
}

/** The number of bytes of `b` equal to `byte` (0–255). */
export function countByte(b: Uint8Array, byte: number): number {
  const length = b.length;
  let n = 0;
  let i = 0;
  // bytes before the first 4-byte-aligned address, one at a time
  const head = Math.min(length, (4 - (b.byteOffset & 3)) & 3);
  for (; i < head; i++) if (b[i] === byte) n++;
  const words = (length - i) >>> 2;
  // (a short buffer may end before an aligned address: no words then)
  const w = words === 0 ? NO_WORDS : new Int32Array(b.buffer, b.byteOffset + i, words);
  const pattern = Math.imul(byte, ONES);
  const whole = words - (words & 3);
  let j = 0;
  while (j < whole) {
    const end = Math.min(whole, j + BLOCK);
    let lanes = 0;
    for (; j < end; j += 4) {
      lanes += zeroLanes((w[j] as number) ^ pattern) + zeroLanes((w[j + 1] as number) ^ pattern)
        + zeroLanes((w[j + 2] as number) ^ pattern) + zeroLanes((w[j + 3] as number) ^ pattern);
    }
    n += (lanes & 255) + ((lanes >>> 8) & 255) + ((lanes >>> 16) & 255) + (lanes >>> 24);
  }
  for (; j < words; j++) {
    const lanes = zeroLanes((w[j] as number) ^ pattern);
    n += (lanes & 255) + ((lanes >>> 8) & 255) + ((lanes >>> 16) & 255) + (lanes >>> 24);
  }
  for (i += words * 4; i < length; i++) if (b[i] === byte) n++;
  return n;
}
