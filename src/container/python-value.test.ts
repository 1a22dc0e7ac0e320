import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { floatRepr, parsePython, pythonJson, pythonStr } from './python-value.js';

// hyperparameter values as users write them (strings sent by CreateTrainingJob)
const CORPUS = [
  '10', '10.0', '0.001', '1e-05', '0.00001', '1e16', '1e15', '123456789012345678901234567890', '-0.0', '2.5e-7',
  '3.141592653589793', '1.7976931348623157e308', '5e-324', '0.1', '100.5', '-7', 'true', 'false', 'null',
  '"a string"', '"\\u00e9t\\u00e9 \\ud83d\\ude00"', '[1, 2.0, "x", null, true]', '{"b": 1, "a": [0.5, {"z": null, "y": "q\'s"}]}',
  '[]', '{}', '"quote\\"d"', '"tab\\tnew\\nline"', '"it\'s"', '"both \' and \\""', 'NaN', 'Infinity', '-Infinity',
];

test('parsePython + pythonJson/pythonStr match real python3 for every corpus value', () => {
  const script = `
import json, sys
for line in sys.stdin.read().split("\\n"):
    if not line: continue
    v = json.loads(json.loads(line))
    print(json.dumps([json.dumps(v, sort_keys=True, separators=(",", ":"), ensure_ascii=True), "" if v is None else str(v)]))
`;
  const out = execFileSync('python3', ['-c', script], { input: CORPUS.map((c) => JSON.stringify(c)).join('\n') }).toString().trim().split('\n');
  CORPUS.forEach((text, i) => {
    const [json, str] = JSON.parse(out[i] ?? '[]') as [string, string];
    const v = parsePython(text);
    assert.equal(pythonJson(v), json, `json.dumps of ${text}`);
    assert.equal(pythonStr(v), str, `str() of ${text}`);
  });
});

test('floatRepr follows Python repr for the switch to exponent notation', () => {
  assert.equal(floatRepr(1e16), '1e+16');
  assert.equal(floatRepr(1e15), '1000000000000000.0');
  assert.equal(floatRepr(0.0001), '0.0001');
  assert.equal(floatRepr(0.00001), '1e-05');
});

test('parsePython rejects what json.loads rejects', () => {
  for (const bad of ['pure_nccl', '01', '1.', '{"a":1,}', '[1 2]', '']) assert.throws(() => parsePython(bad), SyntaxError, bad);
});
