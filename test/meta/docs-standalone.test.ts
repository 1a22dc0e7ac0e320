/**
 * The docs, the code and its comments stand alone: nothing points at research notes that live
 * outside the repository (what users need is written into docs/ instead).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { ROOT } from '../helpers/cli.js';

const OUTSIDE = new RegExp(['pipe-mode-contract', 'node-dataplane', 's3-test-server', 'inference-and-api', 'performance-anchors', 'style-exemplars']
  .map((n) => `${n}\\.md`).concat(['shared' + '/docs', '\\.\\./' + 'shared/']).join('|'));
const SKIP = new Set(['node_modules', 'dist', '.git', '.pipemode', '__pycache__']);

function files(dir: string): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    if (SKIP.has(e.name)) return [];
    const p = path.join(dir, e.name);
    return e.isDirectory() ? files(p) : /\.(ts|js|mjs|py|md|sh|json|yaml|yml)$/.test(e.name) ? [p] : [];
  });
}

test('no file of the repository refers to notes outside it', () => {
  const found: string[] = [];
  for (const top of ['README.md', 'docs', 'src', 'readers', 'scripts', 'test', 'bench', 'examples']) {
    const p = path.join(ROOT, top);
    if (!fs.existsSync(p)) continue;
    for (const file of fs.statSync(p).isDirectory() ? files(p) : [p]) {
      fs.readFileSync(file, 'utf8').split('\n').forEach((line, i) => {
        if (OUTSIDE.test(line)) found.push(`${path.relative(ROOT, file)}:${i + 1}: ${line.trim().slice(0, 100)}`);
      });
    }
  }
  assert.deepEqual(found, []);
});
