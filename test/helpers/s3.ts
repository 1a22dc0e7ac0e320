/**
 * The test S3 server (Ceph RGW started by scripts/test.sh; its endpoint and keys arrive in the
 * standard AWS_* variables): a client, fresh buckets, uploads.
 */
import { randomBytes } from 'node:crypto';
import { CreateBucketCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';

export function s3Endpoint(): string {
  const endpoint = process.env.AWS_ENDPOINT_URL_S3;
  if (endpoint === undefined) throw new Error('AWS_ENDPOINT_URL_S3 is not set: run the tests with `npm test` (scripts/test.sh starts the S3 server)');
  return endpoint;
}

let client: S3Client | undefined;

export function s3(): S3Client {
  client ??= new S3Client({
    endpoint: s3Endpoint(),
    region: 'us-east-1',
    forcePathStyle: true,
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
  });
  return client;
}

/** Creates a bucket with a unique name starting with `prefix`. */
export async function newBucket(prefix: string): Promise<string> {
  const name = `${prefix}-${randomBytes(4).toString('hex')}`;
  await s3().send(new CreateBucketCommand({ Bucket: name }));
  return name;
}

export async function put(bucket: string, key: string, body: Buffer | string): Promise<void> {
  await s3().send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: body }));
}

/** Uploads many objects, a few at a time. */
export async function putAll(bucket: string, objects: ReadonlyMap<string, Buffer>): Promise<void> {
  const entries = [...objects];
  await Promise.all(Array.from({ length: 8 }, async () => {
    for (let e = entries.shift(); e !== undefined; e = entries.shift()) await put(bucket, e[0], e[1]);
  }));
}
