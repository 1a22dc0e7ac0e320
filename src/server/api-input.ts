/**
 * Reading the members of a control-plane request that every operation shares: resource names,
 * timestamps (epoch seconds as numbers, what the SDKs send; ISO-8601 strings are accepted too),
 * and the List parameters (NextToken, MaxResults, NameContains, StatusEquals, the time bounds,
 * SortBy, SortOrder) checked against each List's own enums. Every refusal is a ValidationException
 * naming the member, worded like SageMaker's "1 validation error detected: Value … at '…' failed
 * to satisfy constraint: …".
 *
 * NextToken is opaque to callers: base64url of {kind, offset}; a token from another List or a
 * forged one is refused.
 */
import { RESOURCE_NAME } from '../container/arn.js';
import type { ListQuery, ResourceKind } from './state-store.js';
import { validation } from './api-error.js';


export type Body = Readonly<Record<string, unknown>>;

export function constraintError(member: string, value: unknown, constraint: string): Error {
  const shown = typeof value === 'string' ? value.slice(0, 100) : JSON.stringify(value)?.slice(0, 100);
  return validation(`1 validation error detected: Value '${shown}' at '${member}' failed to satisfy constraint: ${constraint}`);
}

export function requiredString(body: Body, member: string): string {
  const v = body[member];
  if (v === undefined || v === null) throw validation(`1 validation error detected: Value null at '${member}' failed to satisfy constraint: Member must not be null`);
  if (typeof v !== 'string') throw constraintError(member, v, 'Member must be a string');
  return v;
}

export function resourceName(body: Body, member: string): string {
  const v = requiredString(body, member);
  if (!RESOURCE_NAME.test(v)) throw constraintError(member, v, `Member must satisfy regular expression pattern: ${RESOURCE_NAME.source}`);
  return v;
}

export function optionalString(body: Body, member: string): string | undefined {
  const v = body[member];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'string') throw constraintError(member, v, 'Member must be a string');
  return v;
}

/** A timestamp member as epoch ms. */
export function optionalTime(body: Body, member: string): number | undefined {
  const v = body[member];
  if (v === undefined || v === null) return undefined;
  if (typeof v === 'number' && Number.isFinite(v)) return v * 1000;
  if (typeof v === 'string') {
    const n = Number(v);
    if (Number.isFinite(n)) return n * 1000;
    const t = Date.parse(v);
    if (Number.isFinite(t)) return t;
  }
  throw constraintError(member, v, 'Member must be a timestamp (epoch seconds)');
}

export function optionalInt(body: Body, member: string, min: number, max: number): number | undefined {
  const v = body[member];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'number' || !Number.isInteger(v)) throw constraintError(member, v, 'Member must be an integer');
  if (v < min) throw constraintError(member, v, `Member must have value greater than or equal to ${min}`);
  if (v > max) throw constraintError(member, v, `Member must have value less than or equal to ${max}`);
  return v;
}

export function optionalEnum<T extends string>(body: Body, member: string, values: readonly T[]): T | undefined {
  const v = body[member];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'string' || !(values as readonly string[]).includes(v)) {
    throw constraintError(member, v, `Member must satisfy enum value set: [${values.join(', ')}]`);
  }
  return v as T;
}

/** SageMaker's default page size (documented for ListEndpoints; used for every List). */
export const DEFAULT_PAGE_SIZE = 10;

interface Token {
  readonly k: string;
  readonly o: number;
}

export function encodeNextToken(kind: ResourceKind, offset: number): string {
  return Buffer.from(JSON.stringify({ k: kind, o: offset } satisfies Token)).toString('base64url');
}

function decodeNextToken(kind: ResourceKind, text: string): number {
  try {
    const t = JSON.parse(Buffer.from(text, 'base64url').toString('utf8')) as Partial<Token>;
    if (t.k === kind && typeof t.o === 'number' && Number.isInteger(t.o) && t.o >= 0) return t.o;
  } catch {
    // falls through to the refusal
  }
  throw validation('Invalid pagination token: NextToken was not returned by this List operation.');
}

export interface ListOptions<S extends string> {
  readonly sortKeys: readonly S[];
  readonly statuses?: readonly string[];
  /** Whether this List has LastModifiedTimeAfter/Before. */
  readonly lastModified: boolean;
}

/** Reads a List request into a store query. */
export function listQuery<S extends 'Name' | 'CreationTime' | 'Status'>(kind: ResourceKind, body: Body, options: ListOptions<S>): ListQuery {
  const token = optionalString(body, 'NextToken');
  if (token !== undefined && token.length > 8192) throw constraintError('nextToken', token, 'Member must have length less than or equal to 8192');
  const name = optionalString(body, 'NameContains');
  if (name !== undefined && (name.length > 63 || !/^[a-zA-Z0-9-]*$/.test(name))) {
    throw constraintError('nameContains', name, 'Member must satisfy regular expression pattern: [a-zA-Z0-9\\-]+');
  }
  return {
    nameContains: name,
    statusEquals: options.statuses === undefined ? undefined : optionalEnum(body, 'StatusEquals', options.statuses),
    creationTimeAfter: optionalTime(body, 'CreationTimeAfter'),
    creationTimeBefore: optionalTime(body, 'CreationTimeBefore'),
    lastModifiedTimeAfter: options.lastModified ? optionalTime(body, 'LastModifiedTimeAfter') : undefined,
    lastModifiedTimeBefore: options.lastModified ? optionalTime(body, 'LastModifiedTimeBefore') : undefined,
    sortBy: optionalEnum(body, 'SortBy', options.sortKeys) ?? 'CreationTime',
    sortOrder: optionalEnum(body, 'SortOrder', ['Ascending', 'Descending'] as const) ?? (kind === 'TrainingJob' ? 'Ascending' : 'Descending'),
    offset: token === undefined ? 0 : decodeNextToken(kind, token),
    limit: optionalInt(body, 'MaxResults', 1, 100) ?? DEFAULT_PAGE_SIZE,
  };
}

/** An epoch-ms time as the API sends it: epoch seconds, a number. */
export const epochSeconds = (ms: number): number => Math.round(ms) / 1000;

/** An ISO-8601 time (job records) as epoch seconds. */
export const isoToEpoch = (iso: string | undefined): number | undefined => (iso === undefined ? undefined : epochSeconds(Date.parse(iso)));
