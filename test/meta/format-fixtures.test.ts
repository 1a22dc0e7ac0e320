/**
 * The golden record-format fixtures (test/fixtures/formats): the generator reproduces the
 * committed files byte for byte, the spec vectors are the published bytes, and every file decodes
 * exactly as index.json says, whatever the chunking of the input.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { isPipemodeError } from '../../src/core/errors.js';
import { Prng } from '../../src/plan/prng.js';
import { createRecordDecoder } from '../../src/records/record-registry.js';
import { decodeProtobufRecord } from '../../src/records/protobuf-record-decoder.js';
import { protobufRecordToJson } from '../../src/records/protobuf-json.js';
import type { RecordFormat } from '../../src/records/record-interfaces.js';
import { FIXTURE_DIR, generateFixtures, indexText, type FixtureIndex } from '../fixtures/formats/generate.js';

const index = JSON.parse(fs.readFileSync(path.join(FIXTURE_DIR, 'index.json'), 'utf8')) as FixtureIndex;
const read = (file: string): Buffer => fs.readFileSync(path.join(FIXTURE_DIR, file));
const sha256 = (b: Buffer): string => createHash('sha256').update(b).digest('hex');
const hex = (s: string): string => s.replace(/\s+/g, '');

test('the generator reproduces every committed fixture and index.json byte for byte', () => {
  const { files, index: generated } = generateFixtures();
  assert.equal(fs.readFileSync(path.join(FIXTURE_DIR, 'index.json'), 'utf8'), indexText(generated), 'index.json is stale: rerun the generator');
  for (const [name, bytes] of files) assert.ok(read(name).equals(bytes), `${name} differs from what generate.ts makes`);
  const onDisk = fs.readdirSync(FIXTURE_DIR).filter((f) => !/\.(ts|md|json)$/.test(f)).sort();
  assert.deepEqual(onDisk, [...files.keys()].sort(), 'no stray or missing fixture files');
});

test('the §5.5(a) vectors are exactly the bytes published for MXNet RecordIO (docs/formats/recordio.md)', () => {
  const vectors: Record<string, string> = {
    'spec-recordio-empty.rec': '0a 23 d7 ce 00 00 00 00',
    'spec-recordio-hello.rec': '0a 23 d7 ce 05 00 00 00 68 65 6c 6c 6f 00 00 00',
    'spec-recordio-abcd.rec': '0a 23 d7 ce 04 00 00 00 61 62 63 64',
    'spec-dmlc-multipart.rec': '0a 23 d7 ce 04 00 00 20 41 42 43 44 0a 23 d7 ce 02 00 00 60 45 46 00 00',
    'spec-tfrecord-empty.tfrecord': '00 00 00 00 00 00 00 00 29 03 98 07 d8 ea 82 a2',
    'spec-tfrecord-hello.tfrecord': '05 00 00 00 00 00 00 00 ea b2 04 3e 68 65 6c 6c 6f bb 1f 1c 19',
    'spec-protobuf.pbr': `0a 23 d7 ce 2c 00 00 00 0a 16 0a 06 76 61 6c 75 65 73 12 0c 12 0a 0a 08 00 00 80 3f 00 00 00 40
                          12 12 0a 06 76 61 6c 75 65 73 12 08 12 06 0a 04 00 00 80 3f`,
  };
  for (const [file, bytes] of Object.entries(vectors)) assert.equal(read(file).toString('hex'), hex(bytes), file);
});

test('the rebuilt ml-io files have the documented sizes, part layout and first payload (§5.5(b))', () => {
  const complete = read('mlio-complete_records.pr');
  const split = read('mlio-split_records.pr');
  assert.equal(complete.length, 280);
  assert.equal(split.length, 440);
  assert.equal(complete.subarray(8, 56).toString('hex'),
    '0a1a0a0676616c7565731210120e0a0c0000803f000000000000000012120a0676616c756573120812060a040000803f');
  // each record: parts of 8, 10, 1, 29 bytes with cflag 1, 2, 2, 3, each padded to 4 bytes
  for (let r = 0, at = 0; r < 5; r++) {
    for (const [length, cflag] of [[8, 1], [10, 2], [1, 2], [29, 3]] as const) {
      assert.equal(split.readUInt32LE(at), 0xced7230a);
      assert.equal(split.readUInt32LE(at + 4), ((cflag << 29) | length) >>> 0);
      at += 8 + length + ((4 - (length % 4)) % 4);
    }
  }
});

/** Decodes `bytes` in chunks cut by `cut`; returns the records and the error, if any. */
function decodeAll(format: RecordFormat, bytes: Buffer, cut: (left: number) => number): { records: Buffer[]; error: unknown } {
  const decoder = createRecordDecoder(format, { source: 'fixture' });
  const records: Buffer[] = [];
  try {
    for (let at = 0; at < bytes.length;) {
      const n = Math.min(bytes.length - at, Math.max(1, cut(bytes.length - at)));
      records.push(...decoder.push(bytes.subarray(at, at + n)));
      at += n;
    }
    records.push(...decoder.end());
  } catch (error) {
    return { records, error };
  }
  return { records, error: undefined };
}

for (const fixture of index.fixtures) {
  test(`fixture ${fixture.file} decodes as index.json says, in one chunk and in random chunks`, () => {
    const bytes = read(fixture.file);
    assert.equal(bytes.length, fixture.size);
    assert.equal(sha256(bytes), fixture.sha256);
    const prng = new Prng(7n, fixture.size);
    const cuts: [string, (left: number) => number][] = [
      ['whole', (left) => left],
      ['1-byte', () => 1],
      ['random', () => 1 + prng.below(97)],
      ['random-large', () => 1 + prng.below(70_000)],
    ];
    for (const [how, cut] of cuts) {
      const { records, error } = decodeAll(fixture.format, bytes, cut);
      assert.equal(records.length, fixture.records.length, `${how}: record count`);
      for (const [i, want] of fixture.records.entries()) {
        const got = records[i] as Buffer;
        assert.equal(got.length, want.length, `${how}: record ${i} length`);
        if (want.hex !== undefined) assert.equal(got.toString('hex'), want.hex, `${how}: record ${i}`);
        if (want.sha256 !== undefined) assert.equal(sha256(got), want.sha256, `${how}: record ${i}`);
      }
      if (fixture.error === undefined) {
        assert.equal(error, undefined, `${how}: ${String(error)}`);
      } else {
        assert.ok(isPipemodeError(error), `${how}: expected a typed error, got ${String(error)}`);
        assert.equal(error.code, fixture.error.code);
        assert.equal(error.details.record, fixture.error.record, `${how}: ${error.message}`);
        assert.equal(error.details.offset, fixture.error.offset, `${how}: ${error.message}`);
        assert.match(error.message, new RegExp(`record ${fixture.error.record} at byte ${fixture.error.offset} of fixture`));
      }
    }
    if (fixture.protobuf !== undefined) {
      const { records } = decodeAll(fixture.format, bytes, (left) => left);
      assert.equal(fixture.protobuf.length, fixture.records.length);
      for (const [i, want] of fixture.protobuf.entries()) {
        const decoded = decodeProtobufRecord(records[i] as Buffer, { record: i });
        assert.deepEqual(JSON.parse(protobufRecordToJson(decoded)), want, `record ${i}`);
      }
    }
  });
}
