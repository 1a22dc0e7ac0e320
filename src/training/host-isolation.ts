/**
 * How the hosts of a job run here are kept apart, chosen once per run:
 *
 *   netns  root, N > 1 hosts here: each host in its own network, UTS, PID and mount namespace, on a
 *          bridge of the job's own (container/host-network.ts); `algo-*` resolve to the hosts
 *   mount  root, one host: UTS and mount namespace (hostname algo-1, base dir at /opt/ml), this
 *          machine's network and PIDs, and a hosts file naming algo-1 127.0.0.1
 *   userns not root, one host: the same UTS and mount namespaces from an unprivileged user
 *          namespace (hostname algo-1, algo-1 → 127.0.0.1, base dir at /opt/ml if that folder
 *          exists); the command keeps the user's uid and gid
 *   none   not root with several hosts (or no user namespaces), `--host-isolation none`, or one
 *          host of a job spread over machines (`--host-rank`: the machine is the host): plain
 *          processes on the shared network
 *
 * Without root a one-line notice says which: algo-1 in a user namespace, or hosts that share the
 * network, where `algo-*` do not resolve.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { Logger } from '../core/log.js';
import type { HostLayout } from '../container/container-layout.js';
import { HOST_INTERFACE, HostNetwork, namespacesUnavailable, planHostNetwork, type HostNetworkPlan } from '../container/host-network.js';
import { ensureMountPoint, inFolder, keepEnvironment, namespacedCommand, SAGEMAKER_BASE_DIR, userNamespaceUnavailable } from '../container/host-namespace.js';
import { defaultRouteInterface } from './config-files.js';

export interface HostIsolation {
  readonly kind: 'netns' | 'mount' | 'userns' | 'none';
  /** resourceconfig.json's network_interface_name. */
  readonly networkInterface: string;
  readonly plan?: HostNetworkPlan;
  network?: HostNetwork;
  hostsFile?: string;
}

export function chooseIsolation(
  hosts: { readonly ranks: readonly number[]; readonly count: number }, mode: 'auto' | 'none', jobDir: string, log: Logger,
): HostIsolation {
  const shared: HostIsolation = { kind: 'none', networkInterface: defaultRouteInterface() };
  if (mode === 'none' || hosts.ranks.length < hosts.count) return shared;
  let why = namespacesUnavailable();
  if (why === 'not root' && hosts.count === 1) {
    const noUserns = userNamespaceUnavailable(jobDir);
    if (noUserns === undefined) {
      const optMl = fs.existsSync(SAGEMAKER_BASE_DIR) ? `, base dir at ${SAGEMAKER_BASE_DIR}` : `; the base dir is not bound at ${SAGEMAKER_BASE_DIR}, which does not exist`;
      log.info(`not root: algo-1 runs in a user namespace (hostname algo-1, algo-1 → 127.0.0.1 on this machine's network${optMl})`);
      return { kind: 'userns', networkInterface: shared.networkInterface };
    }
    why = `not root, ${noUserns}`;
  }
  if (why !== undefined) {
    log.info(`hosts share this machine's network and hostname (${why}): algo-* names do not resolve here; run as root for one namespace per host`);
    return shared;
  }
  if (hosts.count === 1) return { kind: 'mount', networkInterface: shared.networkInterface };
  return { kind: 'netns', networkInterface: HOST_INTERFACE, plan: planHostNetwork(jobDir, hosts.count) };
}

/** Creates what the hosts need before their commands start: the network, the mount point, the hosts file. */
export async function startIsolation(iso: HostIsolation, jobDir: string): Promise<void> {
  if (iso.kind === 'none') return;
  if (iso.kind !== 'userns') ensureMountPoint();
  if (iso.plan !== undefined) {
    iso.network = await HostNetwork.create(iso.plan);
    return;
  }
  let hosts: string;
  try {
    hosts = fs.readFileSync('/etc/hosts', 'utf8');
  } catch {
    hosts = '127.0.0.1\tlocalhost\n';
  }
  iso.hostsFile = path.join(jobDir, 'hosts');
  fs.writeFileSync(iso.hostsFile, `${hosts.replace(/\n?$/, '\n')}127.0.0.1\talgo-1\n`, { mode: 0o644 });
}

/** The argv that runs a host's command as its isolation says. */
export function hostCommand(
  iso: HostIsolation, host: { readonly rank: number; readonly name: string; readonly layout: HostLayout }, command: readonly string[],
  env: NodeJS.ProcessEnv, cwd?: string,
): readonly string[] {
  if (iso.kind === 'none') return cwd === undefined ? command : inFolder(cwd, keepEnvironment(env, command));
  return namespacedCommand({
    pid: iso.kind === 'netns',
    hostname: host.name,
    baseDir: host.layout.base,
    ...(iso.plan !== undefined ? { netns: iso.plan.hosts[host.rank]?.netns as string } : {}),
    ...(iso.hostsFile !== undefined ? { hostsFile: iso.hostsFile } : {}),
    ...(cwd !== undefined ? { cwd } : {}),
    ...(iso.kind === 'userns' ? { user: { uid: process.getuid?.() ?? 0, gid: process.getgid?.() ?? 0 } } : {}),
  }, keepEnvironment(env, command));
}

/** How a host reaches algo-1: by name, except for hosts sharing this machine's network with no names. */
export function masterAddress(iso: HostIsolation, hosts: { readonly ranks: readonly number[]; readonly count: number }): string {
  return iso.kind === 'none' && hosts.ranks.length === hosts.count ? '127.0.0.1' : 'algo-1';
}
