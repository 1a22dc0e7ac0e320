/**
 * `pipemode train --k8s-hosts-from-dns SERVICE`: in a pod of an Indexed Job (k8s-job.ts), the
 * peers are `<job>-<i>.<SERVICE>` in DNS, known only once their pods run. Each is resolved (retried
 * until the deadline: pods start at different times) and `algo-<i+1>` is written into this pod's
 * /etc/hosts (Kubernetes gives each pod its own, writable one), so SM_HOSTS names resolve as on
 * SageMaker. Lines pipemode wrote before are replaced, not added again.
 */
import dns from 'node:dns/promises';
import fs from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { HostNetworkError } from '../core/errors.js';
import { hostName } from '../container/container-layout.js';
import { k8sName } from './k8s-job.js';

const MARK = '# pipemode algo-*';

export type Lookup = (name: string) => Promise<string>;

const systemLookup: Lookup = async (name) => (await dns.lookup(name, { family: 4 })).address;

/** Resolves every peer (`<job>-<i>.<service>`), retrying each until `timeoutMs` has passed. */
export async function resolvePeers(
  jobName: string, service: string, count: number, options: { lookup?: Lookup; timeoutMs?: number; intervalMs?: number } = {},
): Promise<{ name: string; address: string }[]> {
  const lookup = options.lookup ?? systemLookup;
  const deadline = Date.now() + (options.timeoutMs ?? 600_000);
  const out: { name: string; address: string }[] = [];
  for (let i = 0; i < count; i++) {
    const dnsName = `${k8sName(jobName)}-${i}.${service}`;
    for (;;) {
      try {
        out.push({ name: hostName(i), address: await lookup(dnsName) });
        break;
      } catch (err) {
        if (Date.now() >= deadline) {
          throw new HostNetworkError(`${dnsName} (${hostName(i)}) does not resolve: ${(err as Error).message}`, { reason: 'k8s-dns', command: dnsName }, { cause: err });
        }
        await sleep(options.intervalMs ?? 1000);
      }
    }
  }
  return out;
}

/** /etc/hosts with the peers' `algo-*` lines (earlier pipemode lines replaced). */
export function withAliases(hosts: string, peers: readonly { name: string; address: string }[]): string {
  const kept = hosts.split('\n').filter((l) => !l.endsWith(MARK) && l !== '');
  return `${[...kept, ...peers.map((p) => `${p.address}\t${p.name}\t${MARK}`)].join('\n')}\n`;
}

export async function writeK8sHosts(jobName: string, service: string, count: number, file = '/etc/hosts', lookup?: Lookup): Promise<void> {
  const peers = await resolvePeers(jobName, service, count, lookup !== undefined ? { lookup } : {});
  fs.writeFileSync(file, withAliases(fs.readFileSync(file, 'utf8'), peers));
}
