/**
 * The decoder of `aialgs.data.Record` (RecordIO-protobuf's payload; the messages and the JS form
 * are described in protobuf-record.ts). Reading follows protobuf's rules: packed and unpacked
 * repeated fields both accepted, unknown fields skipped, the last of a oneof wins, a repeated
 * message field merges; malformed bytes are a RecordFormatError naming the record and offset.
 */
import { RecordFormatError } from '../core/errors.js';
import { ProtoReader, WIRE } from './proto-wire.js';
import type { ProtobufBytes, ProtobufRecord, ProtobufTensor, ProtobufValue, TensorKind } from './protobuf-record.js';

const MEMBER_BY_FIELD: Readonly<Record<number, keyof ProtobufValue>> = Object.freeze({ 2: 'float32Tensor', 3: 'float64Tensor', 7: 'int32Tensor', 9: 'bytes' });

/** Where a payload sits, for error messages: the record's index and stream offset, the stream's name. */
export interface PayloadContext {
  readonly record?: number | undefined;
  readonly offset?: number | undefined;
  readonly source?: string | undefined;
}

/** Sets map[key] as an own property, even for "__proto__". */
function setEntry(map: Record<string, ProtobufValue>, key: string, value: ProtobufValue): void {
  if (key === '__proto__') Object.defineProperty(map, key, { value, enumerable: true, writable: true, configurable: true });
  else map[key] = value;
}

function wrongWireType(r: ProtoReader, message: string, field: number, wireType: number, at: number): never {
  return r.fail(`${message} field ${field} has wire type ${wireType}`, at);
}

/** Reads a length-delimited field's contents with `read`, bounded by the field's end. */
function within(r: ProtoReader, read: () => void): void {
  const stop = r.delimited();
  const outer = r.end;
  r.end = stop;
  read();
  r.end = outer;
}

interface TensorParts { values: number[]; keys: number[]; shape: number[] }

function readUints(r: ProtoReader, wireType: number, into: number[], message: string, field: number, at: number): void {
  if (wireType === WIRE.VARINT) into.push(r.uint53());
  else if (wireType === WIRE.LENGTH) within(r, () => { while (r.pos < r.end) into.push(r.uint53()); });
  else wrongWireType(r, message, field, wireType, at);
}

function readPackedValues(r: ProtoReader, kind: TensorKind, values: number[], at: number): void {
  const bytes = r.end - r.pos;
  if (kind === 'float32Tensor') {
    if (bytes % 4 !== 0) r.fail(`packed float values of ${bytes} bytes (not a multiple of 4)`, at);
    for (; r.pos < r.end; r.pos += 4) values.push(r.buf.readFloatLE(r.pos));
  } else if (kind === 'float64Tensor') {
    if (bytes % 8 !== 0) r.fail(`packed double values of ${bytes} bytes (not a multiple of 8)`, at);
    for (; r.pos < r.end; r.pos += 8) values.push(r.buf.readDoubleLE(r.pos));
  } else {
    while (r.pos < r.end) values.push(r.int32());
  }
}

function readTensor(r: ProtoReader, kind: TensorKind, t: TensorParts): void {
  while (r.pos < r.end) {
    const at = r.pos;
    const tag = r.uint32();
    const field = tag >>> 3;
    const wt = tag & 7;
    if (field === 1) {
      if (wt === WIRE.LENGTH) within(r, () => readPackedValues(r, kind, t.values, at));
      else if (kind === 'float32Tensor' && wt === WIRE.FIXED32) t.values.push(r.float());
      else if (kind === 'float64Tensor' && wt === WIRE.FIXED64) t.values.push(r.double());
      else if (kind === 'int32Tensor' && wt === WIRE.VARINT) t.values.push(r.int32());
      else wrongWireType(r, kind, field, wt, at);
    } else if (field === 2 || field === 3) {
      readUints(r, wt, field === 2 ? t.keys : t.shape, kind, field, at);
    } else {
      r.skip(wt);
    }
  }
}

function readString(r: ProtoReader): string {
  const stop = r.delimited();
  const s = r.buf.toString('utf8', r.pos, stop);
  r.pos = stop;
  return s;
}

function readBytes(r: ProtoReader, b: { value: string[]; contentType: string | undefined }): void {
  while (r.pos < r.end) {
    const at = r.pos;
    const tag = r.uint32();
    const field = tag >>> 3;
    const wt = tag & 7;
    if ((field === 1 || field === 2) && wt !== WIRE.LENGTH) wrongWireType(r, 'Bytes', field, wt, at);
    if (field === 1) {
      const stop = r.delimited();
      b.value.push(r.buf.toString('base64', r.pos, stop));
      r.pos = stop;
    } else if (field === 2) {
      b.contentType = readString(r);
    } else {
      r.skip(wt);
    }
  }
}

/** A Value being decoded: the member seen last, and its parts (merged if the member repeats). */
interface ValueParts {
  member: keyof ProtobufValue | undefined;
  tensor: TensorParts;
  bytes: { value: string[]; contentType: string | undefined };
}

function newValueParts(): ValueParts {
  return { member: undefined, tensor: { values: [], keys: [], shape: [] }, bytes: { value: [], contentType: undefined } };
}

function readValue(r: ProtoReader, v: ValueParts): void {
  while (r.pos < r.end) {
    const at = r.pos;
    const tag = r.uint32();
    const field = tag >>> 3;
    const wt = tag & 7;
    const member = MEMBER_BY_FIELD[field];
    if (member === undefined) {
      r.skip(wt);
      continue;
    }
    if (wt !== WIRE.LENGTH) wrongWireType(r, 'Value', field, wt, at);
    if (member !== v.member) {
      const fresh = newValueParts(); // another oneof member replaces the previous one
      v.tensor = fresh.tensor;
      v.bytes = fresh.bytes;
      v.member = member;
    }
    if (member === 'bytes') within(r, () => readBytes(r, v.bytes));
    else within(r, () => readTensor(r, member, v.tensor));
  }
}

function finishValue(v: ValueParts): ProtobufValue {
  if (v.member === undefined) return {};
  if (v.member === 'bytes') {
    const bytes: ProtobufBytes = { value: v.bytes.value };
    if (v.bytes.contentType !== undefined) bytes.contentType = v.bytes.contentType;
    return { bytes };
  }
  const t: ProtobufTensor = { values: v.tensor.values };
  if (v.tensor.keys.length > 0) t.keys = v.tensor.keys;
  if (v.tensor.shape.length > 0) t.shape = v.tensor.shape;
  return { [v.member]: t };
}

function readEntry(r: ProtoReader, map: Record<string, ProtobufValue>): void {
  let key = '';
  const value = newValueParts();
  while (r.pos < r.end) {
    const at = r.pos;
    const tag = r.uint32();
    const field = tag >>> 3;
    const wt = tag & 7;
    if ((field === 1 || field === 2) && wt !== WIRE.LENGTH) wrongWireType(r, 'map entry', field, wt, at);
    if (field === 1) key = readString(r);
    else if (field === 2) within(r, () => readValue(r, value));
    else r.skip(wt);
  }
  setEntry(map, key, finishValue(value)); // a repeated key: the last entry wins
}

/**
 * Parses one `aialgs.data.Record` payload into its canonical JS form. Malformed bytes throw
 * RecordFormatError naming the record (from `context`) and the byte within the payload.
 */
export function decodeProtobufRecord(payload: Buffer, context: PayloadContext = {}): ProtobufRecord {
  const fail = (problem: string, position: number): never => {
    const where = context.record === undefined
      ? ''
      : ` record ${context.record}${context.offset === undefined ? '' : ` at byte ${context.offset}`}${context.source === undefined ? '' : ` of ${context.source}`}:`;
    throw new RecordFormatError(`protobuf:${where} not an aialgs.data.Record: ${problem} at payload byte ${position}`, {
      format: 'protobuf', record: context.record, offset: context.offset, source: context.source, position,
    });
  };
  const r = new ProtoReader(payload, 0, payload.length, fail);
  const record: ProtobufRecord = { features: {}, label: {} };
  while (r.pos < r.end) {
    const at = r.pos;
    const tag = r.uint32();
    const field = tag >>> 3;
    const wt = tag & 7;
    if (field === 0) r.fail('field number 0', at);
    if (field >= 1 && field <= 5 && wt !== WIRE.LENGTH) wrongWireType(r, 'Record', field, wt, at);
    if (field === 1 || field === 2) {
      const map = field === 1 ? record.features : record.label;
      within(r, () => readEntry(r, map));
    } else if (field >= 3 && field <= 5) {
      record[field === 3 ? 'uid' : field === 4 ? 'metadata' : 'configuration'] = readString(r);
    } else {
      r.skip(wt);
    }
  }
  return record;
}
