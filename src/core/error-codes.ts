/**
 * The catalogue by code: every PipemodeError subclass exported by errors.ts, found by reflection
 * over the module (no hand-kept list to forget a class in), and `errorFromCode`, which rebuilds a
 * typed error that crossed a thread or process boundary as its code and message.
 */
import * as catalogue from './errors.js';
import { InternalError, PipemodeError, type ErrorDetails } from './errors.js';

type ErrorClass = (new (message: string, details?: ErrorDetails, options?: { cause?: unknown }) => PipemodeError) & typeof PipemodeError;

/** Every concrete error class of the catalogue, in export order. */
export const ERROR_CLASSES: readonly ErrorClass[] = Object.freeze(Object.values(catalogue).filter(
  (value): value is ErrorClass => typeof value === 'function' && value.prototype instanceof PipemodeError,
));

const BY_CODE: ReadonlyMap<string, ErrorClass> = new Map(ERROR_CLASSES.map((Cls) => [Cls.code, Cls]));

/** Rebuilds a typed error from its code; an unknown code becomes an InternalError that keeps it. */
export function errorFromCode(code: string, message: string, details: ErrorDetails = {}): PipemodeError {
  const Cls = BY_CODE.get(code);
  return Cls !== undefined ? new Cls(message, details) : new InternalError(message, { ...details, code });
}
