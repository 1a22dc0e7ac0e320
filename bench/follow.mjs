// Followed channels: how long an object takes from landing to its first byte in the stream.
//
// One process is both the writer and the reader: it starts `pipemode cat SOURCE --follow
// --poll-interval P --idle-timeout 3s -v`, waits until a warm-up object comes through, then lands
// COUNT objects at RATE per second (S3: PutObject to the bench Ceph; local: written under a
// temporary name and renamed into place). Each object is one line "seq write-time-ms padding\n" with
// a time-ordered key (obj-000042), so StartAfter polls apply. Landing time = when the PutObject (or
// rename) returned; first byte = when the reader saw the start of that object's line on cat's
// stdout. Reports p50/p99/max against the target (poll interval + 0.5 s), every object once and in
// order (checked), and the listing cost from cat's -v line (polls, requests, keys seen per poll).
// One JSON line per source goes to --results.
//
// usage: node bench/follow.mjs --root DIR (--local | --s3-bucket B) [--count 200] [--rate 20]
//        [--poll 1s] [--results FILE]
// S3 endpoint and keys come from AWS_ENDPOINT_URL_S3, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { CreateBucketCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';

const { values: opt } = parseArgs({
  options: {
    root: { type: 'string', default: '.' },
    local: { type: 'boolean', default: false },
    's3-bucket': { type: 'string' },
    count: { type: 'string', default: '200' },
    rate: { type: 'string', default: '20' },
    poll: { type: 'string', default: '1s' },
    results: { type: 'string' },
  },
});
const COUNT = Number(opt.count);
const RATE = Number(opt.rate);
const pollMs = /^(\d+(?:\.\d+)?)(ms|s)$/.exec(opt.poll);
if (!pollMs || (!opt.local && !opt['s3-bucket'])) {
  console.error('usage: node bench/follow.mjs --root DIR (--local | --s3-bucket B) [--count 200] [--rate 20] [--poll 1s] [--results FILE]');
  process.exit(2);
}
const POLL_MS = Number(pollMs[1]) * (pollMs[2] === 's' ? 1000 : 1);
const TARGET_MS = POLL_MS + 500;
const now = () => performance.timeOrigin + performance.now();
const sleep = (ms) => new Promise((r) => setTimeout(r, Math.max(0, ms)));
const key = (seq) => `obj-${String(seq).padStart(6, '0')}`;
const line = (seq) => {
  const head = `${seq} ${now().toFixed(3)} `;
  return Buffer.from(head.padEnd(127, '.') + '\n'); // 128-byte objects
};

let source, land, label;
if (opt.local) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pm-bench-follow-'));
  source = `${dir}/`;
  label = 'local folder';
  land = async (seq) => {
    const tmp = path.join(dir, `.${key(seq)}.tmp`);
    await fs.promises.writeFile(tmp, line(seq));
    await fs.promises.rename(tmp, path.join(dir, key(seq)));
  };
} else {
  const bucket = opt['s3-bucket'];
  const s3 = new S3Client({
    endpoint: process.env.AWS_ENDPOINT_URL_S3, region: 'us-east-1', forcePathStyle: true,
    requestChecksumCalculation: 'WHEN_REQUIRED', responseChecksumValidation: 'WHEN_REQUIRED',
  });
  try {
    await s3.send(new CreateBucketCommand({ Bucket: bucket }));
  } catch (err) {
    if (err.name !== 'BucketAlreadyOwnedByYou') throw err;
  }
  const prefix = `follow-${Date.now()}/`;
  source = `s3://${bucket}/${prefix}`;
  label = 'S3 (Ceph RGW)';
  land = (seq) => s3.send(new PutObjectCommand({ Bucket: bucket, Key: prefix + key(seq), Body: line(seq) }));
}

const cat = spawn(process.execPath, [path.join(opt.root, 'bin/pipemode.js'), 'cat', source, '--follow',
  '--poll-interval', opt.poll, '--idle-timeout', '3s', '-v'], { stdio: ['ignore', 'pipe', 'pipe'] });
let stderr = '';
cat.stderr.on('data', (d) => (stderr += d.toString()));
const seen = new Map(); // seq -> time its line started arriving
const order = [];
let partial = '';
let partialAt = 0;
cat.stdout.on('data', (d) => {
  const t = now();
  if (partial === '') partialAt = t;
  partial += d.toString('latin1');
  let nl;
  while ((nl = partial.indexOf('\n')) >= 0) {
    const seq = Number(partial.slice(0, partial.indexOf(' ')));
    if (seen.has(seq)) throw new Error(`object ${seq} streamed twice`);
    seen.set(seq, partialAt);
    order.push(seq);
    partial = partial.slice(nl + 1);
    partialAt = t; // the next line started in this chunk
  }
  if (partial === '') partialAt = 0;
});
const closed = new Promise((resolve) => cat.on('close', resolve));

// warm-up: an object landed after start, so the follower is running and polling
await land(-1);
const warmDeadline = now() + 30_000;
while (!seen.has(-1)) {
  if (now() > warmDeadline) throw new Error(`no warm-up object after 30 s: ${stderr}`);
  await sleep(10);
}

const landed = new Map();
const written = new Map();
const start = now() + 50;
const writes = [];
for (let seq = 0; seq < COUNT; seq++) {
  await sleep(start + (seq * 1000) / RATE - now());
  written.set(seq, now());
  writes.push(land(seq).then(() => landed.set(seq, now())));
}
await Promise.all(writes);
const writeSeconds = (now() - start) / 1000;
const code = await closed;
if (code !== 0) throw new Error(`pipemode cat exited ${code}: ${stderr}`);

const missing = [...Array(COUNT).keys()].filter((s) => !seen.has(s));
if (missing.length > 0) throw new Error(`${missing.length} objects never streamed (first ${missing[0]})`);
const lat = [...Array(COUNT).keys()].map((s) => seen.get(s) - landed.get(s)).sort((a, b) => a - b);
const q = (p) => lat[Math.min(lat.length - 1, Math.ceil((p / 100) * lat.length) - 1)];
const cost = /listing: (\d+) polls, (\d+) requests, (\d+) keys seen, (\d+) objects found/.exec(stderr);
const full = /\((\d+) full\)/.exec(stderr);
const [polls, requests, keys, found] = cost ? cost.slice(1).map(Number) : [NaN, NaN, NaN, NaN];
const inOrder = order.slice(1).every((s, i) => s === i);
const result = {
  part: 'follow', source: label, count: COUNT, rate: RATE, pollMs: POLL_MS, targetMs: TARGET_MS,
  writeSeconds: Number(writeSeconds.toFixed(2)),
  p50Ms: Math.round(q(50)), p99Ms: Math.round(q(99)), maxMs: Math.round(lat[lat.length - 1]), minMs: Math.round(lat[0]),
  polls, fullPolls: full ? Number(full[1]) : undefined, requests, keysSeen: keys, found,
  requestsPerPoll: Number((requests / polls).toFixed(2)), keysPerPoll: Number((keys / polls).toFixed(1)),
  inOrder, loadavg: os.loadavg().map((l) => Number(l.toFixed(2))),
};
if (opt.results) fs.appendFileSync(opt.results, JSON.stringify(result) + '\n');
const verdict = result.p99Ms <= TARGET_MS ? 'PASS' : 'FAIL';
console.log(`${label}: ${COUNT} objects at ${RATE}/s (written in ${result.writeSeconds} s), poll ${opt.poll}: ` +
  `landing → first byte p50 ${result.p50Ms} ms, p99 ${result.p99Ms} ms, max ${result.maxMs} ms (min ${result.minMs} ms); ` +
  `every object once${inOrder ? ', in landing order' : ', NOT in landing order'}`);
console.log(`  listing: ${polls} polls${result.fullPolls !== undefined ? ` (${result.fullPolls} full)` : ''}, ${requests} requests ` +
  `(${result.requestsPerPoll}/poll), ${keys} keys returned (${result.keysPerPoll}/poll), ${found} objects found; load average ${result.loadavg.join(' ')}`);
console.log(`${verdict}  p99 ≤ poll interval + 0.5 s = ${TARGET_MS} ms: ${result.p99Ms} ms`);
