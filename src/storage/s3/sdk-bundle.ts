/**
 * The AWS SDK as one prebuilt file with V8's code cache beside it, so that loading it costs less
 * of the start-up that every S3 channel's first byte waits for.
 *
 * `npm run build` bundles the SDK modules pipemode uses into dist/vendor/aws-sdk.cjs (esbuild,
 * scripts/bundle-sdk.mjs: the packages' own CommonJS, unchanged) and then runs it once through
 * `writeSdkCodeCache`, which stores V8's compiled code for it in aws-sdk.cjs.cache. Loading
 * then skips most of the parsing and compiling: measured here, 46–54 ms against 74–92 ms for the
 * packages themselves (bench part `sdk`, docs/benchmarks.md). A cache that V8 rejects (another Node release) only
 * costs that time back; without the bundle (a plain `tsc` build) the packages load as they are.
 *
 * The bundle runs as a CommonJS module body in this context (vm.Script), with a `require` that
 * only ever sees Node's own modules: everything else is inside the bundle.
 */
import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import vm from 'node:vm';

const BUNDLE = fileURLToPath(new URL('../../../vendor/aws-sdk.cjs', import.meta.url));
const CACHE = `${BUNDLE}.cache`;

type ModuleBody = (exports: object, require: NodeJS.Require, module: { exports: object }, filename: string, dirname: string) => void;

function compile(source: string, cachedData: Buffer | undefined): vm.Script {
  // the same wrapper as Node's own for a CommonJS file: the cache is only valid for this text
  const wrapped = `(function (exports, require, module, __filename, __dirname) {${source}\n})`;
  return new vm.Script(wrapped, { filename: BUNDLE, ...(cachedData !== undefined ? { cachedData } : {}) });
}

function run(script: vm.Script): unknown {
  const body = script.runInThisContext() as ModuleBody;
  const module = { exports: {} };
  body(module.exports, createRequire(BUNDLE), module, BUNDLE, path.dirname(BUNDLE));
  return module.exports;
}

export interface LoadedBundle {
  readonly exports: unknown;
  /** Whether V8 took the code cache: 'none' when there was none to give it. */
  readonly cache: 'used' | 'rejected' | 'none';
}

/** The bundled SDK, or undefined when the build made no bundle. */
export function loadSdkBundle(): LoadedBundle | undefined {
  let source: string;
  try {
    source = fs.readFileSync(BUNDLE, 'utf8');
  } catch {
    return undefined;
  }
  let cachedData: Buffer | undefined;
  try {
    cachedData = fs.readFileSync(CACHE);
  } catch {
    cachedData = undefined; // no cache: compiled as usual
  }
  const script = compile(source, cachedData);
  return { exports: run(script), cache: cachedData === undefined ? 'none' : script.cachedDataRejected === true ? 'rejected' : 'used' };
}

/** Build step: runs the bundle once and writes V8's code for it, the lazily compiled functions included. */
export function writeSdkCodeCache(): number {
  const script = compile(fs.readFileSync(BUNDLE, 'utf8'), undefined);
  run(script);
  const data = script.createCachedData();
  fs.writeFileSync(CACHE, data);
  return data.length;
}
