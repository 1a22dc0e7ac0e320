/**
 * The folder tree of src/ is the data path, bottom to top: a module may import from its own
 * folder and from folders below it, never from one above. The order is written once, in
 * docs/architecture.md (the fenced block after "Layers, bottom to top"); this test reads it
 * from there and checks every import of every src/ file against it.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { ROOT } from '../helpers/cli.js';

function layerOrder(): string[] {
  const doc = fs.readFileSync(path.join(ROOT, 'docs/architecture.md'), 'utf8');
  const block = /Layers, bottom to top[^\n]*\n+```\n([\s\S]*?)```/.exec(doc);
  assert.ok(block?.[1] !== undefined, 'docs/architecture.md has no "Layers, bottom to top" block');
  return block[1].split(/[\s→]+/).map((s) => s.trim()).filter((s) => s.length > 0);
}

function sourceFiles(dir: string): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = path.join(dir, e.name);
    return e.isDirectory() ? sourceFiles(p) : e.name.endsWith('.ts') ? [p] : [];
  });
}

const SRC = path.join(ROOT, 'src');
const folderOf = (file: string): string => path.relative(SRC, file).split(path.sep)[0] as string;

function importsOf(file: string): string[] {
  const text = fs.readFileSync(file, 'utf8');
  const specs = [...text.matchAll(/(?:from|import)\s*\(?\s*'(\.{1,2}\/[^']+)'/g)].map((m) => m[1] as string);
  return specs.map((s) => path.resolve(path.dirname(file), s));
}

test('every src/ folder has its place in the documented layer order', () => {
  const order = layerOrder();
  assert.equal(new Set(order).size, order.length, 'a folder is named twice');
  const folders = fs.readdirSync(SRC, { withFileTypes: true }).filter((e) => e.isDirectory()).map((e) => e.name);
  for (const f of folders) assert.ok(order.includes(f), `src/${f}/ is missing from the layer order in docs/architecture.md`);
  for (const f of order) assert.ok(folders.includes(f), `docs/architecture.md names src/${f}/, which does not exist`);
});

test('no import goes up the layer order', () => {
  const order = layerOrder();
  const rank = (folder: string): number => order.indexOf(folder);
  const upward: string[] = [];
  for (const file of sourceFiles(SRC)) {
    if (path.dirname(file) === SRC) continue; // src/index.ts: the public surface, above everything
    const from = folderOf(file);
    for (const target of importsOf(file)) {
      if (!target.startsWith(SRC + path.sep)) continue;
      const to = folderOf(target);
      if (path.dirname(target) === SRC) upward.push(`${path.relative(ROOT, file)} imports src/${path.basename(target)}`);
      else if (rank(to) > rank(from)) upward.push(`${path.relative(ROOT, file)} (${from}) imports ${path.relative(ROOT, target)} (${to})`);
    }
  }
  assert.deepEqual(upward, [], `imports that go up the layers:\n${upward.join('\n')}`);
});
