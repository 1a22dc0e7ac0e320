/**
 * Encoder for AWS event-stream messages (`application/vnd.amazon.eventstream`), the framing of
 * InvokeEndpointWithResponseStream's body. One message, all integers big-endian:
 *
 *   u32 total length | u32 headers length | u32 CRC32 of the 8 bytes before it
 *   headers | payload | u32 CRC32 of everything before it
 *
 * A header is `u8 name length, name (UTF-8), u8 type, value`; string (7) and bytes (6) values carry
 * a u16 length, a timestamp (8) is int64 milliseconds, a uuid (9) is 16 raw bytes. CRCs are the
 * IEEE CRC-32 (gzip's), from @node-rs/crc32 (zlib.crc32 only exists from Node 20.15).
 *
 * SageMaker Runtime's `ResponseStream` union (botocore sagemaker-runtime 2017-05-13 service-2.json)
 * has three members, built here by `payloadPartEvent`, `modelStreamErrorEvent` and
 * `internalStreamFailureEvent`. The two errors are modelled exceptions: `:message-type=exception`,
 * `:exception-type=<shape name>`, a JSON payload with the shape's members. An error outside the
 * model is `:message-type=error` with `:error-code` / `:error-message` headers and no payload.
 *
 * Services must enforce the framing limits (payload ≤ 24 MiB, encoded headers ≤ 128 KiB); callers
 * split larger container output into several PayloadParts, so exceeding one here is a bug in the
 * caller and throws InternalError. Header order carries no meaning; a name appears at most once.
 */
import { crc32 } from '@node-rs/crc32';
import { InternalError } from '../core/errors.js';

/** Largest payload one message may carry (Smithy event-stream spec). */
export const MAX_EVENT_PAYLOAD_BYTES = 24 * 1024 * 1024;
/** Largest encoded header block one message may carry (Smithy event-stream spec). */
export const MAX_EVENT_HEADERS_BYTES = 128 * 1024;

/** Prelude (total length, headers length, prelude CRC) plus the trailing message CRC. */
const FRAMING_BYTES = 16;
const PRELUDE_BYTES = 12;

/** A typed header value; a plain string is shorthand for `{ type: 'string' }`. */
export type EventHeaderValue =
  | { readonly type: 'boolean'; readonly value: boolean }
  | { readonly type: 'byte' | 'short' | 'integer'; readonly value: number }
  | { readonly type: 'long'; readonly value: bigint }
  | { readonly type: 'binary'; readonly value: Uint8Array }
  | { readonly type: 'string'; readonly value: string }
  | { readonly type: 'timestamp'; readonly value: Date }
  | { readonly type: 'uuid'; readonly value: string };

export type EventHeaders = Readonly<Record<string, EventHeaderValue | string>>;

/** `ModelStreamError.ErrorCode` values documented in the sagemaker-runtime model. */
export type ModelStreamErrorCode = 'ModelInvocationTimeExceeded' | 'StreamBroken';

const TYPE_CODE = {
  true: 0, false: 1, byte: 2, short: 3, integer: 4, long: 5, binary: 6, string: 7, timestamp: 8, uuid: 9,
} as const;

const UUID_PATTERN = /^[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}$/i;

function checkInteger(name: string, value: number, bits: 8 | 16 | 32): void {
  const limit = 2 ** (bits - 1);
  if (!Number.isInteger(value) || value < -limit || value >= limit) {
    throw new InternalError(`event-stream header "${name}": ${value} is not a ${bits}-bit signed integer`, { header: name });
  }
}

function encodeHeader(name: string, header: EventHeaderValue): Buffer {
  const nameBytes = Buffer.from(name, 'utf8');
  if (nameBytes.length === 0 || nameBytes.length > 255) {
    throw new InternalError(`event-stream header name "${name}" is ${nameBytes.length} bytes; it must be 1 to 255`, { header: name });
  }
  let value: Buffer;
  let type: number;
  switch (header.type) {
    case 'boolean':
      type = header.value ? TYPE_CODE.true : TYPE_CODE.false;
      value = Buffer.alloc(0);
      break;
    case 'byte':
      checkInteger(name, header.value, 8);
      type = TYPE_CODE.byte;
      value = Buffer.alloc(1);
      value.writeInt8(header.value);
      break;
    case 'short':
      checkInteger(name, header.value, 16);
      type = TYPE_CODE.short;
      value = Buffer.alloc(2);
      value.writeInt16BE(header.value);
      break;
    case 'integer':
      checkInteger(name, header.value, 32);
      type = TYPE_CODE.integer;
      value = Buffer.alloc(4);
      value.writeInt32BE(header.value);
      break;
    case 'long':
      type = TYPE_CODE.long;
      value = Buffer.alloc(8);
      value.writeBigInt64BE(BigInt.asIntN(64, header.value));
      break;
    case 'timestamp': {
      const ms = header.value.getTime();
      if (!Number.isFinite(ms)) throw new InternalError(`event-stream header "${name}": invalid Date`, { header: name });
      type = TYPE_CODE.timestamp;
      value = Buffer.alloc(8);
      value.writeBigInt64BE(BigInt(ms));
      break;
    }
    case 'uuid': {
      if (!UUID_PATTERN.test(header.value)) {
        throw new InternalError(`event-stream header "${name}": "${header.value}" is not a UUID`, { header: name });
      }
      type = TYPE_CODE.uuid;
      value = Buffer.from(header.value.replace(/-/g, ''), 'hex');
      break;
    }
    case 'binary':
    case 'string': {
      const bytes = header.type === 'string' ? Buffer.from(header.value, 'utf8') : Buffer.from(header.value);
      if (bytes.length > 0xffff) {
        throw new InternalError(`event-stream header "${name}" value is ${bytes.length} bytes; at most 65535 fit`, { header: name });
      }
      type = header.type === 'string' ? TYPE_CODE.string : TYPE_CODE.binary;
      value = Buffer.alloc(2 + bytes.length);
      value.writeUInt16BE(bytes.length);
      bytes.copy(value, 2);
      break;
    }
  }
  return Buffer.concat([Buffer.from([nameBytes.length]), nameBytes, Buffer.from([type]), value]);
}

/** Encodes one event-stream message: prelude, headers, payload and both CRCs. */
export function encodeEventMessage(headers: EventHeaders, payload: Uint8Array = new Uint8Array(0)): Buffer {
  const headerBlock = Buffer.concat(Object.entries(headers).map(([name, h]) =>
    encodeHeader(name, typeof h === 'string' ? { type: 'string', value: h } : h)));
  if (headerBlock.length > MAX_EVENT_HEADERS_BYTES) {
    throw new InternalError(`event-stream headers are ${headerBlock.length} bytes; at most ${MAX_EVENT_HEADERS_BYTES} are allowed`);
  }
  if (payload.length > MAX_EVENT_PAYLOAD_BYTES) {
    throw new InternalError(`event-stream payload is ${payload.length} bytes; at most ${MAX_EVENT_PAYLOAD_BYTES} are allowed (split it into several messages)`);
  }
  const total = FRAMING_BYTES + headerBlock.length + payload.length;
  const out = Buffer.allocUnsafe(total);
  out.writeUInt32BE(total, 0);
  out.writeUInt32BE(headerBlock.length, 4);
  out.writeUInt32BE(crc32(out.subarray(0, 8)) >>> 0, 8);
  headerBlock.copy(out, PRELUDE_BYTES);
  out.set(payload, PRELUDE_BYTES + headerBlock.length);
  out.writeUInt32BE(crc32(out.subarray(0, total - 4)) >>> 0, total - 4);
  return out;
}

/** A `ResponseStream.PayloadPart` event carrying `bytes` (the shape's `Bytes` is the event payload). */
export function payloadPartEvent(bytes: Uint8Array): Buffer {
  return encodeEventMessage({
    ':event-type': 'PayloadPart',
    ':content-type': 'application/octet-stream',
    ':message-type': 'event',
  }, bytes);
}

function exceptionEvent(exceptionType: string, body: Record<string, string>): Buffer {
  return encodeEventMessage({
    ':exception-type': exceptionType,
    ':content-type': 'application/json',
    ':message-type': 'exception',
  }, Buffer.from(JSON.stringify(body), 'utf8'));
}

/**
 * A `ResponseStream.ModelStreamError` exception (the model timed out or its connection broke
 * mid-stream); the SDKs raise it as ModelStreamError with `Message` and `ErrorCode`.
 */
export function modelStreamErrorEvent(message: string, errorCode: ModelStreamErrorCode): Buffer {
  return exceptionEvent('ModelStreamError', { Message: message, ErrorCode: errorCode });
}

/** A `ResponseStream.InternalStreamFailure` exception (our side failed; a server fault). */
export function internalStreamFailureEvent(message: string): Buffer {
  return exceptionEvent('InternalStreamFailure', { Message: message });
}

/** An error outside the model (`:message-type=error`): code and message travel as headers. */
export function unmodeledErrorEvent(errorCode: string, errorMessage: string): Buffer {
  return encodeEventMessage({
    ':message-type': 'error',
    ':error-code': errorCode,
    ':error-message': errorMessage,
  });
}
