/**
 * AssembleWith: the model's answers to one file's mini-batches, in input order, become the bytes
 * of that file's `.out` object. Pure: answers in, output pieces out.
 *
 * - `None`: the answers concatenated as they are ("to concatenate the results in binary format").
 * - `Line`: "a newline character at the end of every transformed record". A batch of one record:
 *   its answer, then "\n" unless it already ends with one. A MultiRecord batch: the answer is split
 *   into one answer per record by the Accept type's framing (`splitAnswer`), then each gets its
 *   "\n"; a count that differs from the batch's records is a ResponseFramingError. Accept types
 *   with no record framing (binary, or Accept unset) get one "\n" per answer, as SageMaker's local
 *   mode does, since their boundaries cannot be seen.
 *
 * Framing by Accept (media type, parameters ignored) — our choice where the docs are silent:
 * - text/csv, text/plain, application/jsonlines, application/x-jsonlines, application/jsonl:
 *   lines; one final "\n" ends the last line rather than starting an empty one;
 * - application/json: a JSON array with one element per record (each element re-serialised, so
 *   the output is JSON Lines), else lines (a container that answers JSON Lines under this type);
 * - anything else: opaque.
 *
 * The caller (transform-file.ts) takes the answers in input order, whatever order the container
 * answers in, and puts each answer's pieces into the `.out` object.
 */
import { countByte } from '../core/count-byte.js';
import { ResponseFramingError } from '../core/errors.js';
import type { AssembleWith } from './transform-job-spec.js';
import { mediaType } from './transform-job-spec.js';

export type AnswerFraming = 'lines' | 'json' | 'opaque';

const LINE_TYPES = new Set(['text/csv', 'text/plain', 'application/jsonlines', 'application/x-jsonlines', 'application/jsonl']);
const NL = 0x0a;
const NEWLINE = Buffer.from('\n');

export function answerFraming(accept: string | undefined): AnswerFraming {
  const type = mediaType(accept);
  if (type === undefined) return 'opaque';
  if (LINE_TYPES.has(type)) return 'lines';
  return type === 'application/json' ? 'json' : 'opaque';
}

/** Where an answer came from, for error messages. */
export interface AnswerPlace {
  readonly source?: string | undefined;
  /** The batch's first record (0-based). */
  readonly first: number;
}

function lines(answer: Buffer): Buffer[] {
  const out: Buffer[] = [];
  let from = 0;
  for (let nl = answer.indexOf(NL); nl !== -1; nl = answer.indexOf(NL, from)) {
    out.push(answer.subarray(from, nl));
    from = nl + 1;
  }
  if (from < answer.length) out.push(answer.subarray(from));
  return out;
}

/** How many parts lines() would return, without making them (countByte: four bytes a step, not a call per line). */
function lineCount(answer: Buffer): number {
  return countByte(answer, NL) + (answer.length > 0 && answer[answer.length - 1] !== NL ? 1 : 0);
}

function mismatch(place: AnswerPlace, count: number, found: number, how: string): ResponseFramingError {
  const where = place.source === undefined ? '' : ` of ${place.source}`;
  return new ResponseFramingError(
    `the answer to records ${place.first}-${place.first + count - 1}${where} holds ${found} ${how} for ${count} records`,
    { ...(place.source === undefined ? {} : { source: place.source }), first: place.first, expected: count, found },
  );
}

/**
 * The answer to a batch of `count` records split into one answer per record (each without a
 * trailing "\n"). A batch of one keeps its answer whole (minus one trailing "\n"). A count
 * mismatch, or an opaque Accept type with count > 1, is a ResponseFramingError.
 */
export function splitAnswer(answer: Buffer, accept: string | undefined, count: number, place: AnswerPlace): Buffer[] {
  if (count === 1) return [answer.at(-1) === NL ? answer.subarray(0, -1) : answer];
  const framing = answerFraming(accept);
  if (framing === 'opaque') {
    const where = place.source === undefined ? '' : ` of ${place.source}`;
    throw new ResponseFramingError(`the answer to records ${place.first}-${place.first + count - 1}${where} cannot be split per record: Accept ${accept === undefined ? '(none)' : `"${accept}"`} has no record framing`, {
      ...(place.source === undefined ? {} : { source: place.source }), first: place.first, expected: count,
    });
  }
  if (framing === 'json') {
    let parsed: unknown;
    try {
      parsed = JSON.parse(answer.toString('utf8'));
    } catch {
      parsed = undefined;
    }
    if (Array.isArray(parsed)) {
      if (parsed.length !== count) throw mismatch(place, count, parsed.length, 'JSON array elements');
      return parsed.map((element) => Buffer.from(JSON.stringify(element)));
    }
  }
  const found = lines(answer);
  if (found.length !== count) throw mismatch(place, count, found.length, 'lines');
  return found;
}

/** The output pieces for one batch's answer. */
export function assembleAnswer(answer: Buffer, count: number, assembleWith: AssembleWith, accept: string | undefined, place: AnswerPlace): Buffer[] {
  if (assembleWith === 'None') return [answer];
  const framing = answerFraming(accept);
  if (count === 1 || framing === 'opaque') return answer.at(-1) === NL ? [answer] : [answer, NEWLINE];
  if (framing === 'lines') {
    // the lines of the answer, each with its "\n": the answer itself (checked), not one piece per record
    const found = lineCount(answer);
    if (found !== count) throw mismatch(place, count, found, 'lines');
    return answer.at(-1) === NL ? [answer] : [answer, NEWLINE];
  }
  return splitAnswer(answer, accept, count, place).flatMap((a) => [a, NEWLINE]);
}
