/** Bad input through the real CLI: a clear message naming the field, file, line or object, and the documented exit code. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import zlib from 'node:zlib';
import { runPipemode } from '../helpers/cli.js';
import { newBucket, put } from '../helpers/s3.js';

const tmp = (): string => fs.mkdtempSync(path.join(os.tmpdir(), 'pipemode-err-'));

async function expectError(args: string[], exit: number, pattern: RegExp): Promise<void> {
  const r = await runPipemode(args);
  assert.equal(r.code, exit, `${args.join(' ')}: ${r.stderr}`);
  assert.match(r.stderr, pattern);
  assert.equal(r.stdout.length, 0);
}

test('usage errors exit 2 and name the flag or field', async () => {
  const dir = tmp();
  await expectError(['cat'], 2, /a SOURCE .* or --channel FILE is required/);
  await expectError(['cat', dir, '--compression', 'gzp'], 2, /CompressionType: must be one of None \| Gzip, got "gzp" \(did you mean "Gzip"\?\) \[PM_ERR_CONFIG\]/);
  await expectError(['cat', dir, '--memory-budget', 'lots'], 2, /--memory-budget must be a byte size/);
  await expectError(['cat', dir, '--part-size', '8MiB', '--memory-budget', '1MiB'], 2, /memory budget .* must be at least the part size/);
  await expectError(['cat', dir, '--host-rank', '3', '--host-count', '3'], 2, /--host-rank is 0-based/);
  await expectError(['cat', 'http://example.com/x'], 2, /unsupported source URI/);
  await expectError(['cat', dir, '--no-such-flag'], 2, /unknown option/);
  await expectError(['pipe', '--dir', dir, '--channel', 'a=/x', '--channel', 'a=/y'], 2, /channel "a" is given twice/);
});

test('spec files: parse errors give file, line and column; unknown keys a did-you-mean', async () => {
  const dir = tmp();
  fs.writeFileSync(path.join(dir, 'bad.json'), '{\n  "ChannelName": "train",\n  "DataSource": {\n}');
  fs.writeFileSync(path.join(dir, 'bad.yaml'), 'ChannelName: train\nDataSource:\n  S3DataSource: [unclosed\n');
  fs.writeFileSync(path.join(dir, 'typo.yaml'), 'ChannelName: train\nDataSource:\n  S3DataSource:\n    S3DataType: S3Prefix\n    S3Uri: /tmp\nRecordWraperType: RecordIO\n');
  await expectError(['cat', '--channel', path.join(dir, 'bad.json')], 2, /bad\.json:4:2: invalid JSON: CloseBraceExpected \[PM_ERR_SPEC_FILE\]/);
  await expectError(['cat', '--channel', path.join(dir, 'bad.yaml')], 2, /bad\.yaml:\d+:\d+: invalid YAML/);
  await expectError(['cat', '--channel', path.join(dir, 'typo.yaml')], 2, /RecordWraperType: unknown key \(did you mean "RecordWrapperType"\?\)/);
  await expectError(['cat', '--channel', path.join(dir, 'missing.yaml')], 2, /cannot read .*missing\.yaml: ENOENT/);
});

test('data errors exit 3 and name the object or line', async () => {
  const dir = tmp();
  fs.writeFileSync(path.join(dir, 'manifest.json'), `[{"prefix": "${dir}/"},\n "a.bin",\n oops]`);
  fs.writeFileSync(path.join(dir, 'aug.jsonl'), `{"source-ref": "${dir}/a.bin", "label": 1}\n{"label": 2}\n`);
  fs.writeFileSync(path.join(dir, 'a.bin'), 'a');
  fs.writeFileSync(path.join(dir, 'missing-manifest.json'), `[{"prefix": "${dir}/"}, "a.bin", "nope.bin"]`);
  await expectError(['cat', `${dir}/nothing-here`], 3, /no objects match the prefix file:\/\/\/.*nothing-here \[PM_ERR_EMPTY_SOURCE\]/);
  await expectError(['cat', `${dir}/manifest.json`, '--s3-data-type', 'ManifestFile'], 3, /manifest\.json: invalid JSON at line 3, column 2: InvalidSymbol \[PM_ERR_MANIFEST\]/);
  await expectError(['cat', `${dir}/aug.jsonl`, '--s3-data-type', 'augmentedmanifestfile', '--attribute-names', 'source-ref,label'], 3, /aug\.jsonl: line 2 has no attribute "source-ref"/);
  await expectError(['cat', `${dir}/missing-manifest.json`, '--s3-data-type', 'ManifestFile'], 3, /nope\.bin.*\[PM_ERR_NO_SUCH_KEY\]/);
  const bucket = await newBucket('pm-err');
  await put(bucket, 'x/a', 'a');
  await expectError(['cat', `s3://${bucket}/y/`], 3, /no objects match the prefix s3:\/\/pm-err-[0-9a-f]+\/y\/ \[PM_ERR_EMPTY_SOURCE\]/);
  await expectError(['cat', 's3://no-such-bucket-here/x'], 3, /NoSuchBucket.*\[PM_ERR_NO_SUCH_BUCKET\]/);
});

test('stream errors exit 4 and name the object: corrupt gzip', async () => {
  const dir = tmp();
  fs.writeFileSync(path.join(dir, 'a.gz'), 'this is not gzip');
  await expectError(['cat', `${dir}/`, '--compression', 'Gzip'], 4, /a\.gz is not valid gzip \(incorrect header check\) in compressed bytes 0-16 \[PM_ERR_GZIP\]/);
});

test('a corrupt object among many, inflated several at once, fails the stream (exit 4, named), never a short success', async () => {
  const dir = tmp();
  const bodies = Array.from({ length: 12 }, (_, i) => Buffer.alloc(300_000 + i * 7000, `object ${i} `));
  bodies.forEach((b, i) => fs.writeFileSync(path.join(dir, `o${String(i).padStart(2, '0')}.gz`), zlib.gzipSync(b)));
  const bad = zlib.gzipSync(bodies[7] as Buffer);
  bad.fill(0xff, 40, 80);
  fs.writeFileSync(path.join(dir, 'o07.gz'), bad);
  const r = await runPipemode(['cat', `${dir}/`, '--compression', 'Gzip']);
  assert.equal(r.code, 4, r.stderr);
  assert.match(r.stderr, /o07\.gz is not valid gzip .*\[PM_ERR_GZIP\]/);
  // what came out before the failure is a prefix of the objects before the bad one
  const before = Buffer.concat(bodies.slice(0, 7));
  assert.ok(r.stdout.length <= before.length + (bodies[7] as Buffer).length);
  assert.ok(before.subarray(0, Math.min(before.length, r.stdout.length)).equals(r.stdout.subarray(0, Math.min(before.length, r.stdout.length))));
});
