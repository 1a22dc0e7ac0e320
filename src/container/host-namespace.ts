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
 *
 * Without root (one host), the same UTS and mount namespaces come from an unprivileged user
 * namespace, as rootless containers get theirs:
 *
 *   unshare --user --map-root-user --uts --mount sh -c SETUP … \
 *     exec unshare --user --map-user=UID --map-group=GID COMMAND…
 *
 * The outer namespace maps this user to root, which may set the hostname (`hostname`: the sysctl
 * file stays the real root's) and bind the hosts file (and the base dir at /opt/ml when that
 * folder exists: a non-root user cannot create it); the nested one maps root back to this user,
 * so the command runs with its own uid and gid, and the files it writes (model, output, FIFOs it
 * opens) are this user's as before. Both unshares exec: the command keeps the process that
 * pipemode started, its group, and its signals.
 */
import { spawnSync } from 'node:child_process';
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
  /** Not root: the namespaces come from a user namespace, and the command runs as this uid and gid. */
  readonly user?: { readonly uid: number; readonly gid: number };
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

/** The unprivileged SETUP: as the user namespace's root, then back to the user for the command. */
const USER_EXEC = [
  'set -e',
  'hostname "$1"',
  `[ ! -d ${SAGEMAKER_BASE_DIR} ] || mount --rbind "$2" ${SAGEMAKER_BASE_DIR}`,
  '[ -z "$3" ] || mount --bind "$3" /etc/hosts',
  '[ -z "$4" ] || cd "$4"',
  'u=$5 g=$6',
  'shift 6',
  'exec unshare --user --map-user="$u" --map-group="$g" "$@"',
].join('\n');

/** The argv that runs `command` inside the host's namespaces. */
export function namespacedCommand(ns: HostNamespace, command: readonly string[]): string[] {
  if (ns.user !== undefined) {
    return ['unshare', '--user', '--map-root-user', '--uts', '--mount', '--propagation', 'private', 'sh', '-c', USER_EXEC, 'pipemode-host',
      ns.hostname, ns.baseDir, ns.hostsFile ?? '', ns.cwd ?? '', String(ns.user.uid), String(ns.user.gid), ...command];
  }
  const inner = ['unshare', '--uts', ...(ns.pid ? ['--pid', '--fork', '--mount-proc'] : []), '--mount', '--propagation', 'private',
    'sh', '-c', ns.pid ? INIT : EXEC, 'pipemode-host', ns.hostname, ns.baseDir, ns.hostsFile ?? '', ns.cwd ?? '', ...command];
  return ns.netns === undefined ? inner : ['ip', 'netns', 'exec', ns.netns, ...inner];
}

/**
 * Why this (non-root) user cannot get a host's namespaces from a user namespace, or undefined if it
 * can: the real set-up is tried once with `true` as the command (user namespaces disabled by the
 * kernel or a sysctl, no `unshare` or `hostname`, a util-linux without --map-user).
 */
export function userNamespaceUnavailable(baseDir: string): string | undefined {
  const user = { uid: process.getuid?.() ?? 0, gid: process.getgid?.() ?? 0 };
  const [file, ...args] = namespacedCommand({ hostname: 'algo-1', baseDir, hostsFile: '/etc/hosts', pid: false, user }, ['true']);
  const r = spawnSync(file as string, args, { stdio: ['ignore', 'ignore', 'pipe'], timeout: 10_000, encoding: 'utf8' });
  if (r.error !== undefined) return (r.error as NodeJS.ErrnoException).code === 'ENOENT' ? 'unshare is not installed (util-linux)' : r.error.message;
  if (r.status === 0) return undefined;
  const last = r.stderr.trim().split('\n').pop()?.trim() ?? '';
  return `no user namespace for it: ${last !== '' ? last : `exit status ${String(r.status ?? r.signal)}`}`;
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
