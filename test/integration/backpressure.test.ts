/**
 * Backpressure from the FIFO reader to the network: a real reader process stops reading, and the
 * bytes pipemode has fetched from the real Ceph RGW stay within what the reader took, the pipe
 * holds and the memory budget — then the reader resumes and gets every byte right.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { resolveChannel } from '../../src/channel/channel-spec.js';
import { servePipes } from '../../src/pipe/channel-pipes.js';
import { ChannelStream } from '../../src/stream/channel-stream.js';
import { Stores } from '../../src/storage/stores.js';
import { DEFAULT_RETRY_POLICY } from '../../src/storage/retry.js';
import { sha256 } from '../helpers/cli.js';
import { newBucket, putAll } from '../helpers/s3.js';

const MiB = 1 << 20;

/** Reads 2 MiB, then waits for a line on stdin, then reads to EOF; prints bytes and sha256. */
const READER = `
import hashlib, sys
h = hashlib.sha256(); n = 0
with open(sys.argv[1], 'rb', buffering=0) as f:
    while n < 2 * 1024 * 1024:
        b = f.read(min(65536, 2 * 1024 * 1024 - n)); h.update(b); n += len(b)
    print('paused', flush=True); sys.stdin.readline()
    while True:
        b = f.read(1 << 20)
        if not b: break
        h.update(b); n += len(b)
print(n, h.hexdigest(), flush=True)
`;

for (const source of ['s3', 'local'] as const) {
  test(`a paused reader stops the fetching (${source}): buffered bytes stay under the budget`, async () => {
    const objects = new Map(Array.from({ length: 12 }, (_, i) => [`bp/obj-${String(i).padStart(2, '0')}`, randomBytes(4 * MiB)] as const));
    let uri: string;
    if (source === 's3') {
      const bucket = await newBucket('pm-bp');
      await putAll(bucket, objects);
      uri = `s3://${bucket}/bp/`;
    } else {
      const root = fs.mkdtempSync(path.join(os.tmpdir(), 'pipemode-bp-'));
      for (const [k, body] of objects) {
        fs.mkdirSync(path.dirname(path.join(root, k)), { recursive: true });
        fs.writeFileSync(path.join(root, k), body);
      }
      uri = `${root}/bp/`;
    }
    const total = 12 * 4 * MiB;
    const budget = 6 * MiB;
    const stores = new Stores();
    const spec = resolveChannel({ ChannelName: 'train', DataSource: { S3DataSource: { S3DataType: 'S3Prefix', S3Uri: uri } } });
    const stream = await ChannelStream.open(spec, stores, { partSize: MiB, maxRequests: 8, memoryBudget: budget, retry: DEFAULT_RETRY_POLICY }, { hostRank: 0, hostCount: 1 });
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pipemode-bp-fifo-'));
    // through the prefetcher: this test is about its budget (the worker's paths buffer nothing)
    const serving = servePipes([stream], { dir, epochs: 1, writePath: 'prefetch' });
    const reader = spawn('python3', ['-c', READER, path.join(dir, 'train_0')], { stdio: ['pipe', 'pipe', 'inherit'] });
    let out = '';
    reader.stdout.on('data', (d: Buffer) => (out += d.toString()));
    while (!out.includes('paused')) await sleep(10);
    await sleep(1000); // the reader holds still; pipemode must hold still too

    const s = stream.stats;
    // the reader took 2 MiB; the pipe holds up to 1 MiB; the writer has at most one part queued
    const inFlightToReader = 2 * MiB + MiB + MiB;
    assert.ok(s.peakReserved <= budget, `peak reserved ${s.peakReserved} > budget ${budget}`);
    assert.ok(s.bytesFetched - s.bytesDelivered <= budget, `buffered ${s.bytesFetched - s.bytesDelivered}`);
    assert.ok(s.bytesFetched <= inFlightToReader + budget, `fetched ${s.bytesFetched} of ${total} while the reader was paused`);
    const fetchedWhilePaused = s.bytesFetched;
    await sleep(300);
    assert.equal(s.bytesFetched, fetchedWhilePaused, 'no request runs while the budget is full');

    reader.stdin.end('go\n');
    await serving;
    await new Promise((resolve) => reader.on('close', resolve));
    stores.close();
    const [bytes, digest] = out.trim().split('\n').pop()?.split(' ') ?? [];
    assert.equal(Number(bytes), total);
    assert.equal(digest, sha256(Buffer.concat([...objects.keys()].sort().map((k) => objects.get(k) as Buffer))));
  });
}
