import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Stores } from '../storage/stores.js';
import { attributeText, itemsFromAugmentedManifest, itemsFromManifest } from './from-manifest-file.js';
import type { Item } from './unit.js';

const stores = new Stores();
const keys = (items: Item[]): string[] => items.flat().map((u) => (u.kind === 'object' ? u.key : `inline:${u.bytes.toString()}`));

test('ManifestFile: prefix + each entry, in array order', () => {
  const items = itemsFromManifest('[{"prefix": "/data/"}, "b.txt", "a/c d.txt", ""]', 'file:///m.json', stores, true);
  assert.deepEqual(keys(items), ['data/b.txt', 'data/a/c d.txt', 'data/']);
});

test('ManifestFile errors name the problem and position', () => {
  assert.throws(() => itemsFromManifest('[{"prefix": "/d/"},\n  "a",\n  oops]', 'file:///m.json', stores, true), (err: Error & { code?: string; details?: { line?: number } }) => {
    assert.equal(err.code, 'PM_ERR_MANIFEST');
    assert.equal(err.details?.line, 3);
    assert.match(err.message, /line 3, column/);
    return true;
  });
  assert.throws(() => itemsFromManifest('["a"]', 'm', stores, true), /first array element must be \{"prefix"/);
  assert.throws(() => itemsFromManifest('{}', 'm', stores, true), /must be a JSON array/);
  assert.throws(() => itemsFromManifest('[{"prefix": "/d/"}, 3]', 'm', stores, true), /entry 1 must be a string/);
  assert.throws(() => itemsFromManifest('[{"prefix": "/d/"}]', 'm', stores, true), { code: 'PM_ERR_EMPTY_SOURCE' });
});

test('AugmentedManifestFile: one item per line, one unit per attribute in AttributeNames order', () => {
  const text = [
    '{"source-ref": "s3://bucket/img1.jpg", "label": 1, "meta": {"x": [1, 2]}, "ignored": true}',
    '',
    '{"label": "cat", "meta": null, "source-ref": "s3://bucket/img 2.jpg"}',
  ].join('\n');
  const items = itemsFromAugmentedManifest(text, 's3://b/m.jsonl', ['source-ref', 'label', 'meta'], stores, false);
  assert.deepEqual(keys(items), ['img1.jpg', 'inline:1', 'inline:{"x":[1,2]}', 'img 2.jpg', 'inline:cat', 'inline:null']);
  assert.equal(items.length, 2);
});

test('AugmentedManifestFile errors name the line and attribute', () => {
  assert.throws(() => itemsFromAugmentedManifest('{"a": 1}\n{"b": 2}\n', 'm', ['a'], stores, false), (err: Error & { details?: { line?: number } }) => {
    assert.match(err.message, /line 2 has no attribute "a"/);
    assert.equal(err.details?.line, 2);
    return true;
  });
  assert.throws(() => itemsFromAugmentedManifest('{"x-ref": "http://h/x"}', 'm', ['x-ref'], stores, false), /line 1 attribute "x-ref" must be an s3:\/\/ URI/);
  assert.throws(() => itemsFromAugmentedManifest('{"x-ref": "/abs"}', 'm', ['x-ref'], stores, false), /must be an s3:\/\/ URI/);
  assert.deepEqual(keys(itemsFromAugmentedManifest('{"x-ref": "/abs"}', 'm', ['x-ref'], stores, true)), ['abs']);
  assert.throws(() => itemsFromAugmentedManifest('{"a": 1}\n{"a": 2\n', 'm', ['a'], stores, false), /invalid JSON at line 2/);
  assert.throws(() => itemsFromAugmentedManifest('[1]', 'm', ['a'], stores, false), /line 1 must be a JSON object/);
  assert.throws(() => itemsFromAugmentedManifest('\n\n', 'm', ['a'], stores, false), { code: 'PM_ERR_EMPTY_SOURCE' });
});

test('attribute values stream as their string form', () => {
  assert.equal(attributeText('raw string'), 'raw string');
  assert.equal(attributeText(1.5), '1.5');
  assert.equal(attributeText(true), 'true');
  assert.equal(attributeText([1, 0, 1]), '[1,0,1]');
});

test('a manifest in S3 names S3 objects only; no store serves a key with a "." or ".." segment', () => {
  for (const prefix of ['file:///tmp/', '/tmp/', 'tmp/']) {
    assert.throws(() => itemsFromManifest(`[{"prefix": "${prefix}"}, "x"]`, 's3://bkt/m.json', stores, false), (err: Error & { code?: string }) => {
      assert.equal(err.code, 'PM_ERR_MANIFEST');
      assert.match(err.message, /may name objects in S3 only/);
      return true;
    });
  }
  assert.deepEqual(keys(itemsFromManifest('[{"prefix": "s3://bkt/d/"}, "x"]', 's3://bkt/m.json', stores, false)), ['d/x']);
  for (const [prefix, local] of [['/data/', true], ['s3://bkt/data/', false], ['s3://bkt/data/', true]] as const) {
    for (const entry of ['../x', 'a/./b', 'a/..']) {
      assert.throws(() => itemsFromManifest(`[{"prefix": "${prefix}"}, "ok", "${entry}"]`, 'm', stores, local), (err: Error & { code?: string; details?: { entry?: number } }) => {
        assert.equal(err.code, 'PM_ERR_MANIFEST');
        assert.equal(err.details?.entry, 2);
        assert.match(err.message, /"\." or "\.\." segment/);
        return true;
      });
    }
  }
  for (const ref of ['file:///etc/passwd', '/etc/passwd']) {
    assert.throws(() => itemsFromAugmentedManifest(JSON.stringify({ 'source-ref': ref }), 's3://bkt/m.jsonl', ['source-ref'], stores, false), { code: 'PM_ERR_MANIFEST' });
  }
  assert.throws(() => itemsFromAugmentedManifest('{"source-ref": "s3://bkt/d/../x"}', 's3://bkt/m.jsonl', ['source-ref'], stores, false), /segment/);
  assert.throws(() => itemsFromAugmentedManifest('{"source-ref": "/d/../x"}', 'file:///m.jsonl', ['source-ref'], stores, true), /segment/);
  assert.deepEqual(keys(itemsFromAugmentedManifest('{"source-ref": "file:///d/x"}', 'file:///m.jsonl', ['source-ref'], stores, true)), ['d/x']);
});
