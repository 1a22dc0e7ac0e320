/**
 * An independent, minimal model of single-part RecordIO for tests (deliberately not the code under
 * test): frame a payload, and list the payloads of a framed stream by their sha256.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';

const MAGIC = 0xced7230a;

/** One single-part record: magic, length, payload, zero padding to 4 bytes. */
export function frame(payload: Buffer): Buffer {
  const header = Buffer.alloc(8);
  header.writeUInt32LE(MAGIC, 0);
  header.writeUInt32LE(payload.length, 4);
  return Buffer.concat([header, payload, Buffer.alloc((4 - (payload.length % 4)) % 4)]);
}

/** sha256 of each record's payload, in stream order; fails on a bad magic or a cut record. */
export function recordDigests(data: Buffer): string[] {
  const out: string[] = [];
  for (let p = 0; p < data.length;) {
    assert.equal(data.readUInt32LE(p), MAGIC, `RecordIO magic at byte ${p}`);
    const n = data.readUInt32LE(p + 4) & (2 ** 29 - 1);
    assert.ok(p + 8 + n <= data.length, `record at byte ${p} is cut short`);
    out.push(createHash('sha256').update(data.subarray(p + 8, p + 8 + n)).digest('hex'));
    p += 8 + n + ((4 - (n % 4)) % 4);
  }
  return out;
}
