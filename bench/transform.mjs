// bench part `transform`: pipemode transform against the container's own maximum, measured in the
// same run by a plain undici client that posts the very same request bodies straight to the same
// container at the same concurrency. Cases: a 100,000-line CSV with SingleRecord (per-request
// overhead) and a large CSV (default 1 GiB) with MultiRecord, 6 MB batches (throughput; RSS of
// pipemode sampled from /proc), each for MaxConcurrentTransforms 1, 2, 4.
// usage: node bench/transform.mjs WORKDIR [BIG_MIB]
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { Pool } from 'undici';
import { setTimeout as sleep } from 'node:timers/promises';

const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..');
const work = path.resolve(process.argv[2] ?? '/tmp/pipemode-bench/transform');
const bigMiB = Number(process.argv[3] ?? 1024);
fs.mkdirSync(work, { recursive: true });
const container = path.join(root, 'bench/fast_container.mjs');
const images = path.join(work, 'images.json');
fs.writeFileSync(images, JSON.stringify({ 'bench-fast': ['node', container] }));

function csv(file, lines) {
  if (fs.existsSync(file)) return;
  const fd = fs.openSync(file, 'w');
  let buf = [];
  for (let i = 0; i < lines; i++) {
    buf.push(`${i},${(i * 7919) % 1000},${(i * 104729) % 977},${'x'.repeat(i % 40)}\n`);
    if (buf.length === 10000) { fs.writeSync(fd, buf.join('')); buf = []; }
  }
  fs.writeSync(fd, buf.join(''));
  fs.closeSync(fd);
}

/** The request bodies pipemode sends: lines packed greedily within the limit (or one per request). */
function bodies(file, single, limit) {
  const data = fs.readFileSync(file);
  const out = [];
  let start = 0;
  let from = 0;
  for (let nl = data.indexOf(10); nl !== -1; nl = data.indexOf(10, from)) {
    const end = nl + 1;
    if (single) out.push(data.subarray(from, end));
    else if (end - start > limit) { out.push(data.subarray(start, from)); start = from; }
    from = end;
  }
  if (!single && start < data.length) out.push(data.subarray(start));
  return out;
}

async function direct(list, concurrency) {
  const port = 20000 + Math.floor(Math.random() * 20000);
  const child = spawn('node', [container, 'serve'], { env: { ...process.env, SAGEMAKER_BIND_TO_PORT: String(port) }, stdio: 'ignore' });
  const pool = new Pool(`http://127.0.0.1:${port}`, { connections: concurrency });
  for (;;) {
    try { const r = await pool.request({ method: 'GET', path: '/ping' }); await r.body.dump(); break; } catch { await sleep(50); }
  }
  let next = 0;
  const t0 = performance.now();
  await Promise.all(Array.from({ length: concurrency }, async () => {
    for (let i = next++; i < list.length; i = next++) {
      const r = await pool.request({ method: 'POST', path: '/invocations', body: list[i], headers: { 'content-type': 'text/csv', accept: 'text/csv' } });
      await r.body.arrayBuffer();
    }
  }));
  const s = (performance.now() - t0) / 1000;
  await pool.close();
  child.kill('SIGTERM');
  return s;
}

async function viaPipemode(name, input, request) {
  const job = {
    Models: [{ ModelName: 'fast', PrimaryContainer: { Image: 'bench-fast' } }],
    TransformJob: {
      TransformJobName: name, ModelName: 'fast', ...request,
      TransformInput: { DataSource: { S3DataSource: { S3DataType: 'S3Prefix', S3Uri: input } }, ContentType: 'text/csv', SplitType: 'Line' },
      TransformOutput: { S3OutputPath: path.join(work, 'out', name), Accept: 'text/csv', AssembleWith: 'Line' },
    },
  };
  const file = path.join(work, `${name}.json`);
  fs.writeFileSync(file, JSON.stringify(job));
  const jobs = path.join(work, 'jobs');
  fs.rmSync(path.join(jobs, name), { recursive: true, force: true });
  fs.rmSync(path.join(work, 'out', name), { recursive: true, force: true });
  const child = spawn('node', [path.join(root, 'bin/pipemode.js'), '-q', 'transform', file, '--images', images, '--jobs-dir', jobs], { stdio: ['ignore', 'ignore', 'inherit'] });
  let rss = 0;
  const timer = setInterval(() => {
    try {
      const m = /VmRSS:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${child.pid}/status`, 'utf8'));
      if (m) rss = Math.max(rss, Number(m[1]) * 1024);
    } catch { /* gone */ }
  }, 50);
  const code = await new Promise((r) => child.on('close', r));
  clearInterval(timer);
  if (code !== 0) throw new Error(`${name}: pipemode exited ${code}`);
  const record = JSON.parse(fs.readFileSync(path.join(jobs, name, 'transform.json'), 'utf8'));
  return { s: (Date.parse(record.TransformEndTime) - Date.parse(record.TransformStartTime)) / 1000, rss };
}

const small = path.join(work, 'in-100k', 'lines.csv');
fs.mkdirSync(path.dirname(small), { recursive: true });
csv(small, 100_000);
const big = path.join(work, `in-${bigMiB}MiB`, 'big.csv');
fs.mkdirSync(path.dirname(big), { recursive: true });
csv(big, Math.round((bigMiB * 1048576) / 37));

const rows = [];
for (const [label, input, single] of [['100,000 lines, SingleRecord', small, true], [`${(fs.statSync(big).size / 1048576).toFixed(0)} MiB CSV, MultiRecord 6 MB`, big, false]]) {
  const list = bodies(input, single, 6 * 1048576);
  const size = fs.statSync(input).size;
  for (const k of [1, 2, 4]) {
    const d = await direct(list, k);
    const p = await viaPipemode(`bench-${single ? 's' : 'm'}-${k}`, input, {
      BatchStrategy: single ? 'SingleRecord' : 'MultiRecord', MaxConcurrentTransforms: k, MaxPayloadInMB: 6,
    });
    rows.push({ label, k, requests: list.length, direct: d, pipemode: p.s, ratio: d / p.s, rss: p.rss, mibps: size / 1048576 / p.s });
    const r = rows.at(-1);
    console.log(`${label.padEnd(32)} K=${k}  ${r.requests} requests  direct ${r.direct.toFixed(2)} s  pipemode ${r.pipemode.toFixed(2)} s  `
      + `ratio ${r.ratio.toFixed(2)}  ${r.mibps.toFixed(1)} MiB/s  RSS ${(r.rss / 1048576).toFixed(0)} MiB`);
  }
}
fs.writeFileSync(path.join(work, 'results.json'), JSON.stringify(rows, null, 2));
