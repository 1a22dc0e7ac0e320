// bench part `transform`: pipemode transform against the container's own maximum, measured in the
// same run by a plain undici client that posts the very same request bodies straight to the same
// container at the same concurrency. Cases: a 100,000-line CSV with SingleRecord (per-request
// overhead) and a large CSV (default 1 GiB) with MultiRecord, 6 MB batches (throughput; RSS of
// pipemode sampled from /proc), each for MaxConcurrentTransforms 1, 2, 4. Each pair (direct, then
// pipemode) runs BENCH_TRANSFORM_ROUNDS times (default 3), alternating, and the medians are
// reported: on a shared machine a single pair says more about the load than about pipemode. CPU
// seconds (user + system) of the client — the bench's own process for direct, pipemode's process
// from TransformStartTime to its exit — depend less on the load than the times do.
// BENCH_TRANSFORM_CASES=single or multi runs one of the two cases.
// usage: node bench/transform.mjs WORKDIR [BIG_MIB]
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { Pool } from 'undici';
import { setTimeout as sleep } from 'node:timers/promises';

const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..');
const work = path.resolve(process.argv[2] ?? '/tmp/pipemode-bench/transform');
const bigMiB = Number(process.argv[3] ?? 1024);
const rounds = Number(process.env.BENCH_TRANSFORM_ROUNDS ?? 3);
const cases = (process.env.BENCH_TRANSFORM_CASES ?? 'single,multi').split(',');
const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
/** User + system CPU seconds of a process (clock ticks of 1/100 s). */
function cpuOf(pid) {
  const f = fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return (Number(f[11]) + Number(f[12])) / 100;
}
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
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  await Promise.all(Array.from({ length: concurrency }, async () => {
    for (let i = next++; i < list.length; i = next++) {
      const r = await pool.request({ method: 'POST', path: '/invocations', body: list[i], headers: { 'content-type': 'text/csv', accept: 'text/csv' } });
      await r.body.arrayBuffer();
    }
  }));
  const s = (performance.now() - t0) / 1000;
  const c = process.cpuUsage(c0);
  await pool.close();
  child.kill('SIGTERM');
  return { s, cpu: (c.user + c.system) / 1e6 };
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
  let cpuStart;
  let cpuLast = 0;
  const recordFile = path.join(jobs, name, 'transform.json');
  const timer = setInterval(() => {
    try {
      const m = /VmRSS:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${child.pid}/status`, 'utf8'));
      if (m) rss = Math.max(rss, Number(m[1]) * 1024);
      cpuLast = cpuOf(child.pid);
      if (cpuStart === undefined && fs.readFileSync(recordFile, 'utf8').includes('TransformStartTime')) cpuStart = cpuLast;
    } catch { /* not there yet, or gone */ }
  }, 50);
  const code = await new Promise((r) => child.on('close', r));
  clearInterval(timer);
  if (code !== 0) throw new Error(`${name}: pipemode exited ${code}`);
  const record = JSON.parse(fs.readFileSync(path.join(jobs, name, 'transform.json'), 'utf8'));
  return { s: (Date.parse(record.TransformEndTime) - Date.parse(record.TransformStartTime)) / 1000, rss, cpu: cpuLast - (cpuStart ?? 0) };
}

const small = path.join(work, 'in-100k', 'lines.csv');
fs.mkdirSync(path.dirname(small), { recursive: true });
csv(small, 100_000);
const big = path.join(work, `in-${bigMiB}MiB`, 'big.csv');
if (cases.includes('multi')) {
  fs.mkdirSync(path.dirname(big), { recursive: true });
  csv(big, Math.round((bigMiB * 1048576) / 37));
}

const rows = [];
const all = [['single', '100,000 lines, SingleRecord', small, true], ['multi', `${bigMiB} MiB CSV, MultiRecord 6 MB`, big, false]];
for (const [, label, input, single] of all.filter(([c]) => cases.includes(c))) {
  const list = bodies(input, single, 6 * 1048576);
  const size = fs.statSync(input).size;
  for (const k of [1, 2, 4]) {
    const runs = [];
    for (let round = 0; round < rounds; round++) {
      const d = await direct(list, k);
      const p = await viaPipemode(`bench-${single ? 's' : 'm'}-${k}`, input, {
        BatchStrategy: single ? 'SingleRecord' : 'MultiRecord', MaxConcurrentTransforms: k, MaxPayloadInMB: 6,
      });
      runs.push({ d, p });
    }
    const r = {
      label, k, requests: list.length, rounds,
      direct: median(runs.map((x) => x.d.s)), pipemode: median(runs.map((x) => x.p.s)), ratio: median(runs.map((x) => x.d.s / x.p.s)),
      directCpu: median(runs.map((x) => x.d.cpu)), pipemodeCpu: median(runs.map((x) => x.p.cpu)),
      rss: Math.max(...runs.map((x) => x.p.rss)),
    };
    r.mibps = size / 1048576 / r.pipemode;
    rows.push(r);
    console.log(`${label.padEnd(32)} K=${k}  ${r.requests} requests  direct ${r.direct.toFixed(2)} s  pipemode ${r.pipemode.toFixed(2)} s  `
      + `ratio ${r.ratio.toFixed(2)}  ${r.mibps.toFixed(1)} MiB/s  CPU direct ${r.directCpu.toFixed(2)} s, pipemode ${r.pipemodeCpu.toFixed(2)} s  `
      + `RSS ${(r.rss / 1048576).toFixed(0)} MiB  (medians of ${rounds})`);
  }
}
fs.writeFileSync(path.join(work, 'results.json'), JSON.stringify(rows, null, 2));
