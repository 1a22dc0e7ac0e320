/**
 * Validation of user-written documents (channel specs, later job specs) with zod, turned into one
 * ConfigError whose message names every bad field by its path ("DataSource.S3DataSource.S3Uri"),
 * says what was expected and what was given, and suggests the intended key for unknown ones.
 */
import { z } from 'zod';
import { ConfigError } from './errors.js';
import { didYouMean } from './did-you-mean.js';

type Path = readonly PropertyKey[];

function formatPath(path: Path): string {
  let out = '';
  for (const part of path) {
    if (typeof part === 'number') out += `[${part}]`;
    else out += out === '' ? String(part) : `.${String(part)}`;
  }
  return out;
}

function valueAt(input: unknown, path: Path): unknown {
  let v = input;
  for (const part of path) {
    if (v === null || typeof v !== 'object') return undefined;
    v = (v as Record<PropertyKey, unknown>)[part];
  }
  return v;
}

function describeValue(v: unknown): string {
  if (v === undefined) return 'nothing';
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  if (typeof v === 'object') return 'an object';
  const text = JSON.stringify(v);
  return text.length > 80 ? `${text.slice(0, 77)}...` : text;
}

/** Keys of the object schema found by following `path` from `schema`, if any. */
function knownKeys(schema: z.ZodType, path: Path): string[] {
  let s: z.ZodType = schema;
  for (let i = 0; ; i++) {
    if (s instanceof z.ZodOptional || s instanceof z.ZodNullable || s instanceof z.ZodDefault) {
      s = s.unwrap() as z.ZodType;
      i--;
      continue;
    }
    if (i === path.length) break;
    const part = path[i];
    if (s instanceof z.ZodObject && typeof part === 'string') s = (s.shape as Record<string, z.ZodType>)[part] ?? z.never();
    else if (s instanceof z.ZodArray && typeof part === 'number') s = s.element as z.ZodType;
    else return [];
  }
  return s instanceof z.ZodObject ? Object.keys(s.shape) : [];
}

function describeIssue(schema: z.ZodType, input: unknown, issue: z.core.$ZodIssue): { field: string; text: string }[] {
  const field = formatPath(issue.path);
  const given = valueAt(input, issue.path);
  if (given === undefined && issue.code !== 'unrecognized_keys') return [{ field, text: 'is required' }];
  switch (issue.code) {
    case 'unrecognized_keys': {
      const known = knownKeys(schema, issue.path);
      return issue.keys.map((key) => ({
        field: formatPath([...issue.path, key]),
        text: `unknown key${didYouMean(key, known)}; allowed here: ${known.join(', ')}`,
      }));
    }
    case 'invalid_value': {
      const allowed = issue.values.map((v) => String(v));
      const hint = typeof given === 'string' ? didYouMean(given, allowed) : '';
      return [{ field, text: `must be one of ${allowed.join(' | ')}, got ${describeValue(given)}${hint}` }];
    }
    case 'invalid_type':
      return [{ field, text: `must be ${issue.expected === 'object' ? 'an object' : `a ${issue.expected}`}, got ${describeValue(given)}` }];
    default:
      return [{ field, text: `${issue.message.replace(/^Invalid input: /, '')} (got ${describeValue(given)})` }];
  }
}

/**
 * Parses `input` with `schema`; on failure throws a ConfigError naming each bad field.
 * `what` prefixes the message, e.g. `channel "train"` or `channel spec train.yaml`.
 */
export function validate<S extends z.ZodType>(schema: S, input: unknown, what: string): z.output<S> {
  const result = schema.safeParse(input);
  if (result.success) return result.data;
  const problems = result.error.issues.flatMap((issue) => describeIssue(schema, input, issue));
  const first = problems[0];
  const lines = problems.map((p) => `${p.field === '' ? '(top level)' : p.field}: ${p.text}`);
  throw new ConfigError(`invalid ${what}: ${lines.length === 1 ? lines[0] : `\n  ${lines.join('\n  ')}`}`, {
    field: first?.field,
    problems: problems.length,
  });
}
