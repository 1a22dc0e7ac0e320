/**
 * The one seeded PRNG pipemode uses, documented so any language can reproduce a plan:
 *
 * 1. Seed: x = (Seed mod 2^64) XOR (epoch · 0xD1B54A32D192ED03 mod 2^64), as unsigned 64-bit.
 * 2. Expand x with SplitMix64 (Steele, Lea, Flood 2014): x += 0x9E3779B97F4A7C15;
 *    z = x; z = (z ^ z>>30)·0xBF58476D1CE4E5B9; z = (z ^ z>>27)·0x94D049BB133111EB; out = z ^ z>>31.
 *    Two outputs give the xoshiro128** state: s0 = lo(out1), s1 = hi(out1), s2 = lo(out2), s3 = hi(out2).
 * 3. Draw 32-bit words with xoshiro128** (Blackman, Vigna 2018).
 * 4. A uniform integer below n: draw r until r < 2^32 - (2^32 mod n), return r mod n (no bias).
 */

const MASK64 = (1n << 64n) - 1n;

function splitMix64(state: { x: bigint }): bigint {
  state.x = (state.x + 0x9e3779b97f4a7c15n) & MASK64;
  let z = state.x;
  z = ((z ^ (z >> 30n)) * 0xbf58476d1ce4e5b9n) & MASK64;
  z = ((z ^ (z >> 27n)) * 0x94d049bb133111ebn) & MASK64;
  return z ^ (z >> 31n);
}

export class Prng {
  #s0: number;
  #s1: number;
  #s2: number;
  #s3: number;

  /** A generator for (seed, stream): pipemode uses the epoch number as the stream. */
  constructor(seed: bigint, stream: number) {
    const state = { x: (BigInt.asUintN(64, seed) ^ ((BigInt(stream) * 0xd1b54a32d192ed03n) & MASK64)) & MASK64 };
    const a = splitMix64(state);
    const b = splitMix64(state);
    this.#s0 = Number(a & 0xffffffffn);
    this.#s1 = Number(a >> 32n);
    this.#s2 = Number(b & 0xffffffffn);
    this.#s3 = Number(b >> 32n);
  }

  /** The next unsigned 32-bit word (xoshiro128**). */
  nextUint32(): number {
    const result = Math.imul(rotl(Math.imul(this.#s1, 5), 7), 9) >>> 0;
    const t = this.#s1 << 9;
    this.#s2 ^= this.#s0;
    this.#s3 ^= this.#s1;
    this.#s1 ^= this.#s2;
    this.#s0 ^= this.#s3;
    this.#s2 ^= t;
    this.#s3 = rotl(this.#s3, 11);
    return result;
  }

  /** A uniform integer in [0, n), 1 <= n <= 2^32. */
  below(n: number): number {
    const limit = 2 ** 32 - (2 ** 32 % n);
    for (;;) {
      const r = this.nextUint32();
      if (r < limit) return r % n;
    }
  }
}

function rotl(x: number, k: number): number {
  return (x << k) | (x >>> (32 - k));
}
