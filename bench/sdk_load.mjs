// Part `sdk`: what loading the AWS SDK costs a pipemode process (every S3 channel's first byte
// waits for it), pipemode's way (dist/vendor/aws-sdk.cjs with V8's code cache, through
// dist/src/storage/s3/aws-sdk.js) against requiring the same packages from node_modules, as the
// code did before. Each round starts a fresh `node` per variant, interleaved; the child times its
// own load (performance.now around it) and reports its CPU time. Prints medians (min–max).
//
// usage: node bench/sdk_load.mjs [--rounds N] [--results FILE]
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';

const { values } = parseArgs({ options: { rounds: { type: 'string', default: '15' }, results: { type: 'string' } } });
const root = path.resolve(import.meta.dirname, '..');
const rounds = Number(values.rounds);

const variants = {
  'bundle + code cache': `const t = performance.now(); const c0 = process.cpuUsage();
    const m = await import(${JSON.stringify(path.join(root, 'dist/src/storage/s3/aws-sdk.js'))});
    if (typeof m.S3Client !== 'function') throw new Error('no S3Client');`,
  'packages (require)': `const t = performance.now(); const c0 = process.cpuUsage();
    const { createRequire } = await import('node:module'); const require = createRequire(${JSON.stringify(path.join(root, 'package.json'))});
    for (const p of ['@aws-sdk/client-s3', '@smithy/signature-v4', '@smithy/protocol-http', '@smithy/hash-node']) require(p);`,
};
const tail = `const c = process.cpuUsage(c0); console.log(JSON.stringify({ ms: performance.now() - t, cpuMs: (c.user + c.system) / 1000 }));`;

if (!fs.existsSync(path.join(root, 'dist/vendor/aws-sdk.cjs'))) throw new Error('no dist/vendor/aws-sdk.cjs: run npm run build first');
const runs = Object.fromEntries(Object.keys(variants).map((k) => [k, []]));
for (let r = 0; r <= rounds; r++) {
  for (const [name, code] of Object.entries(variants)) {
    const out = execFileSync('node', ['--input-type=module', '-e', `${code}\n${tail}`], { cwd: root, encoding: 'utf8' });
    if (r > 0) runs[name].push(JSON.parse(out.trim().split('\n').pop())); // round 0 warms the page cache
  }
}
const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 === 1 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
const summary = {};
for (const [name, list] of Object.entries(runs)) {
  const ms = list.map((x) => x.ms);
  summary[name] = { ms: median(ms), cpuMs: median(list.map((x) => x.cpuMs)), min: Math.min(...ms), max: Math.max(...ms) };
  console.log(`  ${name.padEnd(22)} load ${summary[name].ms.toFixed(1)} ms (${summary[name].min.toFixed(1)}–${summary[name].max.toFixed(1)}), CPU ${summary[name].cpuMs.toFixed(1)} ms`);
}
const ratio = summary['packages (require)'].ms / summary['bundle + code cache'].ms;
console.log(`  the bundle loads ${ratio.toFixed(2)}× as fast as the packages (median of ${rounds} interleaved rounds)`);
if (values.results !== undefined) fs.appendFileSync(values.results, `${JSON.stringify({ rounds, ...summary, ratio })}\n`);
