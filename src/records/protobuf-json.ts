/**
 * The JSON text form of `aialgs.data.Record` (docs/formats/protobuf.md), for `inspect`, the
 * golden fixtures and `convert --from jsonl`. It is the decoded JS form written with
 * JSON.stringify, except that float values JSON cannot hold are written as the strings "NaN",
 * "Infinity" and "-Infinity" (as protobuf's own JSON mapping does). Reading validates every
 * field and names the first wrong one by its path (`features.values.float32Tensor.values[3]`).
 */
import { InputFormatError } from '../core/errors.js';
import { closest } from '../core/did-you-mean.js';
import type { ProtobufBytes, ProtobufRecord, ProtobufTensor, ProtobufValue } from './protobuf-record.js';

function nonFinite(_key: string, value: unknown): unknown {
  if (typeof value === 'number' && !Number.isFinite(value)) return Number.isNaN(value) ? 'NaN' : value > 0 ? 'Infinity' : '-Infinity';
  return value;
}

/** One line of JSON (no newline). */
export function protobufRecordToJson(record: ProtobufRecord): string {
  return JSON.stringify(record, nonFinite);
}

type Json = Readonly<Record<string, unknown>>;

function fail(path: string, problem: string): never {
  throw new InputFormatError(`${path}: ${problem}`, { path });
}

function describe(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  if (typeof v === 'string') return `"${v.length > 40 ? `${v.slice(0, 40)}…` : v}"`;
  if (typeof v === 'object' || typeof v === 'function') return `a${typeof v === 'object' ? 'n object' : ' function'}`;
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  return typeof v;
}

function object(v: unknown, path: string, keys: readonly string[]): Json {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) fail(path, `expected an object, got ${describe(v)}`);
  for (const k of Object.keys(v)) {
    if (!keys.includes(k)) {
      const hint = closest(k, keys);
      fail(`${path}.${k}`, `unknown field${hint === undefined ? '' : ` (did you mean "${hint}"?)`}; expected ${keys.join(', ')}`);
    }
  }
  return v as Json;
}

function string(v: unknown, path: string): string {
  if (typeof v !== 'string') fail(path, `expected a string, got ${describe(v)}`);
  return v;
}

const FLOAT_WORDS: Readonly<Record<string, number>> = { NaN: NaN, Infinity: Infinity, '-Infinity': -Infinity };

function numbers(v: unknown, path: string, check: (x: unknown, path: string) => number): number[] {
  if (!Array.isArray(v)) fail(path, `expected an array, got ${describe(v)}`);
  return v.map((x, i) => check(x, `${path}[${i}]`));
}

function float(x: unknown, path: string): number {
  if (typeof x === 'number') return x;
  if (typeof x === 'string' && x in FLOAT_WORDS) return FLOAT_WORDS[x] as number;
  return fail(path, `expected a number, got ${describe(x)}`);
}

function int32(x: unknown, path: string): number {
  if (typeof x !== 'number' || !Number.isInteger(x) || x < -(2 ** 31) || x >= 2 ** 31) fail(path, `expected an int32, got ${describe(x)}`);
  return x;
}

function uint(x: unknown, path: string): number {
  if (typeof x !== 'number' || !Number.isSafeInteger(x) || x < 0) fail(path, `expected an unsigned integer below 2^53, got ${describe(x)}`);
  return x;
}

const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

function tensor(v: unknown, path: string, element: (x: unknown, path: string) => number): ProtobufTensor {
  const o = object(v, path, ['values', 'keys', 'shape']);
  const t: ProtobufTensor = { values: o.values === undefined ? [] : numbers(o.values, `${path}.values`, element) };
  if (o.keys !== undefined) {
    const keys = numbers(o.keys, `${path}.keys`, uint);
    if (keys.length > 0) t.keys = keys;
  }
  if (o.shape !== undefined) {
    const shape = numbers(o.shape, `${path}.shape`, uint);
    if (shape.length > 0) t.shape = shape;
  }
  return t;
}

function bytes(v: unknown, path: string): ProtobufBytes {
  const o = object(v, path, ['value', 'contentType']);
  const value = o.value === undefined ? [] : o.value;
  if (!Array.isArray(value)) fail(`${path}.value`, `expected an array of base64 strings, got ${describe(value)}`);
  const b: ProtobufBytes = {
    value: value.map((s, i) => {
      const text = string(s, `${path}.value[${i}]`);
      if (!BASE64.test(text)) fail(`${path}.value[${i}]`, 'expected base64 (A-Z a-z 0-9 + /, padded with =)');
      return text;
    }),
  };
  if (o.contentType !== undefined) b.contentType = string(o.contentType, `${path}.contentType`);
  return b;
}

const VALUE_KEYS = ['float32Tensor', 'float64Tensor', 'int32Tensor', 'bytes'] as const;

function value(v: unknown, path: string): ProtobufValue {
  const o = object(v, path, VALUE_KEYS);
  const present = VALUE_KEYS.filter((k) => o[k] !== undefined);
  if (present.length > 1) fail(path, `a Value holds one of ${VALUE_KEYS.join(', ')}; got ${present.join(' and ')}`);
  if (o.float32Tensor !== undefined) return { float32Tensor: tensor(o.float32Tensor, `${path}.float32Tensor`, float) };
  if (o.float64Tensor !== undefined) return { float64Tensor: tensor(o.float64Tensor, `${path}.float64Tensor`, float) };
  if (o.int32Tensor !== undefined) return { int32Tensor: tensor(o.int32Tensor, `${path}.int32Tensor`, int32) };
  if (o.bytes !== undefined) return { bytes: bytes(o.bytes, `${path}.bytes`) };
  return {};
}

function map(v: unknown, path: string): Record<string, ProtobufValue> {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) fail(path, `expected an object of Values, got ${describe(v)}`);
  const out: Record<string, ProtobufValue> = {};
  for (const [k, x] of Object.entries(v)) {
    Object.defineProperty(out, k, { value: value(x, `${path}.${k}`), enumerable: true, writable: true, configurable: true });
  }
  return out;
}

/**
 * A parsed JSON value (e.g. JSON.parse of protobufRecordToJson's output) as a canonical record;
 * InputFormatError naming the first wrong field by its path.
 */
export function protobufRecordFromJson(v: unknown): ProtobufRecord {
  const o = object(v, 'record', ['features', 'label', 'uid', 'metadata', 'configuration']);
  const record: ProtobufRecord = {
    features: o.features === undefined ? {} : map(o.features, 'features'),
    label: o.label === undefined ? {} : map(o.label, 'label'),
  };
  for (const name of ['uid', 'metadata', 'configuration'] as const) if (o[name] !== undefined) record[name] = string(o[name], name);
  return record;
}
