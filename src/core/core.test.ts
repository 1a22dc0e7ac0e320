import { test } from 'node:test';
import assert from 'node:assert/strict';
import { formatBytes, parseByteSize } from './byte-size.js';
import { closest } from './did-you-mean.js';

test('byte sizes parse with binary units', () => {
  assert.equal(parseByteSize('4096'), 4096);
  assert.equal(parseByteSize('8M'), 8 << 20);
  assert.equal(parseByteSize('64MiB'), 64 << 20);
  assert.equal(parseByteSize('1.5 GiB'), 1.5 * 2 ** 30);
  assert.equal(parseByteSize('12 parsecs'), undefined);
  assert.equal(parseByteSize('-1'), undefined);
  assert.equal(formatBytes(1536), '1.50 KiB');
});

test('did-you-mean finds near misses only', () => {
  assert.equal(closest('CompresionType', ['CompressionType', 'ContentType']), 'CompressionType');
  assert.equal(closest('gzip', ['None', 'Gzip']), 'Gzip');
  assert.equal(closest('Banana', ['None', 'Gzip']), undefined);
});
