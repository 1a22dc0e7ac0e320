import { test } from 'node:test';
import assert from 'node:assert/strict';
import { compileJsonPath } from './json-path.js';
import { createRecordProcessor, csvFields, recordKind } from './data-processing.js';
import type { DataProcessingSpec, JoinSource } from './transform-job-spec.js';

function dp(inputFilter: string, joinSource: JoinSource, outputFilter: string): DataProcessingSpec {
  const i = compileJsonPath(inputFilter);
  const o = compileJsonPath(outputFilter);
  return { inputFilter: i, outputFilter: o, joinSource, identity: i.isRoot && o.isRoot && joinSource === 'None' };
}

const b = (s: string): Buffer => Buffer.from(s);
const s = (x: Buffer): string => x.toString();

test('record kinds: CSV and JSON only', () => {
  assert.equal(recordKind('text/csv'), 'csv');
  assert.equal(recordKind('application/jsonlines'), 'json');
  assert.equal(recordKind('application/json; charset=utf-8'), 'json');
  assert.equal(recordKind('application/x-recordio-protobuf'), undefined);
});

test('CSV fields follow RFC 4180: quoted commas stay inside a field, text kept as written', () => {
  assert.deepEqual(csvFields('1,"a,b","say ""hi""",'), ['1', '"a,b"', '"say ""hi"""', '']);
  assert.deepEqual(csvFields(''), ['']);
});

test('guide example: default settings output only the inferences, bytes untouched', () => {
  const p = createRecordProcessor(dp('$', 'None', '$'), 'json');
  const record = b('{"key": 1.0}');
  assert.equal(p.filterInput(record, 0), record);
  const answer = b('{"label": 1.0}\n');
  assert.equal(p.joinOutput(record, answer, 0), answer);
});

test('guide example: JSON input joined with its inference under SageMakerOutput', () => {
  const p = createRecordProcessor(dp('$', 'Input', '$'), 'json');
  assert.equal(s(p.joinOutput(b('{"key":1}'), b('{"label":1}'), 0)), '{"key":1,"SageMakerOutput":{"label":1}}');
});

test('guide note: a non-object JSON input is stored under SageMakerInput', () => {
  const p = createRecordProcessor(dp('$', 'Input', '$'), 'json');
  assert.equal(s(p.joinOutput(b('[1,2,3]'), b('[0.5]'), 0)), '{"SageMakerInput":[1,2,3],"SageMakerOutput":[0.5]}');
  assert.equal(s(p.joinOutput(b('"text"'), b('not json\n'), 0)), '{"SageMakerInput":"text","SageMakerOutput":"not json"}');
});

test('guide warning: an input key SageMakerOutput is overwritten by the inference', () => {
  const p = createRecordProcessor(dp('$', 'Input', '$'), 'json');
  assert.equal(s(p.joinOutput(b('{"SageMakerOutput":"old","a":1}'), b('2'), 0)), '{"SageMakerOutput":2,"a":1}');
});

test('guide example: CSV record [1,2,3] joined with [1] gives 1,2,3,1', () => {
  const p = createRecordProcessor(dp('$', 'Input', '$'), 'csv');
  assert.equal(s(p.joinOutput(b('1,2,3'), b('1\n'), 0)), '1,2,3,1');
});

test('guide example (CSV): exclude the ID column from the input, output it with the results', () => {
  const p = createRecordProcessor(dp('$[1:]', 'Input', '$'), 'csv');
  const row = b('id-7,0.1,0.2,0.3,0.4');
  assert.equal(s(p.filterInput(row, 0)), '0.1,0.2,0.3,0.4');
  assert.equal(s(p.joinOutput(row, b('0.97'), 0)), 'id-7,0.1,0.2,0.3,0.4,0.97');
  const idAndResult = createRecordProcessor(dp('$[1:]', 'Input', '$[0,-1]'), 'csv');
  assert.equal(s(idAndResult.joinOutput(row, b('0.97'), 0)), 'id-7,0.97');
});

test('guide example (CSV): $[1:4] sends the second through fifth columns', () => {
  const p = createRecordProcessor(dp('$[1:4]', 'None', '$'), 'csv');
  assert.equal(s(p.filterInput(b('c0,c1,c2,c3,c4,c5,c6\r\n'), 0)), 'c1,c2,c3,c4');
});

test('API example: OutputFilter $[0,5:] keeps the first and the sixth-to-last columns', () => {
  const p = createRecordProcessor(dp('$', 'Input', '$[0,5:]'), 'csv');
  assert.equal(s(p.joinOutput(b('a,b,c,d,e'), b('out1,out2'), 0)), 'a,out1,out2');
});

test('guide example (JSON): InputFilter $.features, OutputFilter $[\'id\',\'SageMakerOutput\']', () => {
  const p = createRecordProcessor(dp('$.features', 'Input', "$['id','SageMakerOutput']"), 'json');
  const record = b('{"id":42,"features":[0.5,1.5],"extra":"drop me"}');
  assert.equal(s(p.filterInput(record, 0)), '[0.5,1.5]');
  assert.equal(s(p.joinOutput(record, b('{"label":1}'), 0)), '{"id":42,"SageMakerOutput":{"label":1}}');
});

test('JoinSource None with an OutputFilter filters the inference itself', () => {
  const p = createRecordProcessor(dp('$', 'None', '$.label'), 'json');
  assert.equal(s(p.joinOutput(b('{}'), b('{"label":1,"score":0.9}'), 0)), '1');
  const csv = createRecordProcessor(dp('$', 'None', '$[0]'), 'csv');
  assert.equal(s(csv.joinOutput(b('x'), b('1,0.9'), 0)), '1');
});

test('errors name the file, the record and the expression', () => {
  const p = createRecordProcessor(dp('$', 'Input', '$[9]'), 'csv', 's3://b/in.csv');
  assert.throws(() => p.joinOutput(b('a,b'), b('1'), 4), (err: Error & { code?: string; details?: Record<string, unknown> }) => {
    assert.equal(err.code, 'PM_ERR_DATA_PROCESSING');
    assert.match(err.message, /record 4 of s3:\/\/b\/in\.csv: JSONPath "\$\[9\]".*outside the array of 3/);
    assert.deepEqual(err.details, { source: 's3://b/in.csv', record: 4, expression: '$[9]' });
    return true;
  });
  const j = createRecordProcessor(dp('$.features', 'None', '$'), 'json', 'in.jsonl');
  assert.throws(() => j.filterInput(b('{not json'), 2), /record 2 of in\.jsonl: the input record is not JSON/);
  assert.throws(() => j.filterInput(b('{"id":1}'), 3), /record 3 of in\.jsonl: JSONPath "\$\.features".*no key "features"/);
});
