import { test } from 'node:test';
import assert from 'node:assert/strict';
import { resolveChannel, resolveChannels } from './channel-spec.js';

const ok = {
  ChannelName: 'train',
  DataSource: { S3DataSource: { S3DataType: 'S3Prefix', S3Uri: 's3://bucket/data/train', S3DataDistributionType: 'ShardedByS3Key' } },
  CompressionType: 'Gzip',
  RecordWrapperType: 'RecordIO',
  ShuffleConfig: { Seed: 12 },
  InputMode: 'Pipe',
  ContentType: 'application/x-recordio',
};

function rejects(input: unknown, pattern: RegExp, field?: string): void {
  assert.throws(() => resolveChannel(input), (err: Error & { code?: string; details?: { field?: string } }) => {
    assert.equal(err.code, 'PM_ERR_CONFIG');
    assert.match(err.message, pattern);
    if (field !== undefined) assert.equal(err.details?.field, field);
    return true;
  });
}

test('a full SageMaker Channel resolves to a frozen spec', () => {
  const c = resolveChannel(ok);
  assert.equal(c.name, 'train');
  assert.deepEqual(c.source, { kind: 's3', bucket: 'bucket', key: 'data/train' });
  assert.equal(c.compression, 'Gzip');
  assert.equal(c.recordWrapper, 'RecordIO');
  assert.equal(c.shuffleSeed, 12n);
  assert.equal(c.distribution, 'ShardedByS3Key');
  assert.ok(Object.isFrozen(c));
});

test('defaults: no compression, no wrapper, no shuffle, FullyReplicated', () => {
  const c = resolveChannel({ ChannelName: 'a', DataSource: { S3DataSource: { S3DataType: 'S3Prefix', S3Uri: '/tmp/x' } } });
  assert.equal(c.compression, 'None');
  assert.equal(c.recordWrapper, 'None');
  assert.equal(c.shuffleSeed, undefined);
  assert.equal(c.distribution, 'FullyReplicated');
  assert.deepEqual(c.source, { kind: 'file', key: 'tmp/x' });
});

test('unknown keys are rejected with their path and a did-you-mean hint', () => {
  rejects({ ...ok, CompresionType: 'Gzip' }, /CompresionType: unknown key \(did you mean "CompressionType"\?\)/, 'CompresionType');
  rejects({ ...ok, DataSource: { S3DataSource: { ...ok.DataSource.S3DataSource, S3DataDistribution: 'x' } } },
    /DataSource\.S3DataSource\.S3DataDistribution: unknown key \(did you mean "S3DataDistributionType"\?\)/);
});

test('bad values name the field, the allowed values and what was given', () => {
  rejects({ ...ok, CompressionType: 'gzip' }, /CompressionType: must be one of None \| Gzip, got "gzip" \(did you mean "Gzip"\?\)/, 'CompressionType');
  rejects({ ...ok, ChannelName: 'bad name!' }, /ChannelName: must match/, 'ChannelName');
  rejects({ ...ok, ChannelName: 'x'.repeat(65) }, /ChannelName/);
  rejects({ ...ok, DataSource: { S3DataSource: { ...ok.DataSource.S3DataSource, S3Uri: 42 } } }, /S3Uri: must be a string, got 42/);
  rejects({ ...ok, DataSource: {} }, /DataSource\.S3DataSource is required/);
  rejects({ ChannelName: 'a' }, /DataSource: is required/);
});

test('seeds: safe integers or decimal strings within a signed 64-bit range', () => {
  assert.equal(resolveChannel({ ...ok, ShuffleConfig: { Seed: '-9223372036854775808' } }).shuffleSeed, -(2n ** 63n));
  rejects({ ...ok, ShuffleConfig: { Seed: 2 ** 60 } }, /write seeds beyond 2\^53 as a string/);
  rejects({ ...ok, ShuffleConfig: { Seed: '9223372036854775808' } }, /signed 64-bit/);
  rejects({ ...ok, ShuffleConfig: { Seed: 1.5 } }, /must be an integer/);
  rejects({ ...ok, ShuffleConfig: {} }, /ShuffleConfig\.Seed: is required/);
});

test('AttributeNames is required for AugmentedManifestFile and refused otherwise', () => {
  const aug = { ...ok, DataSource: { S3DataSource: { S3DataType: 'AugmentedManifestFile', S3Uri: 's3://bkt/m.jsonl' } } };
  rejects(aug, /AttributeNames is required/);
  assert.deepEqual(resolveChannel({ ...aug, DataSource: { S3DataSource: { ...aug.DataSource.S3DataSource, AttributeNames: ['source-ref', 'label'] } } }).attributeNames, ['source-ref', 'label']);
  rejects({ ...ok, DataSource: { S3DataSource: { ...ok.DataSource.S3DataSource, AttributeNames: ['a'] } } }, /applies only to/);
  rejects({ ...aug, DataSource: { S3DataSource: { ...aug.DataSource.S3DataSource, AttributeNames: Array.from({ length: 17 }, (_, i) => `a${i}`) } } }, /AttributeNames/);
});

test('unsupported sources get a clear message', () => {
  rejects({ ...ok, DataSource: { FileSystemDataSource: { FileSystemId: 'fs-12345678' } } }, /FileSystemDataSource is not supported/);
  rejects({ ...ok, DataSource: { S3DataSource: { ...ok.DataSource.S3DataSource, S3Uri: 'http://example.com/x' } } }, /S3Uri: unsupported source URI/);
  rejects({ ...ok, DataSource: { S3DataSource: { ...ok.DataSource.S3DataSource, S3Uri: 's3://Bad_Bucket/x' } } }, /invalid bucket name/);
});

test('a channel list: 1-20 channels with distinct names', () => {
  assert.equal(resolveChannels([ok, { ...ok, ChannelName: 'validation' }]).length, 2);
  assert.throws(() => resolveChannels([]), /at least one channel/);
  assert.throws(() => resolveChannels(Array.from({ length: 21 }, (_, i) => ({ ...ok, ChannelName: `c${i}` }))), /at most 20/);
  assert.throws(() => resolveChannels([ok, ok]), /"train" is used twice/);
});

test('ChannelName "." and ".." are refused: a channel name becomes a folder name', () => {
  for (const name of ['.', '..']) {
    rejects({ ...ok, ChannelName: name }, /must not be "\." or "\.\."/, 'ChannelName');
  }
  assert.equal(resolveChannel({ ...ok, ChannelName: '.hidden..x' }).name, '.hidden..x');
});
