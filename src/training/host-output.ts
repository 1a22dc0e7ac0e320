/**
 * A host's training output, kept and shown: the command's stdout and stderr go to the terminal
 * as they come (stdout to stdout, stderr to stderr; each line prefixed `[algo-i] ` when several
 * hosts share the terminal) and, as they are, to `<jobDir>/algo-<i>.log` (mode 0600), which
 * `pipemode logs` reads, during the job or after it. A log file that cannot be written (a full
 * disk) costs the file, never the job: the terminal copy goes on. With a `sink` (a server's log
 * store), lines go there instead of the terminal.
 */
import type { ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import readline from 'node:readline';
import type { Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';

export interface HostOutput {
  /** Resolves once both streams have ended (at most a moment after the process exits). */
  finished(): Promise<void>;
}

/** How long output may trail the process's exit (a child that inherited its pipes). */
const TRAIL_MS = 2000;

export type OutputSink = (stream: 'stdout' | 'stderr', line: string) => void;

export function teeHostOutput(child: ChildProcess, logFile: string, prefix: string | undefined, sink?: OutputSink): HostOutput {
  const log = fs.createWriteStream(logFile, { flags: 'a', mode: 0o600 });
  log.on('error', () => {}); // the terminal copy goes on
  const ended: Promise<void>[] = [];
  const tee = (stream: Readable | null, out: NodeJS.WriteStream, name: 'stdout' | 'stderr'): void => {
    if (stream === null) return;
    ended.push(new Promise((resolve) => stream.once('close', resolve)));
    stream.on('data', (chunk: Buffer) => {
      if (!log.destroyed) log.write(chunk);
      if (prefix === undefined && sink === undefined) out.write(chunk);
    });
    if (sink !== undefined) readline.createInterface({ input: stream, crlfDelay: Infinity }).on('line', (line) => sink(name, line));
    else if (prefix !== undefined) readline.createInterface({ input: stream, crlfDelay: Infinity }).on('line', (line) => out.write(`[${prefix}] ${line}\n`));
  };
  tee(child.stdout, process.stdout, 'stdout');
  tee(child.stderr, process.stderr, 'stderr');
  return {
    async finished(): Promise<void> {
      await Promise.race([Promise.all(ended), sleep(TRAIL_MS)]);
      await new Promise<void>((resolve) => log.end(resolve));
    },
  };
}
