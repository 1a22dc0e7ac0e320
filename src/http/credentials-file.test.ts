import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createCredentialsFile, generateAccessKeyPair, parseCredentials, readCredentialsFile } from './credentials-file.js';
import { CredentialsFileError } from '../core/errors.js';
import { awsChildEnv, hasBotocore, runPython } from '../../test/helpers/python-aws.js';

function tempDir(): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), 'pm-creds-'));
}

function parseError(text: string, line: number | undefined, message: RegExp): void {
  assert.throws(() => parseCredentials(text, '/etc/creds'), (err: unknown) => {
    assert.ok(err instanceof CredentialsFileError);
    assert.equal(err.code, 'PM_ERR_CREDENTIALS_FILE');
    assert.equal(err.details.file, '/etc/creds');
    assert.equal(err.details.line, line);
    assert.match(err.message, message);
    assert.ok(!err.message.includes('SECRETVALUE'), 'messages never quote a secret');
    return true;
  });
}

const SAMPLE = [
  '# a comment', '; another', '',
  '[default]', 'aws_access_key_id=AKIDDEFAULT', 'aws_secret_access_key = s1/with+chars=',
  'region = us-east-1', 's3 =', '  max_concurrent_requests = 10', '',
  '[profile other]', '\tAWS_ACCESS_KEY_ID : AKIDOTHER', 'aws_secret_access_key   =   s2  ', 'aws_session_token = tok',
  '[role-only]', 'role_arn = arn:aws:iam::123456789012:role/x', 'source_profile = default',
  '[same-key-again]', 'aws_access_key_id = AKIDDEFAULT', 'aws_secret_access_key = s1/with+chars=',
].join('\r\n');

test('every profile with both keys is read: comments, spacing, case, CRLF, colons and nested settings', () => {
  assert.deepEqual([...parseCredentials(SAMPLE, 'f')], [['AKIDDEFAULT', 's1/with+chars='], ['AKIDOTHER', 's2']]);
  assert.deepEqual([...parseCredentials('', 'f')], []);
});

test('malformed files fail with PM_ERR_CREDENTIALS_FILE naming the file and line, never the secret', () => {
  parseError('aws_access_key_id = A', 1, /\/etc\/creds:1: aws_access_key_id appears before any \[section\]/);
  parseError('[a]\naws_secret_access_key SECRETVALUE', 2, /neither a \[section\], a key = value pair nor a comment/);
  parseError('[a]\n[a]', 2, /section \[a\] appears a second time/);
  parseError('[]', 1, /needs a name/);
  parseError('[a]\naws_access_key_id = A\naws_access_key_id = B', 3, /appears twice in \[a\]/);
  parseError('[a]\naws_access_key_id =', 2, /is empty/);
  parseError('[a]\naws_secret_access_key = SECRETVALUE\n', 1, /\[a\] has aws_secret_access_key but no aws_access_key_id/);
  parseError('[a]\naws_secret_access_key = x\n  SECRETVALUE', 3, /cannot span several lines/);
  parseError('  aws_access_key_id = A', 1, /before any \[section\]/);
  parseError('[a]\naws_access_key_id = K\naws_secret_access_key = x\n[b]\naws_access_key_id = K\naws_secret_access_key = SECRETVALUE', 4,
    /access key K in \[b\] has a different secret/);
});

test('a missing file is a CredentialsFileError naming it', async () => {
  await assert.rejects(readCredentialsFile('/nonexistent/credentials'), (err: unknown) =>
    err instanceof CredentialsFileError && /\/nonexistent\/credentials: cannot be read \(ENOENT\)/.test(err.message));
});

test('generated keys look like AWS keys: PM + 18 of [A-Z0-9], a 40-character base64url secret, all distinct', () => {
  const pairs = Array.from({ length: 200 }, () => generateAccessKeyPair());
  for (const p of pairs) {
    assert.match(p.accessKeyId, /^PM[A-Z0-9]{18}$/);
    assert.match(p.secretAccessKey, /^[A-Za-z0-9_-]{40}$/);
  }
  assert.equal(new Set(pairs.map((p) => p.accessKeyId)).size, pairs.length);
});

test('createCredentialsFile writes mode 0600 atomically, reads back, and leaves no temp file', async () => {
  const dir = tempDir();
  const file = path.join(dir, 'sub', 'credentials');
  const pair = await createCredentialsFile(file);
  assert.equal(pair.profile, 'pipemode');
  assert.equal(fs.statSync(file).mode & 0o777, 0o600);
  assert.deepEqual([...await readCredentialsFile(file)], [[pair.accessKeyId, pair.secretAccessKey]]);
  assert.deepEqual(fs.readdirSync(path.dirname(file)), ['credentials']);
  assert.match(fs.readFileSync(file, 'utf8'), /^\[pipemode\]\naws_access_key_id = PM/);
});

test('an existing file is kept unless overwrite; a symlink is refused either way', async () => {
  const dir = tempDir();
  const file = path.join(dir, 'credentials');
  fs.writeFileSync(file, '[mine]\n');
  await assert.rejects(createCredentialsFile(file), /already exists; pass overwrite/);
  assert.equal(fs.readFileSync(file, 'utf8'), '[mine]\n');
  const pair = await createCredentialsFile(file, 'server', { overwrite: true });
  assert.deepEqual([...await readCredentialsFile(file)], [[pair.accessKeyId, pair.secretAccessKey]]);

  const target = path.join(dir, 'elsewhere');
  fs.writeFileSync(target, 'untouched');
  const link = path.join(dir, 'link');
  fs.symlinkSync(target, link);
  for (const overwrite of [false, true]) {
    await assert.rejects(createCredentialsFile(link, 'pipemode', { overwrite }), (err: unknown) =>
      err instanceof CredentialsFileError && /is a symlink; refusing/.test(err.message));
  }
  const dangling = path.join(dir, 'dangling');
  fs.symlinkSync(path.join(dir, 'nowhere'), dangling);
  await assert.rejects(createCredentialsFile(dangling), CredentialsFileError);
  assert.ok(!fs.existsSync(path.join(dir, 'nowhere')));
  assert.equal(fs.readFileSync(target, 'utf8'), 'untouched');
  assert.deepEqual(fs.readdirSync(dir).sort(), ['credentials', 'dangling', 'elsewhere', 'link']);
  await assert.rejects(createCredentialsFile(path.join(dir, 'x'), 'bad]name'), CredentialsFileError);
});

test('botocore reads the file we wrote as that profile\'s credentials', { skip: hasBotocore() ? false : 'python3 lacks botocore' }, async () => {
  const file = path.join(tempDir(), 'credentials');
  const pair = await createCredentialsFile(file, 'pm-test');
  const res = await runPython(
    'import json, botocore.session\nc = botocore.session.Session(profile="pm-test").get_credentials()\nprint(json.dumps([c.access_key, c.secret_key]))',
    { env: awsChildEnv({ AWS_SHARED_CREDENTIALS_FILE: file }) });
  assert.equal(res.code, 0, res.stderr);
  assert.deepEqual(JSON.parse(res.stdout), [pair.accessKeyId, pair.secretAccessKey]);
});

test('botocore\'s own INI parser reads the same keys from the sample file', { skip: hasBotocore() ? false : 'python3 lacks botocore' }, async () => {
  const file = path.join(tempDir(), 'credentials');
  fs.writeFileSync(file, SAMPLE);
  const res = await runPython([
    'import sys, json', 'from botocore.configloader import raw_config_parse',
    'c = raw_config_parse(sys.argv[1])',
    'print(json.dumps([[s["aws_access_key_id"], s["aws_secret_access_key"]] for s in c.values() if "aws_access_key_id" in s]))',
  ].join('\n').replace('sys.argv[1]', JSON.stringify(file)));
  assert.equal(res.code, 0, res.stderr);
  const theirs = new Map(JSON.parse(res.stdout) as [string, string][]);
  assert.deepEqual([...parseCredentials(SAMPLE, file)].sort(), [...theirs].sort());
});
