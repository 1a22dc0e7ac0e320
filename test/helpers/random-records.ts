/** Random records and random chunkings for codec property tests, from the seeded PRNG. */
import type { Prng } from '../../src/plan/prng.js';

export { Prng } from '../../src/plan/prng.js';

/** A record of random bytes: mostly under 100 bytes, often under 10 KiB, sometimes up to `maxLength`. */
export function randomRecord(prng: Prng, maxLength: number, avoid?: number): Buffer {
  const bucket = prng.below(10);
  const length = bucket < 6 ? prng.below(100) : bucket < 9 ? prng.below(10_240) : prng.below(maxLength + 1);
  const b = Buffer.allocUnsafe(length);
  for (let i = 0; i < length; i++) {
    let x = prng.nextUint32() & 0xff;
    if (x === avoid) x = (x + 1) & 0xff;
    b[i] = x;
  }
  return b;
}

/** Cuts `bytes` into chunks, each in memory of its own: mostly random sizes up to `max`, sometimes single bytes. */
export function randomChunks(prng: Prng, bytes: Buffer, max: number): Buffer[] {
  const chunks: Buffer[] = [];
  for (let at = 0; at < bytes.length;) {
    const n = prng.below(8) === 0 ? 1 : 1 + prng.below(max);
    const piece = bytes.subarray(at, Math.min(bytes.length, at + n));
    const own = Buffer.allocUnsafeSlow(piece.length); // not from Node's shared pool
    piece.copy(own);
    chunks.push(own);
    at += n;
  }
  return chunks;
}
