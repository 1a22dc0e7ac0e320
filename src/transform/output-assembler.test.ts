import { test } from 'node:test';
import assert from 'node:assert/strict';
import { answerFraming, assembleAnswer, splitAnswer } from './output-assembler.js';
import type { AssembleWith } from './transform-job-spec.js';

const b = (s: string): Buffer => Buffer.from(s);
const place = { source: 's3://b/in.csv', first: 10 };

interface BatchAnswer {
  readonly first: number;
  readonly count: number;
  readonly answer: Buffer;
}

/** A file's output as transform-file.ts builds it: each batch's pieces, in input order. */
function output(answers: readonly BatchAnswer[], options: { assembleWith: AssembleWith; accept: string | undefined }): string {
  const source = 's3://b/in.csv';
  return Buffer.concat(answers.flatMap(({ first, count, answer }) => assembleAnswer(answer, count, options.assembleWith, options.accept, { source, first }))).toString();
}

test('framing by Accept media type (parameters and case ignored)', () => {
  assert.equal(answerFraming('text/csv'), 'lines');
  assert.equal(answerFraming('Text/CSV; charset=utf-8'), 'lines');
  assert.equal(answerFraming('application/jsonlines'), 'lines');
  assert.equal(answerFraming('application/json'), 'json');
  assert.equal(answerFraming('application/x-recordio-protobuf'), 'opaque');
  assert.equal(answerFraming(undefined), 'opaque');
});

test('AssembleWith None: answers concatenated as they are', () => {
  const answers = [{ first: 0, count: 2, answer: b('1\n2') }, { first: 2, count: 1, answer: b('3') }];
  assert.equal(output(answers, { assembleWith: 'None', accept: 'text/csv' }), '1\n23');
});

test('AssembleWith Line: one "\\n" after every record\'s answer, never doubled', () => {
  const answers = [
    { first: 0, count: 1, answer: b('0.1') },
    { first: 1, count: 1, answer: b('0.2\n') },
    { first: 2, count: 3, answer: b('0.3\n0.4\n0.5') },
    { first: 5, count: 2, answer: b('0.6\r\n0.7\r\n') },
  ];
  assert.equal(output(answers, { assembleWith: 'Line', accept: 'text/csv' }), '0.1\n0.2\n0.3\n0.4\n0.5\n0.6\r\n0.7\r\n');
});

test('a MultiRecord answer splits back into one answer per record; a count mismatch is a ResponseFramingError', () => {
  assert.deepEqual(splitAnswer(b('a\nb\nc\n'), 'text/csv', 3, place).map(String), ['a', 'b', 'c']);
  assert.deepEqual(splitAnswer(b('{"x":1}\n{"x":2}'), 'application/jsonlines', 2, place).map(String), ['{"x":1}', '{"x":2}']);
  assert.throws(() => splitAnswer(b('a\nb\n'), 'text/csv', 3, place), (err: Error & { code?: string; details?: Record<string, unknown> }) => {
    assert.equal(err.code, 'PM_ERR_RESPONSE_FRAMING');
    assert.match(err.message, /records 10-12 of s3:\/\/b\/in\.csv holds 2 lines for 3 records/);
    assert.deepEqual(err.details, { source: 's3://b/in.csv', first: 10, expected: 3, found: 2 });
    return true;
  });
});

test('application/json: a JSON array with one element per record, else JSON Lines', () => {
  assert.deepEqual(splitAnswer(b('[{"p": 0.5}, [1, 2], 3]'), 'application/json', 3, place).map(String), ['{"p":0.5}', '[1,2]', '3']);
  assert.deepEqual(splitAnswer(b('{"p":1}\n{"p":2}\n'), 'application/json', 2, place).map(String), ['{"p":1}', '{"p":2}']);
  assert.throws(() => splitAnswer(b('[1,2]'), 'application/json', 3, place), /holds 2 JSON array elements for 3 records/);
  assert.throws(() => splitAnswer(b('{"predictions":[1,2,3]}'), 'application/json', 3, place), /holds 1 lines for 3 records/);
});

test('a batch of one keeps its answer whole, even over several lines', () => {
  assert.deepEqual(splitAnswer(b('{\n "a": 1\n}\n'), 'application/json', 1, place).map(String), ['{\n "a": 1\n}']);
  assert.equal(Buffer.concat(assembleAnswer(b('x\ny'), 1, 'Line', 'text/csv', place)).toString(), 'x\ny\n');
});

test('opaque Accept types: Line adds one "\\n" per answer; splitting per record is refused', () => {
  assert.equal(Buffer.concat(assembleAnswer(b('\x01\x02'), 4, 'Line', 'application/octet-stream', place)).toString(), '\x01\x02\n');
  assert.throws(() => splitAnswer(b('\x01\x02'), 'application/octet-stream', 2, place), /Accept "application\/octet-stream" has no record framing/);
});

test('invariant: for line framing, Line output = the per-record answers each followed by "\\n"', () => {
  const perRecord = Array.from({ length: 57 }, (_, i) => `p${i}`);
  for (const size of [1, 2, 5, 57]) {
    const answers: BatchAnswer[] = [];
    for (let first = 0; first < perRecord.length; first += size) {
      const group = perRecord.slice(first, first + size);
      answers.push({ first, count: group.length, answer: b(group.join('\n') + (first % 2 === 0 ? '\n' : '')) });
    }
    assert.equal(output(answers, { assembleWith: 'Line', accept: 'text/csv' }), perRecord.map((p) => `${p}\n`).join(''), `batch size ${size}`);
  }
});
