import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { test } from 'node:test';
import { loadSdkBundle } from './sdk-bundle.js';

const require = createRequire(import.meta.url);

test('the build bundles the SDK and V8 takes its code cache', () => {
  const loaded = loadSdkBundle();
  assert.ok(loaded !== undefined, 'npm run build made no dist/vendor/aws-sdk.cjs');
  // a cache V8 rejects would only cost time; this keeps the wrapper and the build in step
  assert.equal(loaded.cache, 'used');
});

test('the bundled SDK is the packages: the same exports, the same client version', () => {
  const sdk = loadSdkBundle()?.exports as { clientS3: Record<string, unknown>; signatureV4: Record<string, unknown>; libStorage: () => Record<string, unknown> };
  const pkg = require('@aws-sdk/client-s3') as Record<string, unknown>;
  assert.deepEqual(Object.keys(sdk.clientS3).sort(), Object.keys(pkg).sort());
  assert.equal(typeof sdk.signatureV4.SignatureV4, 'function');
  assert.equal(typeof sdk.libStorage().Upload, 'function');
  const Client = sdk.clientS3.S3Client as new (c: object) => { config: { serviceId: string }; destroy(): void };
  const client = new Client({ region: 'us-east-1' });
  assert.equal(client.config.serviceId, 'S3');
  client.destroy();
});
