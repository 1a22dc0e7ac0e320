// Build step after tsc (`npm run build`): the AWS SDK modules pipemode uses, bundled into
// dist/vendor/aws-sdk.cjs, and V8's code cache for that file (see src/storage/s3/sdk-bundle.ts).
// The bundle is the packages' own CommonJS; dynamic import() of Node's modules becomes require(),
// since the bundle runs as a plain script. Its exports are the `Sdk` of src/storage/s3/aws-sdk.ts.
import { build } from 'esbuild';
import path from 'node:path';

const root = path.resolve(import.meta.dirname, '..');
const entry = `module.exports = {
  clientS3: require('@aws-sdk/client-s3'),
  signatureV4: require('@smithy/signature-v4'),
  protocolHttp: require('@smithy/protocol-http'),
  hashNode: require('@smithy/hash-node'),
  libStorage: () => require('@aws-sdk/lib-storage'),
};
`;

await build({
  stdin: { contents: entry, resolveDir: root, sourcefile: 'aws-sdk-entry.cjs', loader: 'js' },
  bundle: true,
  platform: 'node',
  format: 'cjs',
  target: 'node20',
  supported: { 'dynamic-import': false },
  outfile: path.join(root, 'dist/vendor/aws-sdk.cjs'),
  logLevel: 'warning',
});

const { writeSdkCodeCache } = await import('../dist/src/storage/s3/sdk-bundle.js');
const bytes = writeSdkCodeCache();
console.log(`dist/vendor/aws-sdk.cjs bundled, code cache ${(bytes / 1024).toFixed(0)} KiB`);
