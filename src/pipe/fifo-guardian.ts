/**
 * pipemode's side of the guardian process (fifo-guardian-main.ts), which makes pipemode's death
 * (SIGKILL, the OOM killer) never read as a complete epoch: it holds a second write end of every
 * FIFO whose reader has attached until the epoch is complete, and when pipemode dies it first kills
 * the trainers' process groups, then writes each unfinished epoch's `.error` marker, and only then
 * lets the FIFOs close. See docs/semantics.md.
 *
 * One guardian serves any number of FIFOs (servePipes starts one unless given one; `pipemode train`
 * shares one per job and registers each trainer's process group). It runs detached, in its own
 * process group, so a Ctrl-C on the terminal reaches pipemode (which ends cleanly) but not it.
 * Messages go over its stdin, answers come back on its stdout; its handles are unref'd except
 * while an answer is awaited, so it never keeps pipemode alive.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import type fs from 'node:fs';
import type net from 'node:net';
import readline from 'node:readline';

export class FifoGuardian {
  readonly #child: ChildProcess;
  readonly #pending = new Map<number, (held: boolean) => void>();
  #next = 0;
  #alive = true;

  private constructor(child: ChildProcess) {
    this.#child = child;
    child.unref();
    (child.stdin as net.Socket).unref();
    (child.stdout as net.Socket).unref();
    child.stdin?.on('error', () => this.#gone());
    child.once('exit', () => this.#gone());
    child.once('error', () => this.#gone());
    readline.createInterface({ input: child.stdout as NodeJS.ReadableStream }).on('line', (line) => {
      try {
        const { id, held } = JSON.parse(line) as { id: number; held: boolean };
        this.#settle(id, held);
      } catch {
        // not an answer
      }
    });
  }

  static #spare: FifoGuardian | undefined;

  /**
   * Starts a guardian process now, for the next start() to take. The CLI calls it first thing for
   * `train` and `pipe`: the guardian is a Node process, and its ~0.1 s of start-up, begun later,
   * competed for the CPUs with the trainer's own start (on 2 cores, ~40 ms of every first byte).
   */
  static prestart(): void {
    FifoGuardian.#spare ??= FifoGuardian.#spawn();
  }

  /** Ends the guardian prestart() began, if none took it (a job without Pipe channels). */
  static dropSpare(): void {
    FifoGuardian.#spare?.close();
    FifoGuardian.#spare = undefined;
  }

  /** Starts the guardian process. */
  static start(): FifoGuardian {
    const spare = FifoGuardian.#spare;
    FifoGuardian.#spare = undefined;
    return spare ?? FifoGuardian.#spawn();
  }

  static #spawn(): FifoGuardian {
    const main = new URL('./fifo-guardian-main.js', import.meta.url).pathname;
    const child = spawn(process.execPath, [main], { stdio: ['pipe', 'pipe', 'ignore'], detached: true });
    return new FifoGuardian(child);
  }

  /** The guardian's pid (tests). */
  get pid(): number | undefined {
    return this.#child.pid;
  }

  #gone(): void {
    this.#alive = false;
    for (const id of [...this.#pending.keys()]) this.#settle(id, false);
  }

  #settle(id: number, held: boolean): void {
    const done = this.#pending.get(id);
    if (done === undefined) return;
    this.#pending.delete(id);
    if (this.#pending.size === 0) (this.#child.stdout as net.Socket).unref();
    done(held);
  }

  #send(message: object): void {
    if (this.#alive) this.#child.stdin?.write(`${JSON.stringify(message)}\n`);
  }

  /**
   * A FIFO is about to be created (told first, so that no moment exists where it is there and the
   * guardian does not know): if pipemode dies before `unwatch`, its epoch gets a marker and the FIFO
   * is removed.
   */
  watch(path: string): void {
    this.#send({ op: 'watch', path });
  }

  /** The FIFO's epoch is over (complete, or its marker written) and the FIFO removed. */
  unwatch(path: string): void {
    this.#send({ op: 'unwatch', path });
  }

  /**
   * Has the guardian open its own write end of `path` (pipemode's is open, `st` is its fstat) and
   * resolves once it holds it: true, or false when it could not (the reader left already, or no
   * guardian is running: then pipemode's death would read as EOF, as without a guardian).
   */
  hold(path: string, st: fs.Stats): Promise<boolean> {
    if (!this.#alive) return Promise.resolve(false);
    const id = this.#next++;
    return new Promise((resolve) => {
      this.#pending.set(id, resolve);
      (this.#child.stdout as net.Socket).ref();
      this.#send({ op: 'hold', id, path, dev: st.dev, ino: st.ino });
    });
  }

  /** The epoch is complete (or its marker is written): the guardian closes its write end. */
  release(path: string): void {
    this.#send({ op: 'release', path });
  }

  /** If pipemode dies, SIGKILL process group `pgid` before any FIFO closes. */
  guardGroup(pgid: number): void {
    this.#send({ op: 'group', pgid });
  }

  ungroup(pgid: number): void {
    this.#send({ op: 'ungroup', pgid });
  }

  /** pipemode ends normally: the guardian exits without doing anything. */
  close(): void {
    if (!this.#alive) return;
    this.#child.stdin?.end('done\n');
    this.#alive = false;
  }
}
