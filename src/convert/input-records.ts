/**
 * What one line of a `convert` input becomes, for each target format:
 *
 * - CSV, to RecordIO or TFRecord: the row's text as it is (one record per row).
 * - CSV, to RecordIO-protobuf: the label column → `label{"values": f32[label]}`, the other columns
 *   in order → `features{"values": f32[...]}` — the dense layout SageMaker's built-in algorithms
 *   read (what the SageMaker SDK's write_numpy_to_dense_tensor writes). Fields may be quoted;
 *   every field must be a number (also nan, inf, -inf).
 * - JSON lines, to RecordIO or TFRecord: the line's text (checked to be JSON).
 * - JSON lines, to RecordIO-protobuf: `{"features": [numbers], "label": number | [numbers]}`
 *   (dense float32, label optional), or a whole record in the JSON form of
 *   docs/formats/protobuf.md when `features` is an object.
 *
 * Anything else is an InputFormatError naming the file, the line and the field.
 */
import { InputFormatError } from '../core/errors.js';
import { protobufRecordFromJson } from '../records/protobuf-json.js';
import { encodeProtobufRecord, type ProtobufRecord } from '../records/protobuf-record.js';

/** Where a line came from, for messages. */
export interface LineOrigin {
  readonly uri: string;
  /** 1-based. */
  readonly line: number;
}

function inputError(at: LineOrigin, problem: string, cause?: unknown): InputFormatError {
  return new InputFormatError(`${at.uri} line ${at.line}: ${problem}`, { uri: at.uri, line: at.line }, cause === undefined ? undefined : { cause });
}

/** Splits a CSV row on commas; fields may be quoted ("a, b" and "" for a quote inside). */
export function csvFields(row: string, at: LineOrigin): string[] {
  if (!row.includes('"')) return row.split(',');
  const fields: string[] = [];
  let i = 0;
  for (;;) {
    if (row[i] === '"') {
      let field = '';
      for (i++; ; i++) {
        if (i >= row.length) throw inputError(at, 'a quoted field is not closed');
        if (row[i] === '"') {
          if (row[i + 1] !== '"') break;
          i++;
        }
        field += row[i];
      }
      i++;
      if (i < row.length && row[i] !== ',') throw inputError(at, `unexpected ${JSON.stringify(row[i])} after a quoted field (column ${fields.length + 1})`);
      fields.push(field);
    } else {
      const comma = row.indexOf(',', i);
      fields.push(row.slice(i, comma === -1 ? row.length : comma));
      i = comma === -1 ? row.length : comma;
    }
    if (i >= row.length) return fields;
    i++; // the comma
  }
}

const NUMBER = /^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$/;
const SPECIAL: Readonly<Record<string, number>> = { nan: NaN, '+nan': NaN, '-nan': NaN, inf: Infinity, '+inf': Infinity, '-inf': -Infinity, infinity: Infinity, '+infinity': Infinity, '-infinity': -Infinity };

function csvNumber(text: string, column: number, at: LineOrigin): number {
  const t = text.trim();
  if (NUMBER.test(t)) return Number(t);
  const special = SPECIAL[t.toLowerCase()];
  if (special !== undefined) return special;
  throw inputError(at, `column ${column + 1} is not a number: ${JSON.stringify(text.length > 40 ? `${text.slice(0, 40)}…` : text)}`);
}

/** A CSV row as a dense RecordIO-protobuf record; `labelColumn` undefined = no label. */
export function csvRowRecord(row: string, labelColumn: number | undefined, at: LineOrigin): Buffer {
  const fields = csvFields(row, at);
  let label: number | undefined;
  const features: number[] = [];
  const column = labelColumn === undefined ? -1 : labelColumn < 0 ? fields.length + labelColumn : labelColumn;
  if (labelColumn !== undefined && (column < 0 || column >= fields.length)) {
    throw inputError(at, `the row has ${fields.length} columns; there is no label column ${labelColumn}`);
  }
  for (const [i, f] of fields.entries()) {
    const n = csvNumber(f, i, at);
    if (i === column) label = n;
    else features.push(n);
  }
  const record: ProtobufRecord = { features: { values: { float32Tensor: { values: features } } }, label: {} };
  if (label !== undefined) record.label = { values: { float32Tensor: { values: [label] } } };
  return encodeProtobufRecord(record);
}

function numberList(v: unknown, what: string, at: LineOrigin): number[] {
  const list = Array.isArray(v) ? (v as unknown[]) : [v];
  return list.map((x, i) => {
    if (typeof x === 'number') return x;
    if (typeof x === 'string' && ['NaN', 'Infinity', '-Infinity'].includes(x)) return Number(x);
    throw inputError(at, `${what}${Array.isArray(v) ? `[${i}]` : ''} is not a number: ${JSON.stringify(x) ?? String(x)}`);
  });
}

/** Parses a JSON line; InputFormatError with the parser's message otherwise. */
export function jsonLine(text: string, at: LineOrigin): unknown {
  try {
    return JSON.parse(text);
  } catch (err) {
    throw inputError(at, `not valid JSON: ${(err as Error).message}`, err);
  }
}

/** A JSON line as a RecordIO-protobuf record. */
export function jsonLineRecord(value: unknown, at: LineOrigin): Buffer {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw inputError(at, 'expected an object such as {"features": [1.5, 2], "label": 1}');
  }
  const o = value as Record<string, unknown>;
  if (o.features !== undefined && typeof o.features === 'object' && o.features !== null && !Array.isArray(o.features)) {
    try {
      return encodeProtobufRecord(protobufRecordFromJson(value));
    } catch (err) {
      throw inputError(at, (err as Error).message, err);
    }
  }
  if (o.features === undefined) throw inputError(at, 'no "features" (expected {"features": [1.5, 2], "label": 1})');
  const extra = Object.keys(o).filter((k) => k !== 'features' && k !== 'label');
  if (extra.length > 0) throw inputError(at, `unknown field ${JSON.stringify(extra[0])}: a dense row has only "features" and "label"`);
  const record: ProtobufRecord = { features: { values: { float32Tensor: { values: numberList(o.features, 'features', at) } } }, label: {} };
  if (o.label !== undefined && o.label !== null) record.label = { values: { float32Tensor: { values: numberList(o.label, 'label', at) } } };
  return encodeProtobufRecord(record);
}
