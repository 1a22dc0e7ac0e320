/**
 * DataProcessing for one record (data-processing guide; botocore DataProcessing):
 * InputFilter → model → JoinSource → OutputFilter, for CSV and JSON records only.
 *
 * CSV (ContentType text/csv; records are lines, SplitType Line): a row is an array of its fields,
 * split by RFC 4180 (quoted fields may hold commas and doubled quotes; a field's text, quotes
 * included, is kept byte for byte). Only index paths apply. InputFilter `$[1:]` sends the row
 * without its first field; JoinSource Input appends the answer's fields to the ORIGINAL input
 * row (`[1,2,3]` + `[1]` → `1,2,3,1`); the OutputFilter picks fields of the joined row. Selected
 * fields are written back joined by ",".
 *
 * JSON (application/json, application/jsonlines): a record is one JSON value. JoinSource Input
 * adds the answer as `SageMakerOutput` to an object input (overwriting a key of that name, as the
 * guide warns), and for any other input builds `{"SageMakerInput": input, "SageMakerOutput":
 * answer}`. An answer that is not JSON joins as a string. Values are written back with
 * JSON.stringify (so number spelling such as 1.0 may change; key order is kept).
 *
 * With JoinSource None the OutputFilter applies to the answer. With the identity configuration
 * (`$`, None, `$`) nothing is parsed: bytes pass through.
 *
 * Errors: DataProcessingError with the file, record index and expression (a record that is not
 * JSON, an index out of range, a missing key).
 */
import { DataProcessingError, isPipemodeError } from '../core/errors.js';
import type { JsonPath } from './json-path.js';
import { mediaType, type DataProcessingSpec } from './transform-job-spec.js';

export type RecordKind = 'csv' | 'json';

/** The record kind of a ContentType / Accept, or undefined if DataProcessing does not apply to it. */
export function recordKind(contentType: string | undefined): RecordKind | undefined {
  const type = mediaType(contentType);
  if (type === 'text/csv') return 'csv';
  if (type === 'application/json' || type === 'application/jsonlines') return 'json';
  return undefined;
}

/** RFC 4180 fields of one CSV row, each as written (quotes kept). A row never holds "\n" here. */
export function csvFields(row: string): string[] {
  const fields: string[] = [];
  let from = 0;
  let quoted = false;
  for (let i = 0; i < row.length; i++) {
    const ch = row[i];
    if (ch === '"') quoted = !quoted;
    else if (ch === ',' && !quoted) {
      fields.push(row.slice(from, i));
      from = i + 1;
    }
  }
  fields.push(row.slice(from));
  return fields;
}

export interface RecordProcessor {
  /** What the model is sent for `record` (InputFilter). */
  filterInput(record: Buffer, index: number): Buffer;
  /** What the output holds for `record` given its `answer` (JoinSource, then OutputFilter). */
  joinOutput(record: Buffer, answer: Buffer, index: number): Buffer;
}

function stripLineEnd(b: Buffer): Buffer {
  let end = b.length;
  if (b[end - 1] === 0x0a) end--;
  if (b[end - 1] === 0x0d) end--;
  return end === b.length ? b : b.subarray(0, end);
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** One record's processor for a job's DataProcessing; `source` names the file in errors. */
export function createRecordProcessor(dp: DataProcessingSpec, kind: RecordKind, source?: string): RecordProcessor {
  const fail = (index: number, path: JsonPath | undefined, err: unknown): never => {
    const where = source === undefined ? '' : ` of ${source}`;
    const problem = err instanceof Error ? err.message : String(err);
    throw new DataProcessingError(`DataProcessing: record ${index}${where}: ${problem}`, {
      ...(source === undefined ? {} : { source }), record: index, ...(path === undefined ? {} : { expression: path.expression }),
    }, { cause: err });
  };
  const select = (path: JsonPath, value: unknown, index: number): unknown => {
    try {
      return path.select(value);
    } catch (err) {
      if (!isPipemodeError(err)) throw err;
      return fail(index, path, err);
    }
  };
  if (kind === 'csv') {
    const row = (b: Buffer): string[] => csvFields(stripLineEnd(b).toString('utf8'));
    const write = (value: unknown): Buffer => Buffer.from(Array.isArray(value) ? value.join(',') : String(value));
    return {
      filterInput: (record, index) => (dp.inputFilter.isRoot ? record : write(select(dp.inputFilter, row(record), index))),
      joinOutput(record, answer, index) {
        if (dp.joinSource === 'None' && dp.outputFilter.isRoot) return answer;
        const joined = dp.joinSource === 'Input' ? [...row(record), ...row(answer)] : row(answer);
        return write(select(dp.outputFilter, joined, index));
      },
    };
  }
  const parse = (b: Buffer, index: number, what: string): unknown => {
    try {
      return JSON.parse(b.toString('utf8')) as unknown;
    } catch (err) {
      return fail(index, undefined, new Error(`the ${what} is not JSON (${(err as Error).message})`));
    }
  };
  const parseAnswer = (b: Buffer): unknown => {
    try {
      return JSON.parse(b.toString('utf8')) as unknown;
    } catch {
      return stripLineEnd(b).toString('utf8');
    }
  };
  return {
    filterInput: (record, index) => (dp.inputFilter.isRoot ? record : Buffer.from(JSON.stringify(select(dp.inputFilter, parse(record, index, 'input record'), index)))),
    joinOutput(record, answer, index) {
      if (dp.joinSource === 'None' && dp.outputFilter.isRoot) return answer;
      let joined: unknown;
      if (dp.joinSource === 'Input') {
        const input = parse(record, index, 'input record');
        const output = parseAnswer(answer);
        joined = isObject(input) ? { ...input, SageMakerOutput: output } : { SageMakerInput: input, SageMakerOutput: output };
      } else {
        joined = parseAnswer(answer);
      }
      return Buffer.from(JSON.stringify(select(dp.outputFilter, joined, index)));
    },
  };
}
