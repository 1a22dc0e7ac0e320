import { test } from 'node:test';
import assert from 'node:assert/strict';
import { batchEnvironment, effectiveParameters, parametersLogLine, resolveTransformJob } from './transform-job-spec.js';

const minimal = {
  TransformJobName: 'score-1',
  ModelName: 'my-model',
  TransformInput: { DataSource: { S3DataSource: { S3DataType: 'S3Prefix', S3Uri: 's3://bucket/in/' } } },
  TransformOutput: { S3OutputPath: 's3://bucket/out/' },
  TransformResources: { InstanceType: 'ml.m5.large', InstanceCount: 1 },
};

function withFields(patch: Record<string, unknown>): Record<string, unknown> {
  return { ...minimal, ...patch };
}

function rejects(input: unknown, pattern: RegExp, field?: string): void {
  assert.throws(() => resolveTransformJob(input), (err: Error & { code?: string; details?: { field?: string } }) => {
    assert.equal(err.code, 'PM_ERR_CONFIG');
    assert.match(err.message, pattern);
    if (field !== undefined) assert.equal(err.details?.field, field);
    return true;
  });
}

test('a minimal request resolves to a frozen spec with SageMaker\'s defaults', () => {
  const s = resolveTransformJob(minimal);
  assert.ok(Object.isFrozen(s) && Object.isFrozen(s.input) && Object.isFrozen(s.output) && Object.isFrozen(s.dataProcessing));
  assert.equal(s.input.splitType, 'None');
  assert.equal(s.input.compression, 'None');
  assert.equal(s.output.assembleWith, 'None');
  assert.equal(s.dataProcessing.joinSource, 'None');
  assert.equal(s.dataProcessing.inputFilter.expression, '$');
  assert.equal(s.dataProcessing.outputFilter.expression, '$');
  assert.ok(s.dataProcessing.identity);
  assert.equal(s.invocationsTimeoutSeconds, 600);
  assert.equal(s.invocationsMaxRetries, 3);
  assert.equal(s.instanceCount, 1);
  assert.deepEqual(s.input.source, { kind: 's3', bucket: 'bucket', key: 'in/' });
  // left to the container / defaults
  assert.equal(s.maxConcurrentTransforms, undefined);
  assert.equal(s.maxPayloadInMB, undefined);
  assert.equal(s.batchStrategy, undefined);
});

test('a full request keeps every field; ignored fields are accepted', () => {
  const s = resolveTransformJob(withFields({
    MaxConcurrentTransforms: 4,
    MaxPayloadInMB: 25,
    BatchStrategy: 'SingleRecord',
    Environment: { A_B: 'x' },
    TransformInput: { DataSource: { S3DataSource: { S3DataType: 'ManifestFile', S3Uri: '/data/in.manifest' } }, ContentType: 'text/csv', CompressionType: 'Gzip', SplitType: 'Line' },
    TransformOutput: { S3OutputPath: 'file:///tmp/out', Accept: 'text/csv', AssembleWith: 'Line', KmsKeyId: 'alias/x' },
    TransformResources: { InstanceType: 'ml.c5.xlarge', InstanceCount: 3, VolumeKmsKeyId: 'k' },
    DataProcessing: { InputFilter: '$[1:]', JoinSource: 'Input', OutputFilter: '$[0,-1]' },
    ModelClientConfig: { InvocationsTimeoutInSeconds: 3600, InvocationsMaxRetries: 0 },
    Tags: [{ Key: 'a', Value: 'b' }],
    DataCaptureConfig: {},
    ExperimentConfig: {},
  }));
  assert.equal(s.maxConcurrentTransforms, 4);
  assert.equal(s.maxPayloadInMB, 25);
  assert.equal(s.batchStrategy, 'SingleRecord');
  assert.equal(s.input.dataType, 'ManifestFile');
  assert.deepEqual(s.input.source, { kind: 'file', key: 'data/in.manifest' });
  assert.deepEqual(s.output.path, { kind: 'file', key: 'tmp/out' });
  assert.equal(s.instanceCount, 3);
  assert.equal(s.dataProcessing.joinSource, 'Input');
  assert.equal(s.dataProcessing.identity, false);
  assert.equal(s.invocationsMaxRetries, 0);
});

test('names follow the API patterns', () => {
  rejects(withFields({ TransformJobName: '-bad' }), /TransformJobName: 1-63 letters/);
  rejects(withFields({ TransformJobName: 'a'.repeat(64) }), /TransformJobName/);
  rejects(withFields({ ModelName: 'bad_model' }), /ModelName/);
});

test('unknown keys are rejected with a did-you-mean hint, at any depth', () => {
  rejects(withFields({ MaxPayloadInMb: 6 }), /MaxPayloadInMb: unknown key \(did you mean "MaxPayloadInMB"\?\)/, 'MaxPayloadInMb');
  rejects(withFields({ TransformInput: { ...minimal.TransformInput, SplitTyp: 'Line' } }), /TransformInput.SplitTyp: unknown key \(did you mean "SplitType"\?\)/);
  rejects(withFields({ BatchStrategy: 'MultiRecords' }), /BatchStrategy: must be one of MultiRecord \| SingleRecord.*did you mean "MultiRecord"/);
});

test('MaxPayloadInMB is 0-100; MaxConcurrentTransforms × MaxPayloadInMB at most 100, naming both', () => {
  rejects(withFields({ MaxPayloadInMB: 101 }), /MaxPayloadInMB/);
  rejects(withFields({ MaxPayloadInMB: -1 }), /MaxPayloadInMB/);
  rejects(withFields({ MaxPayloadInMB: 1.5 }), /MaxPayloadInMB/);
  rejects(withFields({ MaxConcurrentTransforms: 11, MaxPayloadInMB: 10 }), /MaxConcurrentTransforms × MaxPayloadInMB must be at most 100 MB, got 11 × 10 = 110/, 'MaxConcurrentTransforms');
  assert.equal(resolveTransformJob(withFields({ MaxConcurrentTransforms: 10, MaxPayloadInMB: 10 })).maxConcurrentTransforms, 10);
  assert.equal(resolveTransformJob(withFields({ MaxPayloadInMB: 0 })).maxPayloadInMB, 0);
  assert.equal(resolveTransformJob(withFields({ MaxConcurrentTransforms: 0, MaxPayloadInMB: 100 })).maxConcurrentTransforms, undefined);
});

test('ModelClientConfig and Environment limits', () => {
  rejects(withFields({ ModelClientConfig: { InvocationsTimeoutInSeconds: 0 } }), /InvocationsTimeoutInSeconds/);
  rejects(withFields({ ModelClientConfig: { InvocationsTimeoutInSeconds: 3601 } }), /InvocationsTimeoutInSeconds/);
  rejects(withFields({ ModelClientConfig: { InvocationsMaxRetries: 4 } }), /InvocationsMaxRetries/);
  rejects(withFields({ Environment: Object.fromEntries(Array.from({ length: 17 }, (_, i) => [`V${i}`, 'x'])) }), /at most 16 environment variables/);
  rejects(withFields({ Environment: { '1X': 'y' } }), /Environment/);
});

test('S3DataType must be S3Prefix or ManifestFile', () => {
  rejects(withFields({ TransformInput: { DataSource: { S3DataSource: { S3DataType: 'AugmentedManifestFile', S3Uri: 's3://bucket/m' } } } }), /not compatible with batch transform/, 'TransformInput.DataSource.S3DataSource.S3DataType');
});

test('DataProcessing: paths are compiled at resolve time, errors name the field', () => {
  rejects(withFields({
    TransformInput: { ...minimal.TransformInput, ContentType: 'application/json' },
    TransformOutput: { S3OutputPath: 's3://bucket/out/', Accept: 'application/json' },
    DataProcessing: { InputFilter: '$[1' },
  }), /DataProcessing.InputFilter: invalid JSONPath "\$\[1" at position 3/, 'DataProcessing.InputFilter');
  rejects(withFields({ DataProcessing: { OutputFilter: '$'.padEnd(64, 'a') } }), /OutputFilter: at most 63 characters/);
});

test('DataProcessing needs CSV/JSON types, and CSV needs Line/Line and index paths', () => {
  const csv = { ...minimal.TransformInput, ContentType: 'text/csv', SplitType: 'Line' };
  const out = { S3OutputPath: 's3://bucket/out/', Accept: 'text/csv', AssembleWith: 'Line' };
  rejects(withFields({ DataProcessing: { JoinSource: 'Input' } }), /TransformInput.ContentType: DataProcessing needs one of text\/csv, application\/json, application\/jsonlines, got none/);
  rejects(withFields({ TransformInput: csv, TransformOutput: { ...out, Accept: 'application/x-protobuf' }, DataProcessing: { JoinSource: 'Input' } }), /TransformOutput.Accept/);
  rejects(withFields({ TransformInput: { ...csv, SplitType: 'None' }, TransformOutput: out, DataProcessing: { JoinSource: 'Input' } }), /needs SplitType Line/);
  rejects(withFields({ TransformInput: csv, TransformOutput: { ...out, AssembleWith: 'None' }, DataProcessing: { JoinSource: 'Input' } }), /needs AssembleWith Line/);
  rejects(withFields({ TransformInput: csv, TransformOutput: out, DataProcessing: { InputFilter: '$.features' } }), /CSV rows are arrays/, 'DataProcessing.InputFilter');
  assert.equal(resolveTransformJob(withFields({ TransformInput: { ...csv, ContentType: 'text/csv; charset=utf-8' }, TransformOutput: out, DataProcessing: { InputFilter: '$[1:]', JoinSource: 'Input' } })).dataProcessing.inputFilter.expression, '$[1:]');
});

test('effectiveParameters: request beats container beats defaults, for each parameter on its own', () => {
  const bare = resolveTransformJob(minimal);
  const d = effectiveParameters(bare);
  assert.deepEqual([d.maxConcurrentTransforms, d.maxPayloadInMB, d.batchStrategy], [1, 6, 'MultiRecord']);
  assert.deepEqual(d.sources, { maxConcurrentTransforms: 'default', maxPayloadInMB: 'default', batchStrategy: 'default' });

  const container = { MaxConcurrentTransforms: 8, BatchStrategy: 'SINGLE_RECORD', MaxPayloadInMB: 12, Extra: true };
  const c = effectiveParameters(bare, container);
  assert.deepEqual([c.maxConcurrentTransforms, c.maxPayloadInMB, c.batchStrategy], [8, 12, 'SingleRecord']);
  assert.deepEqual(c.sources, { maxConcurrentTransforms: 'container', maxPayloadInMB: 'container', batchStrategy: 'container' });

  const partly = resolveTransformJob(withFields({ MaxPayloadInMB: 0, BatchStrategy: 'MultiRecord' }));
  const p = effectiveParameters(partly, container);
  assert.deepEqual([p.maxConcurrentTransforms, p.maxPayloadInMB, p.batchStrategy], [8, 0, 'MultiRecord']);
  assert.deepEqual(p.sources, { maxConcurrentTransforms: 'container', maxPayloadInMB: 'request', batchStrategy: 'request' });

  const zero = effectiveParameters(resolveTransformJob(withFields({ MaxConcurrentTransforms: 0 })), { MaxConcurrentTransforms: 0 });
  assert.equal(zero.maxConcurrentTransforms, 1);
  assert.equal(zero.sources.maxConcurrentTransforms, 'default');
  assert.equal(effectiveParameters(bare, { BatchStrategy: 'MultiRecord' }).batchStrategy, 'MultiRecord');
});

test('effectiveParameters: a malformed container answer is an error naming the key', () => {
  const bare = resolveTransformJob(minimal);
  assert.throws(() => effectiveParameters(bare, { BatchStrategy: 'MULTI' }), /execution-parameters answer: BatchStrategy: must be one of/);
  assert.throws(() => effectiveParameters(bare, { MaxPayloadInMB: 'six' }), /MaxPayloadInMB/);
});

test('the log line and the batch environment are spelt as SageMaker spells them', () => {
  const bare = resolveTransformJob(minimal);
  assert.equal(parametersLogLine(effectiveParameters(bare)), 'MaxConcurrentTransforms=1, MaxPayloadInMB=6, BatchStrategy=MULTI_RECORD');
  assert.deepEqual(batchEnvironment(bare), { SAGEMAKER_BATCH: 'true' });
  const set = resolveTransformJob(withFields({ MaxConcurrentTransforms: 2, MaxPayloadInMB: 5, BatchStrategy: 'SingleRecord', Environment: { SAGEMAKER_BATCH: 'no', X: '1' } }));
  assert.deepEqual(batchEnvironment(set), {
    X: '1', SAGEMAKER_BATCH: 'true', SAGEMAKER_MAX_PAYLOAD_IN_MB: '5', SAGEMAKER_BATCH_STRATEGY: 'SINGLE_RECORD', SAGEMAKER_MAX_CONCURRENT_TRANSFORMS: '2',
  });
});
