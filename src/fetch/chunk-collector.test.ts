import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ioBuffers } from '../core/buffer-pool.js';
import { ChunkCollector } from './chunk-collector.js';

function collect(length: number, chunks: Buffer[]): Buffer[] {
  const out: Buffer[] = [];
  const collector = new ChunkCollector(length, (c) => out.push(c));
  for (const c of chunks) collector.push(c);
  return out;
}

test('an exact, whole, unshared buffer that is the rest of the part passes through as the same object', () => {
  const whole = Buffer.allocUnsafeSlow(1000).fill(7);
  const out = collect(1000, [whole]);
  assert.equal(out.length, 1);
  assert.equal(out[0], whole);
  assert.equal(ioBuffers.owns(whole), false);
  ioBuffers.release(whole); // ignored: not a pooled buffer
  assert.notEqual(ioBuffers.acquire().buffer, whole.buffer);
});

test('the exact tail after a pooled buffer passes through too', () => {
  const pooled = ioBuffers.acquire().fill(1);
  const tail = Buffer.allocUnsafeSlow(10).fill(2);
  const out = collect(ioBuffers.size + 10, [pooled, tail]);
  assert.equal(out.length, 2);
  assert.equal(out[0], pooled);
  assert.equal(out[1], tail);
});

test('views and buffers that are not the whole rest are copied', () => {
  const backing = Buffer.allocUnsafeSlow(100).fill(3);
  const view = backing.subarray(10, 60);
  const [fromView] = collect(50, [view]);
  assert.notEqual(fromView, view);
  assert.notEqual(fromView?.buffer, backing.buffer);
  assert.ok(fromView?.equals(view));

  const first = Buffer.allocUnsafeSlow(30).fill(4);
  const second = Buffer.allocUnsafeSlow(20).fill(5);
  const out = collect(50, [first, second]);
  assert.equal(out.length, 1);
  assert.ok(out[0]?.equals(Buffer.concat([first, second])));
});
