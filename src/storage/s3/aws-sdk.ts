/**
 * The AWS SDK v3 values pipemode's S3 access uses. They come from the prebuilt bundle with its
 * code cache (sdk-bundle.ts) when the build made one, else from the packages with require(): they
 * ship CommonJS, and imported from ESM, Node would first scan each of their sources for export
 * names (~60 ms of start-up here, on the path to a trainer's first byte). Only this file loads SDK
 * code: the rest of pipemode takes the SDK's values (and their types) from here.
 */
import { createRequire } from 'node:module';
import type * as ClientS3 from '@aws-sdk/client-s3';
import type * as LibStorage from '@aws-sdk/lib-storage';
import type * as HashNode from '@smithy/hash-node';
import type * as ProtocolHttp from '@smithy/protocol-http';
import type * as SigV4 from '@smithy/signature-v4';
import { loadSdkBundle } from './sdk-bundle.js';

interface Sdk {
  readonly clientS3: typeof ClientS3;
  readonly signatureV4: typeof SigV4;
  readonly protocolHttp: typeof ProtocolHttp;
  readonly hashNode: typeof HashNode;
  readonly libStorage: () => typeof LibStorage;
}

const require = createRequire(import.meta.url);
const sdk = (loadSdkBundle()?.exports as Sdk | undefined) ?? {
  clientS3: require('@aws-sdk/client-s3') as typeof ClientS3,
  signatureV4: require('@smithy/signature-v4') as typeof SigV4,
  protocolHttp: require('@smithy/protocol-http') as typeof ProtocolHttp,
  hashNode: require('@smithy/hash-node') as typeof HashNode,
  libStorage: () => require('@aws-sdk/lib-storage') as typeof LibStorage,
};
const { clientS3 } = sdk;

export const S3Client = clientS3.S3Client;
export type S3Client = ClientS3.S3Client;
export const { HeadObjectCommand, DeleteObjectCommand, PutObjectCommand, paginateListObjectsV2 } = clientS3;
export const SignatureV4 = sdk.signatureV4.SignatureV4;
export type SignatureV4 = SigV4.SignatureV4;
export const HttpRequest = sdk.protocolHttp.HttpRequest;
export type HttpRequest = ProtocolHttp.HttpRequest;
export const Hash = sdk.hashNode.Hash;

/** @aws-sdk/lib-storage (multipart uploads): only writers need it, so it loads on first use. */
export function libStorage(): typeof LibStorage {
  return sdk.libStorage();
}
