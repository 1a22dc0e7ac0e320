/**
 * Runs a container's command (training or hosting) the way SageMaker runs a container, and makes sure nothing of it
 * outlives the job:
 *
 * - the command runs in its own process group, so a stop reaches every process it forked;
 * - stop = SIGTERM to the group, then SIGKILL after the grace period (SageMaker: `docker stop -t 120`);
 * - when the command's main process exits, whatever it left running in its group is killed, as a
 *   container's processes die with it;
 * - with `isolatePids`, processes that left the group (`setsid`, a daemon's double fork) die too:
 *   every process of the container carries a random token in its environment
 *   (PIPEMODE_CONTAINER_TOKEN, inherited through fork, exec and setsid), and when the main process
 *   exits (or pipemode dies, see below) every process whose environment has the token is SIGKILLed,
 *   round after round until none is left. (A PID namespace would also catch a process that execs
 *   with an emptied environment, but the command would be the namespace's init, which ignores
 *   SIGTERM unless it installs a handler: stop would no longer work as on SageMaker.)
 * - if pipemode itself dies (even by SIGKILL), a tiny guardian process notices its stdin pipe
 *   from pipemode closing and SIGKILLs the group (and the token's processes): no orphaned trainer
 *   keeps a GPU busy. It also
 *   lazily unmounts the job's FastFile mounts, which would otherwise stay behind, served by no one.
 *   On a normal end pipemode tells it "done" and it exits without doing anything.
 *
 * A command that cannot be started (not found, not executable) is an EntrypointError naming it.
 * `exited` resolves with the exit code (128 + signal number when killed by a signal, as a shell
 * reports it) once the main process has exited.
 */
import { spawn, type ChildProcess, type StdioOptions } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { EntrypointError } from '../core/errors.js';
import { describeErrno } from '../core/system-error.js';

export interface ContainerExit {
  readonly exitCode: number;
  readonly signal: NodeJS.Signals | null;
}

export interface ContainerProcessOptions {
  readonly command: readonly string[];
  readonly env: NodeJS.ProcessEnv;
  /** 'inherit' (the default) shares pipemode's stdout/stderr; 'pipe' lets the caller prefix lines. */
  readonly stdio?: 'inherit' | 'pipe';
  /** Mount points the guardian unmounts (lazily) if pipemode dies. */
  readonly unmountOnDeath?: readonly string[];
  /** Kill every process the command started, even those that left its process group (see above). */
  readonly isolatePids?: boolean;
  /**
   * Told the process group as soon as the process exists, before `start` resolves: whoever must
   * kill it if pipemode dies (the FIFO guardian under `pipemode train`) hears of it at once.
   */
  readonly onSpawned?: (pgid: number) => void;
}

/** The environment variable that marks every process of one container. */
export const CONTAINER_TOKEN_VAR = 'PIPEMODE_CONTAINER_TOKEN';

/** SIGKILLs every process whose environment holds `token`, until none is left; returns how many. */
export function killTagged(token: string): number {
  const needle = Buffer.from(`${CONTAINER_TOKEN_VAR}=${token}\0`);
  let killed = 0;
  for (let round = 0; round < 10; round++) {
    let found = 0;
    for (const entry of fs.readdirSync('/proc')) {
      if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue;
      let environ: Buffer;
      try {
        environ = fs.readFileSync(`/proc/${entry}/environ`);
      } catch {
        continue; // gone, or not ours to read
      }
      if (environ.indexOf(needle) !== 0 && environ.indexOf(Buffer.concat([Buffer.from([0]), needle])) === -1) continue;
      try {
        process.kill(Number(entry), 'SIGKILL');
        found++;
      } catch {
        // exited meanwhile
      }
    }
    killed += found;
    if (found === 0) break;
  }
  return killed;
}

/**
 * $1: the process group; $2: the container's token ('' for none); $3…: mount points. Anything but
 * "done" on stdin (EOF included) means pipemode died.
 */
const GUARDIAN = [
  'read line; [ "$line" = done ] && exit 0; kill -KILL "-$1" 2>/dev/null',
  `[ -n "$2" ] && for r in 1 2 3; do for p in /proc/[0-9]*; do tr '\\0' '\\n' < "$p/environ" 2>/dev/null | grep -qx "${CONTAINER_TOKEN_VAR}=$2" && kill -KILL "\${p#/proc/}" 2>/dev/null; done; done`,
  'shift 2; for m do umount -l "$m" 2>/dev/null; done',
].join('; ');

/** Whether process `pid` exists (one we may not signal counts: it exists). */
export function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function killGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ESRCH') throw err;
  }
}

/** The one wording of a command that cannot be started, whoever finds out. */
function cannotStart(file: string, errno: string | undefined, cause?: unknown): EntrypointError {
  const why = errno === 'ENOENT' ? 'not found (not a file, and not on PATH)' : errno === 'EACCES' ? 'not executable (permission denied)' : describeErrno(errno);
  return new EntrypointError(`cannot start the command "${file}": ${why} (${errno ?? 'error'})`, { command: file, errno }, cause === undefined ? undefined : { cause });
}

export class ContainerProcess {
  readonly process: ChildProcess;
  readonly pid: number;
  readonly exited: Promise<ContainerExit>;
  readonly #guardian: ChildProcess;
  readonly #token: string | undefined;
  #done = false;

  private constructor(child: ChildProcess, guardian: ChildProcess, token: string | undefined) {
    this.process = child;
    this.pid = child.pid as number;
    this.#guardian = guardian;
    this.#token = token;
    this.exited = new Promise((resolve) => {
      child.once('exit', (code, signal) => {
        this.#done = true;
        killGroup(this.pid, 'SIGKILL'); // the container is gone: so is everything it started
        if (token !== undefined) killTagged(token);
        guardian.stdin?.end('done\n');
        resolve({ exitCode: code ?? 128 + (signal === null ? 0 : (os.constants.signals[signal] ?? 0)), signal });
      });
    });
  }

  /**
   * Fails as `start` would when the command cannot be started, before it is wrapped in something
   * that would start it later (a host's namespaces): a name is looked up on PATH, a path must be an
   * executable file. Paths below /opt/ml are left to the wrapper (they exist only inside a host).
   */
  static checkCommand(command: readonly string[], env: NodeJS.ProcessEnv, cwd?: string): void {
    const file = command[0];
    if (file === undefined) throw new EntrypointError('no command to run', { command: '' });
    if (file === '/opt/ml' || file.startsWith('/opt/ml/')) return;
    const executable = (p: string): boolean => {
      try {
        fs.accessSync(p, fs.constants.X_OK);
        return fs.statSync(p).isFile();
      } catch {
        return false;
      }
    };
    if (file.includes('/')) {
      const p = path.resolve(cwd ?? process.cwd(), file);
      if (!fs.existsSync(p)) throw cannotStart(file, 'ENOENT');
      if (!executable(p)) throw cannotStart(file, 'EACCES');
      return;
    }
    const dirs = (env.PATH ?? '').split(':').filter((d) => d !== '');
    if (!dirs.some((d) => executable(path.join(d, file)))) throw cannotStart(file, 'ENOENT');
  }

  /** Starts the command; rejects if it cannot be started (not found, not executable). */
  static async start(options: ContainerProcessOptions): Promise<ContainerProcess> {
    const [file, ...args] = options.command;
    if (file === undefined) throw new EntrypointError('no command to run', { command: '' });
    const stdio: StdioOptions = options.stdio === 'pipe' ? ['ignore', 'pipe', 'pipe'] : ['ignore', 'inherit', 'inherit'];
    const token = options.isolatePids === true ? randomBytes(16).toString('hex') : undefined;
    const env = token === undefined ? options.env : { ...options.env, [CONTAINER_TOKEN_VAR]: token };
    const child = spawn(file, args, { env, stdio, detached: true });
    const started = new Promise<void>((resolve, reject) => {
      child.once('spawn', resolve);
      child.once('error', (err: NodeJS.ErrnoException) => reject(cannotStart(file, err.code, err)));
    });
    if (child.pid === undefined) await started; // no process: this rejects, and 'error' says why
    const pid = child.pid as number;
    // the guardian starts before anything is awaited: pipemode killed in between must not leave
    // the command running
    const guardian = spawn('sh', ['-c', GUARDIAN, 'pipemode-guardian', String(pid), token ?? '', ...(options.unmountOnDeath ?? [])], {
      stdio: ['pipe', 'ignore', 'ignore'],
      detached: true,
    });
    guardian.unref();
    options.onSpawned?.(pid);
    try {
      await started;
    } catch (err) {
      guardian.stdin?.end('done\n');
      throw err;
    }
    return new ContainerProcess(child, guardian, token);
  }

  /** SIGTERM to the group, SIGKILL after `graceMs` if the main process is still running. */
  async stop(graceMs: number): Promise<ContainerExit> {
    if (!this.#done) {
      killGroup(this.pid, 'SIGTERM');
      const winner = await Promise.race([this.exited.then(() => 'exited' as const), sleep(graceMs).then(() => 'grace' as const)]);
      if (winner === 'grace') killGroup(this.pid, 'SIGKILL');
    }
    return this.exited;
  }

  /** Ends at once: SIGKILL to the group. */
  kill(): void {
    killGroup(this.pid, 'SIGKILL');
    if (this.#token !== undefined) killTagged(this.#token);
    this.#guardian.stdin?.end('done\n');
  }
}
