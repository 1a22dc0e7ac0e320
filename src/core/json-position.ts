/**
 * Where JSON text first goes wrong, as line and column (1-based). Node 20's JSON.parse messages
 * often carry no position, so the text is re-scanned with jsonc-parser (strict JSON settings) once
 * JSON.parse has failed.
 */
import { createRequire } from 'node:module';
import type * as Jsonc from 'jsonc-parser';

export interface JsonErrorLocation {
  readonly line: number;
  readonly column: number;
  /** What the scanner expected or found, e.g. "ValueExpected". */
  readonly problem: string;
}

export function jsonErrorLocation(text: string): JsonErrorLocation | undefined {
  // loaded only when JSON.parse has already failed
  const { parse, printParseErrorCode } = createRequire(import.meta.url)('jsonc-parser') as typeof Jsonc;
  const errors: Jsonc.ParseError[] = [];
  parse(text, errors, { disallowComments: true, allowTrailingComma: false, allowEmptyContent: false });
  const first = errors[0];
  if (first === undefined) return undefined;
  const before = text.slice(0, first.offset);
  return {
    line: before.split('\n').length,
    column: first.offset - before.lastIndexOf('\n'),
    problem: printParseErrorCode(first.error),
  };
}
