// Load generator for the `serve` bench part: undici Pool, 1 KiB bodies.
//   node bench/serve_load.mjs URL PATH MODE SECONDS [RATE|CONNECTIONS]
// MODE fixed: RATE requests/s at fixed intervals (latency measured from the scheduled send time,
// so a stall is not hidden); MODE saturate: CONNECTIONS requests always in flight.
// Prints one JSON line: requests, errors, req/s, p50/p99 latency in ms.
import { Pool } from 'undici';
const [url, path, mode, seconds, arg] = process.argv.slice(2);
const pool = new Pool(url, { connections: mode === 'saturate' ? Number(arg) : 64 });
const body = Buffer.alloc(1024, 97);
const lat = [];
let errors = 0;
const end = Date.now() + Number(seconds) * 1000;
async function one(scheduled) {
  try {
    const r = await pool.request({ method: 'POST', path, body, headers: { 'content-type': 'application/octet-stream' } });
    await r.body.dump();
    if (r.statusCode !== 200) errors++;
  } catch { errors++; }
  lat.push(performance.now() - scheduled);
}
const t0 = performance.now();
if (mode === 'fixed') {
  const rate = Number(arg);
  const pending = [];
  for (let i = 0; Date.now() < end; i++) {
    const at = t0 + (i * 1000) / rate;
    const wait = at - performance.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    // timers run off the loop's cached clock and may fire up to a millisecond early: never send early
    while (performance.now() < at) await new Promise((r) => setImmediate(r));
    pending.push(one(at));
  }
  await Promise.all(pending);
} else {
  await Promise.all(Array.from({ length: Number(arg) }, async () => {
    while (Date.now() < end) await one(performance.now());
  }));
}
const wall = (performance.now() - t0) / 1000;
lat.sort((a, b) => a - b);
const q = (p) => lat[Math.min(lat.length - 1, Math.floor(p * lat.length))] ?? 0;
console.log(JSON.stringify({ requests: lat.length, errors, rps: Math.round(lat.length / wall), p50: +q(0.5).toFixed(3), p99: +q(0.99).toFixed(3) }));
await pool.close();
