import { test } from 'node:test';
import assert from 'node:assert/strict';
import { appendToKey, formatSourceUri, parseSourceUri } from './source-uri.js';

test('s3:// URIs split into bucket and key prefix, trailing slash kept', () => {
  assert.deepEqual(parseSourceUri('s3://my-bucket/a/b/'), { kind: 's3', bucket: 'my-bucket', key: 'a/b/' });
  assert.deepEqual(parseSourceUri('s3://my-bucket'), { kind: 's3', bucket: 'my-bucket', key: '' });
  assert.deepEqual(parseSourceUri('s3://my-bucket/a b+c%20=&'), { kind: 's3', bucket: 'my-bucket', key: 'a b+c%20=&' });
});

test('local paths and file:// URIs become keys of the "/" bucket', () => {
  assert.deepEqual(parseSourceUri('/data/train'), { kind: 'file', key: 'data/train' });
  assert.deepEqual(parseSourceUri('/data/train/'), { kind: 'file', key: 'data/train/' });
  assert.deepEqual(parseSourceUri('file:///data/a%20b/'), { kind: 'file', key: 'data/a b/' });
  assert.deepEqual(parseSourceUri('rel/x', '/base'), { kind: 'file', key: 'base/rel/x' });
  assert.deepEqual(parseSourceUri('/'), { kind: 'file', key: '' });
});

test('other schemes and bad buckets are refused', () => {
  assert.throws(() => parseSourceUri('https://bucket.s3.amazonaws.com/x'), { code: 'PM_ERR_SOURCE_URI' });
  assert.throws(() => parseSourceUri('s3://UPPER/x'), { code: 'PM_ERR_SOURCE_URI' });
  assert.throws(() => parseSourceUri(''), { code: 'PM_ERR_SOURCE_URI' });
});

test('manifest entries append to the key as plain strings', () => {
  assert.equal(formatSourceUri(appendToKey(parseSourceUri('s3://bkt/p/'), 'x/y%20z')), 's3://bkt/p/x/y%20z');
});
