/**
 * `aialgs.data.Record`, the payload of RecordIO-protobuf (application/x-recordio-protobuf, what
 * SageMaker's built-in algorithms read), encoded and decoded by hand for exactly its messages
 * (proto2, field numbers below; docs/formats/protobuf.md):
 *
 *   Float32Tensor / Float64Tensor / Int32Tensor { values = 1 [packed]; uint64 keys = 2 [packed]; uint64 shape = 3 [packed] }
 *   Bytes  { repeated bytes value = 1; optional string content_type = 2 }
 *   Value  { oneof { float32_tensor = 2; float64_tensor = 3; int32_tensor = 7; bytes = 9 } }
 *   Record { map<string, Value> features = 1; map<string, Value> label = 2; uid = 3; metadata = 4; configuration = 5 }
 *
 * The JS form is plain JSON-able data (docs/formats/protobuf.md): proto field names in
 * lowerCamelCase, tensors as number arrays (float32 values are the exact float32 value as a JS
 * number; uint64 keys and shape must be below 2^53), Bytes values as base64 strings. Decoding
 * gives the canonical form: `features` and `label` always present, `keys`, `shape`, `contentType`,
 * `uid`, `metadata`, `configuration` only when set or non-empty.
 *
 * This file holds the JS form and the encoder; protobuf-record-decoder.ts the decoder.
 *
 * Writing follows protoc's layout (fields in number order, map entries with key then value,
 * packed repeated fields, empty ones omitted), which reproduces SageMaker SDK and ml-io bytes
 * exactly. Reading follows protobuf's rules: packed and unpacked repeated fields both accepted,
 * unknown fields skipped, the last of a oneof wins, a repeated message field merges.
 */
import { InputFormatError, InternalError } from '../core/errors.js';
import { ProtoWriter, WIRE, delimitedSize, int32Size, varintSize } from './proto-wire.js';

export interface ProtobufTensor {
  values: number[];
  keys?: number[];
  shape?: number[];
}

export interface ProtobufBytes {
  /** Each value as base64. */
  value: string[];
  contentType?: string;
}

/** One of the members is set (none for an empty Value). */
export interface ProtobufValue {
  float32Tensor?: ProtobufTensor;
  float64Tensor?: ProtobufTensor;
  int32Tensor?: ProtobufTensor;
  bytes?: ProtobufBytes;
}

export interface ProtobufRecord {
  features: Record<string, ProtobufValue>;
  label: Record<string, ProtobufValue>;
  uid?: string;
  metadata?: string;
  configuration?: string;
}

export type TensorKind = 'float32Tensor' | 'float64Tensor' | 'int32Tensor';

const VALUE_FIELD = Object.freeze({ float32Tensor: 2, float64Tensor: 3, int32Tensor: 7, bytes: 9 });
const STRING_FIELDS = Object.freeze({ uid: 3, metadata: 4, configuration: 5 });

// ---------------------------------------------------------------------------------------------
// encoding: a sizing pass records every nested length in writing order, the writing pass
// consumes them, so the output is allocated once at its exact size

interface Plan {
  /** Nested message lengths, in the order the writer needs them. */
  readonly sizes: number[];
  /** UTF-8 strings and decoded Bytes values, in writing order. */
  readonly blobs: Buffer[];
}

/** Array.isArray without narrowing (typed inputs may still be wrong at run time). */
function isList(v: unknown): boolean {
  return Array.isArray(v);
}

function invalid(path: string, problem: string): never {
  throw new InputFormatError(`protobuf record: ${path}: ${problem}`, { path });
}

function memberOf(value: ProtobufValue, path: string): keyof ProtobufValue | undefined {
  if (typeof value !== 'object' || value === null) invalid(path, 'a Value must be an object');
  let found: keyof ProtobufValue | undefined;
  for (const m of MEMBERS) {
    if (value[m] === undefined) continue;
    if (found !== undefined) invalid(path, `a Value holds one of ${MEMBERS.join(', ')}; got ${found} and ${m}`);
    found = m;
  }
  return found;
}

const MEMBERS = ['float32Tensor', 'float64Tensor', 'int32Tensor', 'bytes'] as const;

function packedValuesLength(values: readonly number[], kind: TensorKind, path: string): number {
  if (!isList(values)) invalid(`${path}.values`, 'expected an array of numbers');
  if (kind === 'int32Tensor') {
    let n = 0;
    for (const [i, v] of values.entries()) {
      if (!Number.isInteger(v) || v < -(2 ** 31) || v >= 2 ** 31) invalid(`${path}.values[${i}]`, `${String(v)} is not an int32`);
      n += int32Size(v);
    }
    return n;
  }
  for (const [i, v] of values.entries()) if (typeof v !== 'number') invalid(`${path}.values[${i}]`, `${String(v)} is not a number`);
  return values.length * (kind === 'float32Tensor' ? 4 : 8);
}

function packedUintLength(values: readonly number[] | undefined, path: string): number {
  if (values === undefined) return 0;
  if (!isList(values)) invalid(path, 'expected an array of unsigned integers');
  let n = 0;
  for (const [i, v] of values.entries()) {
    if (!Number.isSafeInteger(v) || v < 0) invalid(`${path}[${i}]`, `${String(v)} is not an unsigned integer below 2^53`);
    n += varintSize(v);
  }
  return n;
}

function sizeString(s: string, plan: Plan, path: string): number {
  if (typeof s !== 'string') invalid(path, 'expected a string');
  const b = Buffer.from(s, 'utf8');
  plan.blobs.push(b);
  return delimitedSize(b.length);
}

/** Length of the Value message; pushes [its length, its member's length, the member's packed lengths]. */
function sizeValue(v: ProtobufValue, plan: Plan, path: string): number {
  const member = memberOf(v, path);
  if (member === undefined) {
    plan.sizes.push(0);
    return 0;
  }
  const at = plan.sizes.length;
  plan.sizes.push(0, 0);
  let body = 0;
  if (member === 'bytes') {
    const bytes = v.bytes as ProtobufBytes;
    if (!isList(bytes.value)) invalid(`${path}.bytes.value`, 'expected an array of base64 strings');
    for (const [i, s] of bytes.value.entries()) {
      if (typeof s !== 'string') invalid(`${path}.bytes.value[${i}]`, 'expected a base64 string');
      const b = Buffer.from(s, 'base64');
      plan.blobs.push(b);
      body += delimitedSize(b.length);
    }
    if (bytes.contentType !== undefined) body += sizeString(bytes.contentType, plan, `${path}.bytes.contentType`);
  } else {
    const t = v[member] as ProtobufTensor;
    const path2 = `${path}.${member}`;
    const values = packedValuesLength(t.values, member, path2);
    const keys = packedUintLength(t.keys, `${path2}.keys`);
    const shape = packedUintLength(t.shape, `${path2}.shape`);
    plan.sizes.push(values, keys, shape);
    body = (values > 0 ? delimitedSize(values) : 0) + (keys > 0 ? delimitedSize(keys) : 0) + (shape > 0 ? delimitedSize(shape) : 0);
  }
  plan.sizes[at] = delimitedSize(body);
  plan.sizes[at + 1] = body;
  return delimitedSize(body);
}

function sizeMap(map: Readonly<Record<string, ProtobufValue>>, plan: Plan, path: string): number {
  if (typeof map !== 'object' || map === null || Array.isArray(map)) invalid(path, 'expected an object of Values');
  let n = 0;
  for (const [key, value] of Object.entries(map)) {
    const at = plan.sizes.length;
    plan.sizes.push(0); // the entry's length, known once its value is sized
    const entry = sizeString(key, plan, path) + delimitedSize(sizeValue(value, plan, `${path}.${key}`));
    plan.sizes[at] = entry;
    n += delimitedSize(entry);
  }
  return n;
}

class PlanWriter extends ProtoWriter {
  readonly #plan: Plan;
  #size = 0;
  #blob = 0;

  constructor(total: number, plan: Plan) {
    super(total);
    this.#plan = plan;
  }

  nextSize(): number {
    return this.#plan.sizes[this.#size++] as number;
  }

  /** Tag and length of a length-delimited field whose length the plan holds next. */
  delimited(field: number): void {
    this.tag(field, WIRE.LENGTH);
    this.varint(this.nextSize());
  }

  /** A length-delimited field holding the plan's next blob. */
  blob(field: number): void {
    const b = this.#plan.blobs[this.#blob++] as Buffer;
    this.tag(field, WIRE.LENGTH);
    this.varint(b.length);
    this.raw(b);
  }
}

function writeValue(w: PlanWriter, v: ProtobufValue): void {
  const member = memberOf(v, '');
  if (member === undefined) return;
  w.delimited(VALUE_FIELD[member]);
  if (member === 'bytes') {
    const bytes = v.bytes as ProtobufBytes;
    for (let i = 0; i < bytes.value.length; i++) w.blob(1);
    if (bytes.contentType !== undefined) w.blob(2);
    return;
  }
  const t = v[member] as ProtobufTensor;
  const lengths = [w.nextSize(), w.nextSize(), w.nextSize()] as const;
  if (lengths[0] > 0) {
    w.tag(1, WIRE.LENGTH);
    w.varint(lengths[0]);
    if (member === 'float32Tensor') for (const x of t.values) w.float(x);
    else if (member === 'float64Tensor') for (const x of t.values) w.double(x);
    else for (const x of t.values) w.int32(x);
  }
  for (const [field, length, list] of [[2, lengths[1], t.keys], [3, lengths[2], t.shape]] as const) {
    if (length === 0 || list === undefined) continue; // empty repeated fields are omitted
    w.tag(field, WIRE.LENGTH);
    w.varint(length);
    for (const x of list) w.varint(x);
  }
}

function writeMap(w: PlanWriter, field: number, map: Readonly<Record<string, ProtobufValue>>): void {
  for (const value of Object.values(map)) {
    w.delimited(field);
    w.blob(1);
    w.delimited(2);
    writeValue(w, value);
  }
}

/**
 * Serializes a record (protoc's layout). Values that cannot be encoded (an int32 out of range, a
 * negative key, two members in one Value) throw InputFormatError naming the field.
 */
export function encodeProtobufRecord(record: ProtobufRecord): Buffer {
  if (typeof record !== 'object' || record === null) invalid('record', 'expected an object');
  const plan: Plan = { sizes: [], blobs: [] };
  let total = sizeMap(record.features ?? {}, plan, 'features') + sizeMap(record.label ?? {}, plan, 'label');
  for (const name of ['uid', 'metadata', 'configuration'] as const) {
    const s = record[name];
    if (s !== undefined) total += sizeString(s, plan, name);
  }
  const w = new PlanWriter(total, plan);
  writeMap(w, 1, record.features ?? {});
  writeMap(w, 2, record.label ?? {});
  for (const name of ['uid', 'metadata', 'configuration'] as const) if (record[name] !== undefined) w.blob(STRING_FIELDS[name]);
  if (w.pos !== total) throw new InternalError(`protobuf encoder wrote ${w.pos} of ${total} bytes`);
  return w.buf;
}
