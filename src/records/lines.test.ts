/** Text lines: split on "\n", a final unterminated line is a record, bytes kept exactly. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { LinesDecoder, linesEncoder } from './lines.js';

function lines(...chunks: string[]): string[] {
  const d = new LinesDecoder();
  return [...chunks.flatMap((c) => [...d.push(Buffer.from(c))]), ...d.end()].map(String);
}

test('lines split on \\n; \\r and empty lines are kept; a final unterminated line counts', () => {
  assert.deepEqual(lines('a\r\n\nb'), ['a\r', '', 'b']);
  assert.deepEqual(lines('a', 'b\nc', 'd', '\n', 'e'), ['ab', 'cd', 'e']);
  assert.deepEqual(lines('\n'), ['']);
  assert.deepEqual(lines('x\n'), ['x']);
  assert.deepEqual(lines(''), []);
});

test('the lines encoder refuses a record containing \\n', () => {
  assert.deepEqual(linesEncoder.encode(Buffer.from('ab')).map(String), ['ab', '\n']);
  assert.throws(() => linesEncoder.encode(Buffer.from('a\nb')), { code: 'PM_ERR_RECORD_FORMAT' });
});
