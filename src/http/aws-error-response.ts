/**
 * AWS-shaped error responses, so the SDKs raise the modelled exception with its code and message
 * instead of a generic or unparseable error (an error body that is not JSON makes the JS SDK throw
 * a deserialization error, so every body here is JSON).
 *
 * Two protocols:
 * - awsJson1_1 (the SageMaker control plane): `Content-Type: application/x-amz-json-1.1`, body
 *   `{"__type":"ValidationException","message":"..."}`, the type repeated in `x-amzn-ErrorType`.
 * - restJson1 (the SageMaker Runtime): `Content-Type: application/json`, the type in
 *   `x-amzn-ErrorType`, the body holding the shape's members (`Message`; for ModelError also
 *   `OriginalStatusCode`, `OriginalMessage`, `LogStreamArn`), as in botocore's sagemaker-runtime
 *   2017-05-13 model. Both SDKs read the type from the header and the message from `message` or
 *   `Message`.
 *
 * Every response carries a fresh `x-amzn-RequestId` (a UUID) unless the caller passes one; the
 * SDKs surface it as the request id. The HTTP status of each Runtime error is the model's.
 */
import crypto from 'node:crypto';
import type { ServerResponse } from 'node:http';
import type { AuthRejection } from './sigv4-verify.js';

export const AWS_JSON_1_1 = 'application/x-amz-json-1.1';

/** Errors the Runtime model declares, with their HTTP status (botocore sagemaker-runtime). */
export const RUNTIME_ERROR_STATUS = Object.freeze({
  ValidationError: 400,
  ModelError: 424,
  ModelNotReadyException: 429,
  InternalFailure: 500,
  ServiceUnavailable: 503,
  InternalDependencyException: 530,
} as const);

export type RuntimeErrorType = keyof typeof RUNTIME_ERROR_STATUS;

export interface ErrorResponseOptions {
  /** Value for `x-amzn-RequestId`. @default a random UUID */
  readonly requestId?: string | undefined;
}

/** Members of the Runtime's ModelError (the container answered 4xx/5xx). */
export interface ModelErrorMembers {
  readonly message: string;
  readonly originalStatusCode: number;
  readonly originalMessage: string;
  readonly logStreamArn?: string | undefined;
}

/** A new request id, as AWS formats them. */
export function newRequestId(): string {
  return crypto.randomUUID();
}

function send(res: ServerResponse, status: number, contentType: string, type: string, body: unknown, options: ErrorResponseOptions): void {
  if (res.headersSent) {
    // Too late for a status line: cut the response so the client sees a failure, not a success.
    res.destroy();
    return;
  }
  const text = JSON.stringify(body);
  res.writeHead(status, {
    'Content-Type': contentType,
    'Content-Length': Buffer.byteLength(text),
    'x-amzn-RequestId': options.requestId ?? newRequestId(),
    'x-amzn-ErrorType': type,
  });
  res.end(text);
}

/** An awsJson1_1 error: `{"__type": type, "message": message}` plus any `extra` members. */
export function writeAwsJsonError(res: ServerResponse, status: number, type: string, message: string,
  options: ErrorResponseOptions & { readonly extra?: Readonly<Record<string, unknown>> } = {}): void {
  send(res, status, AWS_JSON_1_1, type, { ...options.extra, __type: type, message }, options);
}

/** A restJson1 error with the shape's members as the body (`Message` at least). */
export function writeRestJsonError(res: ServerResponse, status: number, type: string,
  members: Readonly<Record<string, unknown>> & { readonly Message: string }, options: ErrorResponseOptions = {}): void {
  send(res, status, 'application/json', type, members, options);
}

/** A Runtime error other than ModelError, with the model's status for it. */
export function writeRuntimeError(res: ServerResponse, type: Exclude<RuntimeErrorType, 'ModelError'>, message: string,
  options: ErrorResponseOptions = {}): void {
  writeRestJsonError(res, RUNTIME_ERROR_STATUS[type], type, { Message: message }, options);
}

/** The Runtime's 424 ModelError: the container answered `originalStatusCode` with `originalMessage`. */
export function writeModelError(res: ServerResponse, members: ModelErrorMembers, options: ErrorResponseOptions = {}): void {
  writeRestJsonError(res, RUNTIME_ERROR_STATUS.ModelError, 'ModelError', {
    Message: members.message,
    OriginalStatusCode: members.originalStatusCode,
    OriginalMessage: members.originalMessage,
    ...(members.logStreamArn !== undefined ? { LogStreamArn: members.logStreamArn } : {}),
  }, options);
}

/**
 * ModelError's `Message` as SageMaker words it: `Received client error (400) from primary with
 * message "<body>". See <logs> for more information.` (server error for 5xx).
 */
export function modelErrorMessage(originalStatusCode: number, originalMessage: string, seeAlso?: string): string {
  const kind = originalStatusCode >= 500 || originalStatusCode < 400 ? 'server' : 'client';
  const tail = seeAlso !== undefined ? ` See ${seeAlso} for more information.` : '';
  return `Received ${kind} error (${originalStatusCode}) from primary with message "${originalMessage}".${tail}`;
}

/** Sends a failed SigV4 check in the protocol of the API it guards. */
export function writeAuthRejection(res: ServerResponse, rejection: AuthRejection, protocol: 'awsJson1_1' | 'restJson1',
  options: ErrorResponseOptions = {}): void {
  if (protocol === 'awsJson1_1') writeAwsJsonError(res, rejection.status, rejection.code, rejection.message, options);
  else writeRestJsonError(res, rejection.status, rejection.code, { Message: rejection.message }, options);
}
