// Uploads every file of a local folder to s3://BUCKET/PREFIX<file name>, creating the bucket.
// usage: node bench/upload.mjs DIR BUCKET PREFIX
// Endpoint and keys come from AWS_ENDPOINT_URL_S3, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY.
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { CreateBucketCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';

const PARALLEL_PUTS = 4;
const [dir, bucket, prefix] = process.argv.slice(2);
if (!dir || !bucket || prefix === undefined) {
  console.error('usage: node bench/upload.mjs DIR BUCKET PREFIX');
  process.exit(2);
}

const s3 = new S3Client({
  endpoint: process.env.AWS_ENDPOINT_URL_S3,
  region: 'us-east-1',
  forcePathStyle: true,
  requestChecksumCalculation: 'WHEN_REQUIRED',
  responseChecksumValidation: 'WHEN_REQUIRED',
});

async function createBucket() {
  try {
    await s3.send(new CreateBucketCommand({ Bucket: bucket }));
  } catch (err) {
    if (err.name !== 'BucketAlreadyOwnedByYou') throw err;
  }
}

async function putAll(names) {
  const queue = [...names];
  const worker = async () => {
    for (let name = queue.shift(); name !== undefined; name = queue.shift()) {
      const body = await readFile(path.join(dir, name));
      await s3.send(new PutObjectCommand({ Bucket: bucket, Key: prefix + name, Body: body }));
    }
  };
  await Promise.all(Array.from({ length: PARALLEL_PUTS }, worker));
}

const names = (await readdir(dir, { withFileTypes: true })).filter((e) => e.isFile()).map((e) => e.name).sort();
const started = performance.now();
await createBucket();
await putAll(names);
s3.destroy();
const secs = (performance.now() - started) / 1000;
console.error(`upload: ${names.length} objects to s3://${bucket}/${prefix} in ${secs.toFixed(1)} s`);
