/** docs/errors.md, the error catalogue and the CLI's exit codes must agree. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { ERROR_CLASSES } from '../../src/core/error-codes.js';
import { EXIT_CODE_BY_ERROR_CODE } from '../../src/cli/exit-codes.js';
import { ROOT } from '../helpers/cli.js';

interface Row { code: string; cls: string; retried: string; exit: number; http: string }

function docRows(): Row[] {
  const text = fs.readFileSync(path.join(ROOT, 'docs/errors.md'), 'utf8');
  return text.split('\n').filter((l) => l.startsWith('| `PM_ERR_')).map((l) => {
    const cells = l.split('|').map((c) => c.trim().replace(/`/g, ''));
    return { code: cells[1] ?? '', cls: cells[2] ?? '', retried: cells[5] ?? '', exit: Number(cells[6]), http: cells[7] ?? '' };
  });
}

test('every error class is documented with its code, class name, retry flag, exit code and HTTP mapping', () => {
  const rows = new Map(docRows().map((r) => [r.code, r]));
  for (const Cls of ERROR_CLASSES) {
    const err = new Cls('x');
    const row = rows.get(err.code);
    assert.ok(row, `${err.code} missing from docs/errors.md`);
    assert.equal(row.cls, Cls.name, err.code);
    assert.equal(row.retried, err.retryable ? 'yes' : 'no', err.code);
    assert.equal(row.exit, EXIT_CODE_BY_ERROR_CODE[err.code], `${err.code} exit code`);
    assert.equal(row.http, `${err.http.status} ${err.http.controlPlane} / ${err.http.runtime}`, `${err.code} HTTP mapping`);
  }
});

test('docs/errors.md documents no code that does not exist, and codes are unique', () => {
  const codes = ERROR_CLASSES.map((C) => new C('x').code);
  assert.equal(new Set(codes).size, codes.length);
  assert.deepEqual(docRows().map((r) => r.code).sort(), [...codes].sort());
  assert.deepEqual(Object.keys(EXIT_CODE_BY_ERROR_CODE).sort(), [...codes].sort());
});

test('docs/cli.md lists each exit code with the error codes that map to it', () => {
  const text = fs.readFileSync(path.join(ROOT, 'docs/cli.md'), 'utf8');
  for (const [code, exit] of Object.entries(EXIT_CODE_BY_ERROR_CODE)) {
    const line = text.split('\n').find((l) => l.startsWith(`| ${exit} |`));
    assert.ok(line?.includes(code), `docs/cli.md: exit ${exit} row lacks ${code}`);
  }
});
