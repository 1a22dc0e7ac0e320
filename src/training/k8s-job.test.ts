import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseAllDocuments } from 'yaml';
import { resolveJob } from './job-spec.js';
import { renderK8sJob } from './k8s-job.js';
import { resolvePeers, withAliases, writeK8sHosts } from './k8s-hosts.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
const GOLDEN = path.join(ROOT, 'test/fixtures/k8s/dist-job.yaml');
const request = {
  TrainingJobName: 'Dist-Job',
  AlgorithmSpecification: { TrainingInputMode: 'Pipe', ContainerEntrypoint: ['python3', 'train.py'] },
  InputDataConfig: [{ ChannelName: 'train', DataSource: { S3DataSource: { S3DataType: 'S3Prefix', S3Uri: 's3://bucket/data/', S3DataDistributionType: 'ShardedByS3Key' } } }],
  OutputDataConfig: { S3OutputPath: 's3://bucket/out' },
  ResourceConfig: { InstanceCount: 3, InstanceType: 'ml.c5.xlarge' },
  StoppingCondition: { MaxRuntimeInSeconds: 3600 },
};

test('pipemode k8s: ConfigMap, headless Service and Indexed Job as the golden YAML', () => {
  const yaml = renderK8sJob(resolveJob(request), { image: 'registry.example/pipemode-trainer:1', namespace: 'ml', requestText: JSON.stringify(request, null, 2) });
  if (process.env.PIPEMODE_UPDATE_GOLDEN === '1') fs.writeFileSync(GOLDEN, yaml);
  assert.equal(yaml, fs.readFileSync(GOLDEN, 'utf8'));
  interface Doc {
    kind: string;
    data?: Record<string, string>;
    spec: {
      clusterIP?: string; completionMode?: string; completions?: number; parallelism?: number; backoffLimit?: number;
      template: { spec: { subdomain: string; containers: { command: string[] }[] } };
    };
  }
  const docs = parseAllDocuments(yaml).map((d) => d.toJS() as Doc);
  assert.deepEqual(docs.map((d) => d.kind), ['ConfigMap', 'Service', 'Job']);
  const [cm, svc, job] = docs as [Doc, Doc, Doc];
  assert.deepEqual(JSON.parse(cm.data?.['job.json'] ?? ''), request);
  assert.equal(svc.spec.clusterIP, 'None');
  assert.equal(job.spec.completionMode, 'Indexed');
  assert.equal(job.spec.completions, 3);
  assert.equal(job.spec.parallelism, 3);
  assert.equal(job.spec.backoffLimit, 0);
  assert.equal(job.spec.template.spec.subdomain, 'dist-job');
  const cmd = job.spec.template.spec.containers[0]?.command ?? [];
  assert.deepEqual(cmd.slice(cmd.indexOf('--host-count'), cmd.indexOf('--host-count') + 2), ['--host-count', '3']);
  assert.deepEqual(cmd.slice(-2), ['--k8s-hosts-from-dns', 'dist-job']);
});

test('the manifests pass kubectl apply --dry-run=client (where kubectl is installed)', { skip: spawnSync('kubectl', ['version', '--client']).status === 0 ? false : 'kubectl is not installed' }, (t) => {
  const r = spawnSync('kubectl', ['apply', '--dry-run=client', '--validate=false', '-f', GOLDEN], { encoding: 'utf8', timeout: 20_000 });
  // a client dry run still asks a server for the API's kinds: without a cluster there is nothing to check against
  if (r.status !== 0 && /connection refused|unable to recognize|couldn't get current server|no configuration/i.test(r.stderr)) {
    t.skip('kubectl finds no cluster for its API discovery');
    return;
  }
  assert.equal(r.status, 0, r.stderr);
});

test('--k8s-hosts-from-dns: every peer resolved (retried until it exists), algo-* written once into the hosts file', async () => {
  const tries = new Map<string, number>();
  const lookup = (name: string): Promise<string> => {
    const n = (tries.get(name) ?? 0) + 1;
    tries.set(name, n);
    const i = Number(/^dist-job-(\d)\.svc$/.exec(name)?.[1]);
    // algo-2's pod is not up for the first two tries
    return i === 1 && n < 3 ? Promise.reject(new Error('ENOTFOUND')) : Promise.resolve(`10.1.0.${10 + i}`);
  };
  assert.deepEqual(await resolvePeers('Dist-Job', 'svc', 3, { lookup, intervalMs: 1 }), [
    { name: 'algo-1', address: '10.1.0.10' }, { name: 'algo-2', address: '10.1.0.11' }, { name: 'algo-3', address: '10.1.0.12' },
  ]);
  assert.equal(tries.get('dist-job-1.svc'), 3);
  await assert.rejects(resolvePeers('x', 'svc', 1, { lookup: () => Promise.reject(new Error('ENOTFOUND')), timeoutMs: 5, intervalMs: 1 }), { code: 'PM_ERR_HOST_NETWORK' });
  const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'pipemode-k8s-')), 'hosts');
  fs.writeFileSync(file, '127.0.0.1\tlocalhost\n10.1.0.10\tdist-job-0.svc\n');
  await writeK8sHosts('Dist-Job', 'svc', 3, file, (n) => Promise.resolve(`10.1.0.${10 + Number(/-(\d)\./.exec(n)?.[1])}`));
  await writeK8sHosts('Dist-Job', 'svc', 3, file, (n) => Promise.resolve(`10.1.0.${10 + Number(/-(\d)\./.exec(n)?.[1])}`));
  const lines = fs.readFileSync(file, 'utf8').trim().split('\n');
  assert.deepEqual(lines, ['127.0.0.1\tlocalhost', '10.1.0.10\tdist-job-0.svc',
    '10.1.0.10\talgo-1\t# pipemode algo-*', '10.1.0.11\talgo-2\t# pipemode algo-*', '10.1.0.12\talgo-3\t# pipemode algo-*']);
  assert.equal(withAliases('a\n', []), 'a\n');
});
