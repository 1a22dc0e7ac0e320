/**
 * The images file of `pipemode server --images FILE`: which local command stands for which
 * container image, since pipemode runs no container engine. JSON or YAML, one mapping from an
 * image name or glob (`*` any run of characters, `?` one) to the command's argv:
 *
 *   "123456789012.dkr.ecr.us-east-1.amazonaws.com/xgboost:*": ["python3", "/srv/xgb/train.py"]
 *   "my-trainer": ["/usr/local/bin/train"]
 *
 * (optionally under a top-level `images:` key). The first matching entry, in file order, wins.
 * With `--images-only` this file is also the allow list: a request's ContainerEntrypoint must be
 * one of these argvs exactly, or the request is refused.
 *
 * NOTE for the merge: the hosting side has its own parser (`src/hosting/images-file.ts`); this
 * minimal one is `loadImagesFile` here until the two are made one.
 */
import { readSpecFile } from '../channel/spec-file.js';
import { ConfigError } from '../core/errors.js';

export interface ImagesFile {
  readonly file: string;
  /** The argv of the first entry whose pattern matches the image, if any. */
  commandFor(image: string): readonly string[] | undefined;
  /** Whether `argv` is exactly one of the file's commands. */
  allows(argv: readonly string[]): boolean;
}

function globToRegExp(glob: string): RegExp {
  const body = glob.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.');
  return new RegExp(`^${body}$`);
}

/** Reads and checks an images file; errors name the file and the entry. */
export function loadImagesFile(file: string): ImagesFile {
  let doc = readSpecFile(file);
  if (doc !== null && typeof doc === 'object' && !Array.isArray(doc) && 'images' in doc && Object.keys(doc).length === 1) {
    doc = doc.images;
  }
  if (doc === null || typeof doc !== 'object' || Array.isArray(doc)) {
    throw new ConfigError(`images file ${file}: expected a mapping from image name (or glob) to a command argv`, { field: 'images' });
  }
  const entries = Object.entries(doc as Record<string, unknown>).map(([pattern, argv]) => {
    if (!Array.isArray(argv) || argv.length === 0 || !argv.every((a) => typeof a === 'string' && a.length > 0)) {
      throw new ConfigError(`images file ${file}: "${pattern}": expected a non-empty list of strings (the command and its arguments)`, { field: pattern });
    }
    return { pattern: globToRegExp(pattern), argv: Object.freeze((argv as string[]).slice()) };
  });
  return Object.freeze({
    file,
    commandFor: (image: string) => entries.find((e) => e.pattern.test(image))?.argv,
    allows: (argv: readonly string[]) => entries.some((e) => e.argv.length === argv.length && e.argv.every((a, i) => a === argv[i])),
  });
}
