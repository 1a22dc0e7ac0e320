/** What a CSV row or a JSON line becomes, and how bad input is reported. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { decodeProtobufRecord } from '../records/protobuf-record-decoder.js';
import { csvFields, csvRowRecord, jsonLine, jsonLineRecord } from './input-records.js';

const at = { uri: 's3://b/train.csv', line: 7 };

test('CSV fields: plain, quoted, with commas and doubled quotes inside, empty', () => {
  assert.deepEqual(csvFields('1,2,3', at), ['1', '2', '3']);
  assert.deepEqual(csvFields('"a, b",x,"say ""hi""",,""', at), ['a, b', 'x', 'say "hi"', '', '']);
  assert.throws(() => csvFields('"open,1', at), { code: 'PM_ERR_INPUT_FORMAT', message: 's3://b/train.csv line 7: a quoted field is not closed' });
  assert.throws(() => csvFields('"a"b,1', at), /unexpected "b" after a quoted field \(column 1\)/);
});

test('a CSV row becomes label{values: [label column]} and features{values: [the other columns]}', () => {
  const row = (text: string, label: number | undefined): unknown => decodeProtobufRecord(csvRowRecord(text, label, at));
  assert.deepEqual(row('1, 0.5 ,"2e3",-inf', 0), { features: { values: { float32Tensor: { values: [0.5, 2000, -Infinity] } } }, label: { values: { float32Tensor: { values: [1] } } } });
  assert.deepEqual(row('0.5,2,9', -1), { features: { values: { float32Tensor: { values: [0.5, 2] } } }, label: { values: { float32Tensor: { values: [9] } } } });
  assert.deepEqual(row('0.5,NaN', undefined), { features: { values: { float32Tensor: { values: [0.5, NaN] } } }, label: {} });
  assert.throws(() => csvRowRecord('1,,3', 0, at), { message: 's3://b/train.csv line 7: column 2 is not a number: ""' });
  assert.throws(() => csvRowRecord('1,0x10', 0, at), /column 2 is not a number: "0x10"/);
  assert.throws(() => csvRowRecord('1,2', 5, at), /the row has 2 columns; there is no label column 5/);
});

test('a JSON line becomes a dense record, or a whole record in the JSON form; mistakes name the line', () => {
  const rec = (text: string): unknown => decodeProtobufRecord(jsonLineRecord(jsonLine(text, at), at));
  assert.deepEqual(rec('{"features": [1, "NaN"], "label": [0, 1]}'), { features: { values: { float32Tensor: { values: [1, NaN] } } }, label: { values: { float32Tensor: { values: [0, 1] } } } });
  assert.deepEqual(rec('{"features": {"x": {"int32Tensor": {"values": [3]}}}}'), { features: { x: { int32Tensor: { values: [3] } } }, label: {} });
  assert.throws(() => jsonLine('{"features": [1,]}', at), /s3:\/\/b\/train\.csv line 7: not valid JSON: /);
  assert.throws(() => rec('[1, 2]'), /line 7: expected an object such as/);
  assert.throws(() => rec('{"features": [1, true]}'), /line 7: features\[1\] is not a number: true/);
  assert.throws(() => rec('{"features": [1], "weight": 2}'), /line 7: unknown field "weight"/);
  assert.throws(() => rec('{"features": {"x": {"float32Tensor": {"values": ["a"]}}}}'), /line 7: features\.x\.float32Tensor\.values\[0\]: expected a number, got "a"/);
});
