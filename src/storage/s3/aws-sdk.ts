/**
 * The AWS SDK v3 packages pipemode's S3 access uses, loaded with require(). They ship CommonJS;
 * imported from ESM, Node first scans each of their sources for export names, which costs ~60 ms
 * of start-up here — on the path to a trainer's first byte. require() skips that scan. Only this
 * file loads SDK code: the rest of pipemode takes the SDK's values (and their types) from here.
 */
import { createRequire } from 'node:module';
import type * as ClientS3 from '@aws-sdk/client-s3';
import type * as LibStorage from '@aws-sdk/lib-storage';
import type * as HashNode from '@smithy/hash-node';
import type * as ProtocolHttp from '@smithy/protocol-http';
import type * as SigV4 from '@smithy/signature-v4';

const require = createRequire(import.meta.url);
const clientS3 = require('@aws-sdk/client-s3') as typeof ClientS3;

export const S3Client = clientS3.S3Client;
export type S3Client = ClientS3.S3Client;
export const { HeadObjectCommand, DeleteObjectCommand, PutObjectCommand, paginateListObjectsV2 } = clientS3;
export const SignatureV4 = (require('@smithy/signature-v4') as typeof SigV4).SignatureV4;
export type SignatureV4 = SigV4.SignatureV4;
export const HttpRequest = (require('@smithy/protocol-http') as typeof ProtocolHttp).HttpRequest;
export type HttpRequest = ProtocolHttp.HttpRequest;
export const Hash = (require('@smithy/hash-node') as typeof HashNode).Hash;

/** @aws-sdk/lib-storage (multipart uploads): only writers need it, so it loads on first use. */
export function libStorage(): typeof LibStorage {
  return require('@aws-sdk/lib-storage') as typeof LibStorage;
}
