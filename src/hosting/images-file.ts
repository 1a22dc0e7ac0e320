/**
 * Images without Docker. No container engine runs where pipemode runs, so an *images file* says
 * what command stands in for each image's entrypoint: a JSON or YAML object whose keys are image
 * names (exact, or globs where `*` matches any run of characters) and whose values are argv arrays.
 *
 *   { "123456789012.dkr.ecr.us-east-1.amazonaws.com/my-model:*": ["/srv/my-model/bin/entry"] }
 *
 * SageMaker runs `docker run IMAGE serve` for hosting and `IMAGE train` for training, so the
 * mode's word is appended to the command. The file comes from `--images FILE`, else from
 * `PIPEMODE_IMAGES`. Lookup order: an exact key of the file, then its globs in file order, then the
 * built-in mappings: SageMaker framework images (`*pytorch-inference*`, `*sklearn*`, …) and the name
 * `pipemode-python` run pipemode's own Python model server (`python3 -m pipemode.model_server`,
 * `PIPEMODE_PYTHON` picks the interpreter) with `PYTHONPATH` pointing at the installed package's
 * `readers/python`. Hosting only: the model server has no `train`. Anything else is an
 * ImageNotMappedError saying how to map it.
 */
import { fileURLToPath } from 'node:url';
import * as v from 'valibot';
import { readSpecFile } from '../channel/spec-file.js';
import { ConfigError, ImageNotMappedError } from '../core/errors.js';
import { validate } from '../core/validate.js';

export type ContainerMode = 'serve' | 'train';

/** One key of an images file, in file order. */
export interface ImageMapping {
  readonly pattern: string;
  readonly argv: readonly string[];
  /** Extra environment the command needs (the built-in mappings set PYTHONPATH). */
  readonly env?: Readonly<Record<string, string>>;
  /** Modes the command supports. @default both */
  readonly modes?: readonly ContainerMode[];
  /** Where the mapping comes from, for messages. */
  readonly from: string;
}

/** What to run for an image: argv (mode word appended) and extra environment. */
export interface ImageCommand {
  readonly argv: readonly string[];
  readonly env: Readonly<Record<string, string>>;
  readonly from: string;
}

export interface ImagesMap {
  readonly mappings: readonly ImageMapping[];
}

/** `readers/python` of the installed package (the folder holding the `pipemode` Python package). */
export function pythonPackageDir(): string {
  return fileURLToPath(new URL('../../../readers/python', import.meta.url));
}

/** Image name globs served by pipemode's Python model server unless the images file says otherwise. */
export const FRAMEWORK_IMAGE_PATTERNS = Object.freeze([
  'pipemode-python', '*pytorch-inference*', '*sklearn*', '*scikit-learn*',
]);

/** `ImageMapping.from` of the built-in mappings. */
export const BUILTIN_MAPPING = 'built-in framework mapping';

function builtinMappings(env: NodeJS.ProcessEnv): ImageMapping[] {
  const python = env.PIPEMODE_PYTHON ?? 'python3';
  const pythonPath = [pythonPackageDir(), ...(env.PYTHONPATH !== undefined && env.PYTHONPATH !== '' ? [env.PYTHONPATH] : [])].join(':');
  return FRAMEWORK_IMAGE_PATTERNS.map((pattern) => ({
    pattern, argv: [python, '-m', 'pipemode.model_server'], env: { PYTHONPATH: pythonPath }, modes: ['serve'], from: BUILTIN_MAPPING,
  }));
}

const fileSchema = v.record(v.pipe(v.string(), v.minLength(1)), v.pipe(v.array(v.string()), v.minLength(1, 'a command of at least one word')));

/** Parses an images document (already read); `file` names it in errors. */
export function parseImagesDocument(doc: unknown, file: string): ImageMapping[] {
  const map = validate(fileSchema, doc, `images file ${file}`);
  return Object.entries(map).map(([pattern, argv]) => ({ pattern, argv, from: file }));
}

/** The images map for a run: `--images FILE`, else PIPEMODE_IMAGES, plus the built-in mappings. */
export function loadImagesMap(file?: string, env: NodeJS.ProcessEnv = process.env): ImagesMap {
  const chosen = file ?? (env.PIPEMODE_IMAGES !== undefined && env.PIPEMODE_IMAGES !== '' ? env.PIPEMODE_IMAGES : undefined);
  const fromFile = chosen === undefined ? [] : parseImagesDocument(readSpecFile(chosen), chosen);
  return Object.freeze({ mappings: Object.freeze([...fromFile, ...builtinMappings(env)]) });
}

function globToRegExp(glob: string): RegExp {
  return new RegExp(`^${glob.split('*').map((part) => part.replace(/[.+?^${}()|[\]\\]/g, '\\$&')).join('.*')}$`);
}

/** The mapping for `image`: exact keys first, then globs in order (file before built-ins). */
export function findImageMapping(map: ImagesMap, image: string, mode: ContainerMode): ImageMapping | undefined {
  const usable = map.mappings.filter((m) => m.modes === undefined || m.modes.includes(mode));
  return usable.find((m) => m.pattern === image) ?? usable.find((m) => m.pattern.includes('*') && globToRegExp(m.pattern).test(image));
}

/**
 * The command standing in for `docker run IMAGE <mode>`: the mapped argv with `serve` or `train`
 * appended. `field` names where the image came from (e.g. `Models[0].PrimaryContainer.Image`).
 */
export function commandForImage(map: ImagesMap, image: string, mode: ContainerMode, field = 'Image'): ImageCommand {
  if (image === '') throw new ConfigError(`${field} is empty`, { field });
  const found = findImageMapping(map, image, mode);
  if (found === undefined) {
    throw new ImageNotMappedError(
      `${field}: image "${image}" has no command to stand in for it (no container engine is used). Map it in an images file `
      + `(JSON or YAML: {"${image}": ["/path/to/entrypoint"]}, globs with * allowed) and pass --images FILE or set PIPEMODE_IMAGES; `
      + `pipemode appends "${mode}" as SageMaker does`, { image, field });
  }
  return Object.freeze({ argv: Object.freeze([...found.argv, mode]), env: Object.freeze({ ...found.env }), from: found.from });
}

/**
 * The map without the built-in mappings: `pipemode server --images-only` runs only what its images
 * file lists (the built-in model server would run any caller's `code/inference.py`).
 */
export function withoutBuiltins(map: ImagesMap): ImagesMap {
  return Object.freeze({ mappings: Object.freeze(map.mappings.filter((m) => m.from !== BUILTIN_MAPPING)) });
}

/** Whether `argv` is exactly the command of one of the images file's own mappings (the `--images-only` allow list). */
export function isListedCommand(map: ImagesMap, argv: readonly string[]): boolean {
  return map.mappings.some((m) => m.from !== BUILTIN_MAPPING && m.argv.length === argv.length && m.argv.every((a, i) => a === argv[i]));
}
