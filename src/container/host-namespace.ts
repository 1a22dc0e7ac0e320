/**
 * How a host's command runs inside its own namespaces, as a SageMaker container runs on its own
 * machine: UTS (hostname `algo-i`), PID (the command's init is a small shell; when it exits the
 * kernel kills everything left in the namespace, so nothing outlives the host), mount (the host's
 * base dir bound at `/opt/ml`, so scripts that hard-code `/opt/ml/input/data/...` work; with no
 * network namespace, a hosts file bound over `/etc/hosts`) and, with several hosts, the network
 * namespace of host-network.ts (`ip netns exec` binds `/etc/netns/<ns>/hosts` itself).
 *
 *   ip netns exec NS unshare --uts --pid --fork --mount --mount-proc sh -c INIT …
 *
 * INIT sets the hostname, binds the folders, starts the command in the background and waits for
 * it, passing on SIGTERM and SIGINT (a PID namespace's init gets no signal it has no handler for,
 * so the command itself must not be init: `docker stop` semantics need SIGTERM to arrive); it
 * exits with the command's status (128 + signal when killed, as a shell reports it). `unshare`
 * ignores SIGTERM while it waits and exits with its child's status, and every process here stays
 * in the command's process group, so ContainerProcess's stop and guardian work unchanged.
 * Shells drop variables whose names are not identifiers (SM_HP_LEARNING-RATE): `keepEnvironment`
 * passes them on through `env`.
 */
import fs from 'node:fs';

/** Where a host sees its base dir, as on SageMaker. */
export const SAGEMAKER_BASE_DIR = '/opt/ml';

export interface HostNamespace {
  readonly hostname: string;
  /** The host's base dir, bound (recursively: FastFile mounts below it come along) at /opt/ml. */
  readonly baseDir: string;
  /** The network namespace (`ip netns`), if the host has its own network. */
  readonly netns?: string;
  /** A hosts file bound over /etc/hosts (for hosts without their own network namespace). */
  readonly hostsFile?: string;
  /** The command's working directory (default: unchanged). */
  readonly cwd?: string;
  /** A PID namespace too (several hosts; one host keeps this machine's PIDs). */
  readonly pid: boolean;
}

const SETUP = [
  'set -e',
  'echo "$1" > /proc/sys/kernel/hostname',
  `mount --rbind "$2" ${SAGEMAKER_BASE_DIR}`,
  '[ -z "$3" ] || mount --bind "$3" /etc/hosts',
  '[ -z "$4" ] || cd "$4"',
  'shift 4',
].join('\n');

const INIT = [
  SETUP,
  'set +e',
  '"$@" &',
  'c=$!',
  'trap \'kill -TERM $c 2>/dev/null\' TERM',
  'trap \'kill -INT $c 2>/dev/null\' INT',
  // an interrupted wait returns early while the command (or its zombie) is still there
  'while :; do wait $c; s=$?; kill -0 $c 2>/dev/null || exit $s; done',
].join('\n');

/** Without a PID namespace the command replaces the shell. */
const EXEC = `${SETUP}\nexec "$@"`;

/** The argv that runs `command` inside the host's namespaces. */
export function namespacedCommand(ns: HostNamespace, command: readonly string[]): string[] {
  const inner = ['unshare', '--uts', ...(ns.pid ? ['--pid', '--fork', '--mount-proc'] : []), '--mount', '--propagation', 'private',
    'sh', '-c', ns.pid ? INIT : EXEC, 'pipemode-host', ns.hostname, ns.baseDir, ns.hostsFile ?? '', ns.cwd ?? '', ...command];
  return ns.netns === undefined ? inner : ['ip', 'netns', 'exec', ns.netns, ...inner];
}

/** The mount point must exist on this machine (an empty folder, left in place as a mount point). */
export function ensureMountPoint(): void {
  fs.mkdirSync(SAGEMAKER_BASE_DIR, { recursive: true, mode: 0o755 });
}

/** The command run in `cwd` without namespaces (a shell that changes folder and execs). */
export function inFolder(cwd: string, command: readonly string[]): string[] {
  return ['sh', '-c', 'cd "$0" && exec "$@"', cwd, ...command];
}

const SHELL_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/**
 * `command` behind `env NAME=VALUE…` for the variables a shell would drop on its way (names that are
 * not shell identifiers, such as SM_HP_LEARNING-RATE from a hyperparameter `learning-rate`).
 */
export function keepEnvironment(env: NodeJS.ProcessEnv, command: readonly string[]): string[] {
  const odd = Object.entries(env).filter(([k, v]) => v !== undefined && !SHELL_NAME.test(k)).map(([k, v]) => `${k}=${v as string}`);
  return odd.length === 0 ? [...command] : ['env', ...odd, ...command];
}
