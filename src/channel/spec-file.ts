/**
 * Reads a channel spec file: JSON or YAML holding one SageMaker Channel object, a list of them,
 * or a whole CreateTrainingJob request (its InputDataConfig is used). Parse errors name the file,
 * line and column.
 */
import fs from 'node:fs';
import { createRequire } from 'node:module';
import type * as Yaml from 'yaml';
import { SpecFileError } from '../core/errors.js';
import { jsonErrorLocation } from '../core/json-position.js';

/** Parses a JSON or YAML document (by extension; YAML for anything but .json). */
export function readSpecFile(file: string): unknown {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    throw new SpecFileError(`cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, { file }, { cause: err });
  }
  if (file.endsWith('.json')) {
    try {
      return JSON.parse(text) as unknown;
    } catch (err) {
      const at = jsonErrorLocation(text);
      throw new SpecFileError(`${file}${at ? `:${at.line}:${at.column}` : ''}: invalid JSON: ${at?.problem ?? (err as Error).message}`, {
        file, line: at?.line, column: at?.column,
      }, { cause: err });
    }
  }
  // loaded on demand: most runs read no YAML, and it costs ~30 ms of start-up
  const YAML = createRequire(import.meta.url)('yaml') as typeof Yaml;
  const doc = YAML.parseDocument(text);
  const error = doc.errors[0];
  if (error !== undefined) {
    const pos = error.linePos?.[0];
    throw new SpecFileError(`${file}${pos ? `:${pos.line}:${pos.col}` : ''}: invalid YAML: ${error.message.split(/ at line \d+|\n/)[0] ?? ''}`, {
      file, line: pos?.line, column: pos?.col,
    });
  }
  return doc.toJS();
}

/** The Channel objects a spec document holds. */
export function channelsInSpec(doc: unknown, file: string): unknown[] {
  if (Array.isArray(doc)) return doc;
  if (typeof doc === 'object' && doc !== null && 'InputDataConfig' in doc) {
    const list = doc.InputDataConfig;
    if (!Array.isArray(list)) throw new SpecFileError(`${file}: InputDataConfig must be a list of channels`, { file, field: 'InputDataConfig' });
    return list;
  }
  if (typeof doc === 'object' && doc !== null) return [doc];
  throw new SpecFileError(`${file}: expected a Channel object, a list of channels or a CreateTrainingJob request`, { file });
}
