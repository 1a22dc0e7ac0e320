/**
 * The network of a job's hosts when they all run on this machine, as SageMaker gives each
 * container its own machine named `algo-i`: one network namespace per host, each joined by a veth
 * pair to one bridge of the job's own, and an `/etc/hosts` naming every `algo-*`.
 *
 * Nothing leaves the machine: the bridge has no address in the machine's own namespace, the host
 * namespaces have no default route (only their /24), and nothing forwards or NATs. Because the
 * bridge has no address, every job may use the same range (10.213.0.0/24): two jobs' bridges are
 * separate links that never meet.
 *
 * Names come from a tag (8 hex digits of the job folder's sha256), so a rerun of the same job
 * sweeps what a killed run left; links are `pm<tag>br` (bridge), `pm<tag>v<i>` (host side of
 * host i's veth, the namespace side is renamed `eth0`), namespaces `pipemode-<tag>-algo-<i>`.
 * Link names stay within Linux's 15 characters.
 *
 * Cleanup: the commands that remove everything are written to a script in /run/pipemode-hosts/
 * (named with the owner's pid) before anything is created; `remove()` runs it, and a guardian
 * process runs it if pipemode dies (even by SIGKILL: its stdin pipe from pipemode closes). At
 * start, scripts whose owner is gone are run too (a machine that lost power, a killed guardian).
 *
 * `planHostNetwork` is pure (tested by its invariants); `HostNetwork.create` runs `ip` (iproute2).
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { HostNetworkError } from '../core/errors.js';
import { hostName } from './container-layout.js';
import { pidAlive } from './container-process.js';

const run = promisify(execFile);

/** The range used only inside the job's namespaces; host i (0-based) is .(i+1). */
export const HOST_SUBNET = '10.213.0.0/24';
const SUBNET_BASE = '10.213.0.';
const PREFIX_LENGTH = 24;
/** Hosts a /24 can hold (.1 … .254). */
export const MAX_NAMESPACED_HOSTS = 254;
/** What a host namespace's interface is called (resourceconfig.json's network_interface_name). */
export const HOST_INTERFACE = 'eth0';
export const STATE_DIR = '/run/pipemode-hosts';
const IFNAME_MAX = 15;

export interface PlannedHost {
  readonly rank: number;
  readonly name: string;
  readonly netns: string;
  /** Host side of the veth pair, attached to the bridge. */
  readonly veth: string;
  /** The namespace side's name while it is created (renamed to `eth0` inside). */
  readonly peer: string;
  readonly address: string;
}

export interface HostNetworkPlan {
  readonly tag: string;
  readonly bridge: string;
  readonly prefixLength: number;
  readonly hosts: readonly PlannedHost[];
  /** The /etc/hosts every namespace sees. */
  readonly hostsFile: string;
}

/** Names and addresses for `count` hosts of the job whose folder is `jobKey`. */
export function planHostNetwork(jobKey: string, count: number): HostNetworkPlan {
  if (!Number.isInteger(count) || count < 1 || count > MAX_NAMESPACED_HOSTS) {
    throw new HostNetworkError(`${count} hosts cannot share one /24: at most ${MAX_NAMESPACED_HOSTS} hosts run as namespaces`, { reason: 'too-many-hosts' });
  }
  const tag = createHash('sha256').update(jobKey).digest('hex').slice(0, 8);
  const hosts = Array.from({ length: count }, (_, rank): PlannedHost => ({
    rank,
    name: hostName(rank),
    netns: `pipemode-${tag}-${hostName(rank)}`,
    veth: `pm${tag}v${rank + 1}`,
    peer: `pm${tag}p${rank + 1}`,
    address: `${SUBNET_BASE}${rank + 1}`,
  }));
  const hostsFile = [
    '127.0.0.1\tlocalhost',
    '::1\tlocalhost ip6-localhost ip6-loopback',
    ...hosts.map((h) => `${h.address}\t${h.name}`),
    '',
  ].join('\n');
  return Object.freeze({ tag, bridge: `pm${tag}br`, prefixLength: PREFIX_LENGTH, hosts: Object.freeze(hosts), hostsFile });
}

/** Every name in the plan fits Linux's limits (used by the tests). */
export function validIfName(name: string): boolean {
  return name.length > 0 && name.length <= IFNAME_MAX && /^[a-zA-Z0-9_.-]+$/.test(name);
}

/** The shell commands that remove everything the plan creates (each may fail: already gone). */
export function cleanupScript(plan: HostNetworkPlan, scriptPath: string): string {
  const q = (s: string): string => `'${s.replace(/'/g, `'\\''`)}'`;
  return [
    '# pipemode: removes the host namespaces of one job (run by pipemode, its guardian, or the next run\'s sweep)',
    ...plan.hosts.map((h) => `ip link del ${h.veth} 2>/dev/null`),
    `ip link del ${plan.bridge} 2>/dev/null`,
    ...plan.hosts.map((h) => `ip netns del ${h.netns} 2>/dev/null; rm -rf ${q(path.join('/etc/netns', h.netns))}`),
    `rm -f ${q(scriptPath)}`,
    "rmdir /etc/netns 2>/dev/null",
    'exit 0',
    '',
  ].join('\n');
}

/** Why the hosts cannot run as namespaces here, or undefined if they can (root, `ip` and `unshare`). */
export function namespacesUnavailable(): string | undefined {
  if (process.getuid?.() !== 0) return 'not root';
  for (const tool of ['ip', 'unshare']) {
    const found = (process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin').split(':').some((dir) => {
      try {
        fs.accessSync(path.join(dir, tool), fs.constants.X_OK);
        return true;
      } catch {
        return false;
      }
    });
    if (!found) return `${tool} is not installed (${tool === 'ip' ? 'iproute2' : 'util-linux'})`;
  }
  return undefined;
}

/** Runs the cleanup scripts of owners that are gone (and any left for this tag). Returns how many ran. */
export async function sweepStaleNetworks(tag?: string): Promise<number> {
  let names: string[];
  try {
    names = fs.readdirSync(STATE_DIR);
  } catch {
    return 0;
  }
  let swept = 0;
  for (const name of names) {
    const m = /^([0-9a-f]{8})\.(\d+)\.sh$/.exec(name);
    if (m === null) continue;
    if (m[1] !== tag && pidAlive(Number(m[2]))) continue;
    await run('sh', [path.join(STATE_DIR, name)]).catch(() => {});
    swept++;
  }
  return swept;
}

async function ip(...args: string[]): Promise<void> {
  try {
    await run('ip', args);
  } catch (err) {
    const out = (err as { stderr?: string | Buffer }).stderr;
    const stderr = (typeof out === 'string' ? out : out?.toString() ?? '').trim();
    throw new HostNetworkError(`ip ${args.join(' ')} failed: ${stderr || (err as Error).message}`, { reason: 'ip', command: `ip ${args.join(' ')}` }, { cause: err });
  }
}

/** The job's bridge, veths and namespaces, alive until `remove()` (or until pipemode dies). */
export class HostNetwork {
  readonly plan: HostNetworkPlan;
  readonly #script: string;
  readonly #guardian: ChildProcess;
  #removed = false;

  private constructor(plan: HostNetworkPlan, script: string, guardian: ChildProcess) {
    this.plan = plan;
    this.#script = script;
    this.#guardian = guardian;
  }

  static async create(plan: HostNetworkPlan): Promise<HostNetwork> {
    await sweepStaleNetworks(plan.tag);
    fs.mkdirSync(STATE_DIR, { recursive: true, mode: 0o700 });
    const script = path.join(STATE_DIR, `${plan.tag}.${process.pid}.sh`);
    fs.writeFileSync(script, cleanupScript(plan, script), { mode: 0o700 });
    // anything but "done" on stdin (EOF included: pipemode died) means: remove it all
    const guardian = spawn('sh', ['-c', 'read line; [ "$line" = done ] && exit 0; exec sh "$1"', 'pipemode-net-guardian', script], {
      stdio: ['pipe', 'ignore', 'ignore'], detached: true,
    });
    guardian.unref();
    const net = new HostNetwork(plan, script, guardian);
    try {
      await ip('link', 'add', plan.bridge, 'type', 'bridge');
      // no address on the bridge (and no IPv6 link-local one): this machine's namespace cannot reach the hosts
      try {
        fs.writeFileSync(`/proc/sys/net/ipv6/conf/${plan.bridge}/disable_ipv6`, '1');
      } catch {
        // no IPv6 here
      }
      await ip('link', 'set', plan.bridge, 'up');
      for (const h of plan.hosts) {
        await ip('netns', 'add', h.netns);
        await ip('link', 'add', h.veth, 'type', 'veth', 'peer', 'name', h.peer, 'netns', h.netns);
        await ip('link', 'set', h.veth, 'master', plan.bridge, 'up');
        await ip('-n', h.netns, 'link', 'set', h.peer, 'name', HOST_INTERFACE);
        await ip('-n', h.netns, 'addr', 'add', `${h.address}/${plan.prefixLength}`, 'dev', HOST_INTERFACE);
        await ip('-n', h.netns, 'link', 'set', HOST_INTERFACE, 'up');
        await ip('-n', h.netns, 'link', 'set', 'lo', 'up');
        // `ip netns exec` bind-mounts /etc/netns/<ns>/hosts over /etc/hosts
        const etc = path.join('/etc/netns', h.netns);
        fs.mkdirSync(etc, { recursive: true, mode: 0o755 });
        fs.writeFileSync(path.join(etc, 'hosts'), plan.hostsFile, { mode: 0o644 });
      }
    } catch (err) {
      await net.remove();
      throw err;
    }
    return net;
  }

  /** Removes every namespace, link and file (idempotent). */
  async remove(): Promise<void> {
    if (this.#removed) return;
    this.#removed = true;
    await run('sh', [this.#script]).catch(() => {});
    this.#guardian.stdin?.end('done\n');
  }
}
