import { test } from 'node:test';
import assert from 'node:assert/strict';
import { formatBytes, parseByteSize } from './byte-size.js';
import { countByte } from './count-byte.js';
import { closest } from './did-you-mean.js';
import { ERROR_CLASSES, errorFromCode } from './error-codes.js';
import { InternalError } from './errors.js';
import { lockFolder } from './folder-lock.js';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

test('byte sizes parse with binary units', () => {
  assert.equal(parseByteSize('4096'), 4096);
  assert.equal(parseByteSize('8M'), 8 << 20);
  assert.equal(parseByteSize('64MiB'), 64 << 20);
  assert.equal(parseByteSize('1.5 GiB'), 1.5 * 2 ** 30);
  assert.equal(parseByteSize('12 parsecs'), undefined);
  assert.equal(parseByteSize('-1'), undefined);
  assert.equal(formatBytes(1536), '1.50 KiB');
});

test('countByte counts a byte exactly, whatever the alignment, length and density', () => {
  const naive = (b: Uint8Array, v: number): number => b.reduce((n, x) => (x === v ? n + 1 : n), 0);
  let seed = 7;
  const random = (): number => (seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 2 ** 32;
  const backing = Buffer.alloc(5000);
  for (const density of [0, 0.01, 0.3, 1]) {
    for (let i = 0; i < backing.length; i++) backing[i] = random() < density ? 0x0a : Math.floor(random() * 256);
    for (let t = 0; t < 200; t++) {
      const from = Math.floor(random() * 8);
      const view = backing.subarray(from, from + Math.floor(random() * (backing.length - 8)));
      assert.equal(countByte(view, 0x0a), naive(view, 0x0a));
    }
  }
  const ff = Buffer.alloc(3000, 0xff);
  assert.equal(countByte(ff, 0xff), 3000);
  assert.equal(countByte(ff.subarray(1, 2), 0xff), 1);
  assert.equal(countByte(Buffer.alloc(0), 0x0a), 0);
});

test('did-you-mean finds near misses only', () => {
  assert.equal(closest('CompresionType', ['CompressionType', 'ContentType']), 'CompressionType');
  assert.equal(closest('gzip', ['None', 'Gzip']), 'Gzip');
  assert.equal(closest('Banana', ['None', 'Gzip']), undefined);
});

test('the catalogue is found by reflection: every class has its own code, an exit status and an HTTP mapping', () => {
  const codes = ERROR_CLASSES.map((C) => C.code);
  assert.ok(ERROR_CLASSES.length >= 22);
  assert.equal(new Set(codes).size, codes.length, 'codes are unique');
  for (const Cls of ERROR_CLASSES) {
    assert.match(Cls.code, /^PM_ERR_[A-Z_]+$/, Cls.name);
    const err = new Cls('boom', { field: 'x' });
    assert.equal(err.code, Cls.code);
    assert.equal(err.name, Cls.name);
    assert.ok(Number.isInteger(err.exitCode) && err.exitCode >= 0, Cls.name);
    assert.ok(err.http.status >= 400 && err.http.status < 600, Cls.name);
    assert.match(err.http.controlPlane, /^[A-Z][A-Za-z]+$/);
    assert.match(err.http.runtime, /^[A-Z][A-Za-z]+$/);
    const back = errorFromCode(Cls.code, 'boom', { field: 'x' });
    assert.ok(back instanceof Cls);
    assert.deepEqual(back.details, { field: 'x' });
  }
  const unknown = errorFromCode('PM_ERR_FROM_THE_FUTURE', 'hm');
  assert.ok(unknown instanceof InternalError);
  assert.equal(unknown.details.code, 'PM_ERR_FROM_THE_FUTURE');
});

test('a folder lock has one holder at a time; the second taker learns the holder\'s pid; release frees it', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pm-lock-'));
  try {
    const first = lockFolder(dir);
    assert.ok('lock' in first);
    assert.deepEqual(lockFolder(dir), { holder: process.pid });
    first.lock.release();
    first.lock.release();
    const again = lockFolder(dir);
    assert.ok('lock' in again);
    again.lock.release();
    assert.throws(() => lockFolder(path.join(dir, 'missing')), { code: 'ENOENT' });
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
