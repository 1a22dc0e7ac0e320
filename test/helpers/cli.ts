/** Runs the real `pipemode` CLI (bin/pipemode.js) as a child process. */
import { spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { mkfifo } from '../../src/core/libc.js';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
export const BIN = path.join(ROOT, 'bin/pipemode.js');

export interface CliResult {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: Buffer;
  readonly stderr: string;
}

export function sha256(data: Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}

export function startPipemode(args: readonly string[], options: SpawnOptions = {}): ChildProcess {
  return spawn(process.execPath, [BIN, ...args], { stdio: ['ignore', 'pipe', 'pipe'], ...options });
}

/** Runs pipemode to completion and collects its output. */
export function runPipemode(args: readonly string[], options: SpawnOptions = {}): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = startPipemode(args, options);
    const out: Buffer[] = [];
    let err = '';
    child.stdout?.on('data', (d: Buffer) => out.push(d));
    child.stderr?.on('data', (d: Buffer) => (err += d.toString()));
    child.on('error', reject);
    child.on('close', (code, signal) => resolve({ code, signal, stdout: Buffer.concat(out), stderr: err }));
  });
}

/** Runs `tasks` with at most `limit` running at once. */
export async function inParallel<T>(limit: number, tasks: readonly (() => Promise<T>)[]): Promise<T[]> {
  const results: T[] = new Array<T>(tasks.length);
  let next = 0;
  await Promise.all(Array.from({ length: limit }, async () => {
    while (next < tasks.length) {
      const i = next++;
      results[i] = await (tasks[i] as () => Promise<T>)();
    }
  }));
  return results;
}

/**
 * Runs pipemode with stdout a FIFO this test reads (the write paths a FIFO gets: splice, the
 * worker's copy), with PIPEMODE_REPORT_PATH=1 so stderr says which ran; returns the bytes, stderr
 * and exit code.
 */
export async function runPipemodeIntoFifo(args: readonly string[], env: NodeJS.ProcessEnv = process.env): Promise<{ code: number | null; stdout: Buffer; stderr: string }> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pm-fifo-out-'));
  const fifo = path.join(dir, 'out');
  mkfifo(fifo, 0o600);
  const rfd = fs.openSync(fifo, fs.constants.O_RDONLY | fs.constants.O_NONBLOCK);
  const wfd = fs.openSync(fifo, fs.constants.O_WRONLY);
  const reader = new net.Socket({ fd: rfd, readable: true, writable: false });
  const out: Buffer[] = [];
  reader.on('data', (d: Buffer) => out.push(d));
  const ended = new Promise<void>((resolve) => reader.on('end', resolve).on('close', resolve));
  const child = spawn(process.execPath, [BIN, ...args], { stdio: ['ignore', wfd, 'pipe'], env: { ...env, PIPEMODE_REPORT_PATH: '1' } });
  fs.closeSync(wfd);
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
  const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
  await ended;
  reader.destroy();
  fs.rmSync(dir, { recursive: true, force: true });
  return { code, stdout: Buffer.concat(out), stderr };
}
