import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { UnsafeKeyError } from '../core/errors.js';
import { unpackModelArchive } from './artifacts.js';

/** Builds a model.tar.gz with Python's tarfile (an independent writer): entries as [name, kind, data|target]. */
function archive(dir: string, entries: readonly (readonly [string, 'file' | 'dir' | 'symlink' | 'link' | 'fifo', string?])[]): string {
  const file = path.join(dir, 'model.tar.gz');
  const script = `
import io, json, sys, tarfile
entries = json.loads(sys.argv[2])
with tarfile.open(sys.argv[1], 'w:gz') as t:
    for name, kind, data in entries:
        info = tarfile.TarInfo(name)
        if kind == 'file':
            body = data.encode(); info.size = len(body); info.mode = 0o644
            t.addfile(info, io.BytesIO(body)); continue
        info.type = {'dir': tarfile.DIRTYPE, 'symlink': tarfile.SYMTYPE, 'link': tarfile.LNKTYPE, 'fifo': tarfile.FIFOTYPE}[kind]
        if kind in ('symlink', 'link'): info.linkname = data
        info.mode = 0o755
        t.addfile(info)
`;
  execFileSync('python3', ['-c', script, file, JSON.stringify(entries.map(([n, k, d]) => [n, k, d ?? '']))]);
  return file;
}

function withDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pipemode-unpack-'));
  return fn(dir).finally(() => fs.rmSync(dir, { recursive: true, force: true }));
}

const sha = (b: Buffer | string): string => createHash('sha256').update(b).digest('hex');

test('a model archive unpacks byte for byte, links inside it included', () => withDir(async (dir) => {
  const file = archive(dir, [['code', 'dir'], ['code/inference.py', 'file', 'def model_fn(d):\n  return 1\n'], ['model.pt', 'file', 'weights'], ['latest', 'symlink', 'model.pt'], ['code/again.py', 'link', 'code/inference.py']]);
  const out = path.join(dir, 'model');
  const { files } = await unpackModelArchive(fs.createReadStream(file), out, file);
  assert.equal(files, 4);
  assert.equal(sha(fs.readFileSync(path.join(out, 'code/inference.py'))), sha('def model_fn(d):\n  return 1\n'));
  assert.equal(sha(fs.readFileSync(path.join(out, 'latest'))), sha('weights'));
  assert.equal(fs.readFileSync(path.join(out, 'code/again.py'), 'utf8'), 'def model_fn(d):\n  return 1\n');
}));

for (const [label, entries] of [
  ['a ../ entry', [['ok.txt', 'file', 'x'], ['../evil.txt', 'file', 'pwned']]],
  ['an absolute entry', [['/tmp/pipemode-evil-abs.txt', 'file', 'pwned']]],
  ['a symlink to an absolute path', [['etc', 'symlink', '/etc']]],
  ['a symlink out of the folder', [['up', 'symlink', '../../x']]],
  ['a hard link out of the folder', [['h', 'link', '../outside']]],
  ['a FIFO', [['p', 'fifo']]],
] as const) {
  test(`an archive with ${label} is refused whole, nothing left behind`, () => withDir(async (dir) => {
    const file = archive(dir, entries);
    const out = path.join(dir, 'sub', 'model');
    await assert.rejects(unpackModelArchive(fs.createReadStream(file), out, file), (err: unknown) => {
      assert.ok(err instanceof UnsafeKeyError, String(err));
      assert.match(err.message, /refusing to unpack .*model\.tar\.gz/);
      return true;
    });
    assert.deepEqual(fs.readdirSync(out), []);
    assert.equal(fs.existsSync(path.join(dir, 'sub', 'evil.txt')), false);
    assert.equal(fs.existsSync('/tmp/pipemode-evil-abs.txt'), false);
  }));
}
