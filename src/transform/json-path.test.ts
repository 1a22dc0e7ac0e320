import { test } from 'node:test';
import assert from 'node:assert/strict';
import { compileJsonPath } from './json-path.js';

const row = ['id', 'c1', 'c2', 'c3', 'c4', 'c5', 'c6'];
const sel = (path: string, value: unknown): unknown => compileJsonPath(path).select(value);

test('$ selects its input unchanged', () => {
  const value = { a: 1 };
  assert.equal(sel('$', value), value);
  assert.ok(compileJsonPath('$').isRoot);
});

test('a single index is definite; negative indexes count from the end', () => {
  assert.equal(sel('$[0]', row), 'id');
  assert.equal(sel('$[-1]', row), 'c6');
  assert.ok(compileJsonPath('$[2]').definite);
});

test('several indexes select an array in the order written', () => {
  assert.deepEqual(sel('$[1,3,5]', row), ['c1', 'c3', 'c5']);
  assert.deepEqual(sel('$[5,0,-1]', row), ['c5', 'id', 'c6']);
});

test('slices include their end, as the SageMaker guide documents ($[1:4] = 2nd through 5th)', () => {
  assert.deepEqual(sel('$[1:4]', row), ['c1', 'c2', 'c3', 'c4']);
  assert.deepEqual(sel('$[:5]', row), ['id', 'c1', 'c2', 'c3', 'c4', 'c5']);
  assert.deepEqual(sel('$[5:]', row), ['c5', 'c6']);
  assert.deepEqual(sel('$[1:]', row), row.slice(1));
  assert.deepEqual(sel('$[-2:]', row), ['c5', 'c6']);
  assert.deepEqual(sel('$[2:100]', row), row.slice(2));
});

test('indexes and slices mix ($[0,5:], the API example)', () => {
  assert.deepEqual(sel('$[0,5:]', row), ['id', 'c5', 'c6']);
});

test('names, quoted names and multi-name projections', () => {
  const doc = { id: 7, features: [1, 2, 3, 4], SageMakerOutput: { label: 1 }, 'a b': true };
  assert.deepEqual(sel('$.features', doc), [1, 2, 3, 4]);
  assert.equal(sel("$['id']", doc), 7);
  assert.equal(sel('$["a b"]', doc), true);
  assert.deepEqual(sel("$['id','SageMakerOutput']", doc), { id: 7, SageMakerOutput: { label: 1 } });
  assert.deepEqual(sel('$.features[0:2]', doc), [1, 2, 3]);
  assert.equal(sel('$.features[-1]', doc), 4);
});

test('dot before a bracket is accepted ($.field1.[\'child1\',\'child2\'], the guide\'s example)', () => {
  const doc = { field1: { child1: 1, child2: 2, child3: 3 } };
  assert.deepEqual(sel("$.field1.['child1','child2']", doc), { child1: 1, child2: 2 });
});

test('wildcards select every value and never fail', () => {
  assert.deepEqual(sel('$.id.*', { id: { a: 1, b: 2 } }), [1, 2]);
  assert.deepEqual(sel('$[*]', [1, 2]), [1, 2]);
  assert.deepEqual(sel('$.*', 5), []);
});

test('selection errors name the expression and the step', () => {
  assert.throws(() => sel('$[9]', row), (err: Error & { code?: string }) => err.code === 'PM_ERR_DATA_PROCESSING' && /"\$\[9\]".*\[9\].*outside the array of 7/.test(err.message));
  assert.throws(() => sel('$.missing', { a: 1 }), /no key "missing"/);
  assert.throws(() => sel('$[0]', { a: 1 }), /expected an array, got an object/);
  assert.throws(() => sel('$.a', [1]), /expected an object, got an array/);
});

test('parse errors are ConfigErrors naming the expression and position', () => {
  const cases: Array<[string, number, RegExp]> = [
    ['features', 0, /must start with "\$"/],
    ['$[1', 3, /expected "\]", got the end/],
    ['$..a', 1, /recursive descent/],
    ["$['a", 2, /unterminated single-quoted/],
    ['$[1:2:3]', 5, /slice steps/],
    ['$.', 2, /expected a name/],
    ['$a', 1, /expected "\." or "\["/],
    ['$[]', 2, /expected an index, a slice/],
  ];
  for (const [expression, position, pattern] of cases) {
    assert.throws(() => compileJsonPath(expression), (err: Error & { code?: string; details?: Record<string, unknown> }) => {
      assert.equal(err.code, 'PM_ERR_CONFIG', expression);
      assert.match(err.message, pattern, expression);
      assert.ok(err.message.includes(`"${expression}"`), expression);
      assert.equal(err.details?.position, position, expression);
      return true;
    });
  }
});

test('usesNames tells index-only paths (all CSV allows) from key paths', () => {
  assert.equal(compileJsonPath('$[1:]').usesNames, false);
  assert.equal(compileJsonPath('$.features').usesNames, true);
  assert.equal(compileJsonPath("$['a','b']").usesNames, true);
});
