/**
 * The jobs of a jobs folder, from any terminal: `list` (ListTrainingJobs), `logs JOB [--follow]`
 * (each host's training output, kept in `<job>/algo-<i>.log`) and `stop JOB` (StopTrainingJob:
 * SIGTERM to the pipemode process named by the job's `runner.json`, checked by its start time so
 * a reused pid is never signalled). Statuses are read as `describe` reads them: a job whose runner
 * is gone is Failed, "interrupted".
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { ConfigError } from '../../core/errors.js';
import type { Logger } from '../../core/log.js';
import { withPathContext } from '../../core/system-error.js';
import { DEFAULT_JOBS_DIR, readJobRecord, readRunner, runnerAlive, type JobRecord } from '../../training/job-status.js';

/** A job's folder: NAME in --jobs-dir, or a folder holding job.json. */
export function findJobDir(nameOrDir: string, jobsDir: string | undefined): string {
  const candidates = [nameOrDir, path.join(jobsDir ?? DEFAULT_JOBS_DIR, nameOrDir)];
  const dir = candidates.find((c) => fs.existsSync(path.join(c, 'job.json')));
  if (dir === undefined) {
    throw new ConfigError(`no job "${nameOrDir}": looked for ${candidates.map((c) => path.join(c, 'job.json')).join(' and ')}`, { field: 'JOB' });
  }
  return dir;
}

const FINAL = new Set(['Completed', 'Failed', 'Stopped']);

export function listCommand(flags: { readonly jobsDir?: string }, log: Logger): void {
  const jobsDir = flags.jobsDir ?? DEFAULT_JOBS_DIR;
  if (!fs.existsSync(jobsDir)) {
    log.info(`no jobs yet: ${jobsDir} does not exist`);
    return;
  }
  const names = withPathContext({ flag: '--jobs-dir', path: jobsDir }, () => fs.readdirSync(jobsDir));
  const rows: JobRecord[] = [];
  for (const name of names.sort()) {
    if (!fs.existsSync(path.join(jobsDir, name, 'job.json'))) continue;
    try {
      rows.push(readJobRecord(path.join(jobsDir, name)));
    } catch (err) {
      log.warn(`${name}: ${(err as Error).message}`);
    }
  }
  rows.sort((a, b) => (a.CreationTime < b.CreationTime ? 1 : a.CreationTime > b.CreationTime ? -1 : 0)); // newest first, as SageMaker lists
  const width = Math.max(4, ...rows.map((r) => r.TrainingJobName.length));
  const lines = [`${'NAME'.padEnd(width)}  ${'STATUS'.padEnd(10)}  ${'SECONDARY'.padEnd(18)}  CREATED`];
  for (const r of rows) lines.push(`${r.TrainingJobName.padEnd(width)}  ${r.TrainingJobStatus.padEnd(10)}  ${r.SecondaryStatus.padEnd(18)}  ${r.CreationTime}`);
  process.stdout.write(`${lines.join('\n')}\n`);
}

/** The host log files of a job folder, in host order. */
function hostLogs(dir: string): string[] {
  return fs.readdirSync(dir).filter((f) => /^algo-\d+\.log$/.test(f))
    .sort((a, b) => Number(a.slice(5, -4)) - Number(b.slice(5, -4))).map((f) => path.join(dir, f));
}

/** Copies what `file` gained since `offset` to stdout; with `prefix`, whole lines only, each prefixed. */
function drain(file: string, state: { offset: number; partial: string }, prefix: string | undefined, final: boolean): void {
  const size = fs.statSync(file).size;
  if (size > state.offset) {
    const fd = fs.openSync(file, 'r');
    try {
      const buf = Buffer.alloc(size - state.offset);
      const n = fs.readSync(fd, buf, 0, buf.length, state.offset);
      state.offset += n;
      if (prefix === undefined) {
        process.stdout.write(buf.subarray(0, n));
      } else {
        const text = state.partial + buf.subarray(0, n).toString('utf8');
        const lines = text.split('\n');
        state.partial = lines.pop() ?? '';
        for (const line of lines) process.stdout.write(`[${prefix}] ${line}\n`);
      }
    } finally {
      fs.closeSync(fd);
    }
  }
  if (final && prefix !== undefined && state.partial !== '') {
    process.stdout.write(`[${prefix}] ${state.partial}\n`);
    state.partial = '';
  }
}

export async function logsCommand(nameOrDir: string, flags: { readonly jobsDir?: string; readonly follow?: boolean }): Promise<void> {
  const dir = findJobDir(nameOrDir, flags.jobsDir);
  const states = new Map<string, { offset: number; partial: string }>();
  const pass = (final: boolean): void => {
    const files = hostLogs(dir);
    for (const f of files) {
      const state = states.get(f) ?? { offset: 0, partial: '' };
      states.set(f, state);
      drain(f, state, files.length > 1 ? path.basename(f, '.log') : undefined, final);
    }
  };
  if (flags.follow !== true) return pass(true);
  for (;;) {
    const ended = FINAL.has(readJobRecord(dir).TrainingJobStatus);
    pass(ended);
    if (ended) return;
    await sleep(250);
  }
}

export async function stopCommand(nameOrDir: string, flags: { readonly jobsDir?: string; readonly wait?: boolean }, log: Logger): Promise<void> {
  const dir = findJobDir(nameOrDir, flags.jobsDir);
  const record = readJobRecord(dir);
  const runner = readRunner(dir);
  if (FINAL.has(record.TrainingJobStatus) || runner === undefined) {
    throw new ConfigError(`job "${record.TrainingJobName}" is not running: it is ${record.TrainingJobStatus}${record.FailureReason !== undefined ? ` (${record.FailureReason})` : ''}`, { field: 'JOB' });
  }
  if (!runnerAlive(runner)) throw new ConfigError(`job "${record.TrainingJobName}" is not running`, { field: 'JOB' });
  if (runner.hostname !== os.hostname()) {
    throw new ConfigError(`job "${record.TrainingJobName}" runs on host ${runner.hostname}: stop it there`, { field: 'JOB' });
  }
  process.kill(runner.pid, 'SIGTERM');
  log.info(`${record.TrainingJobName}: stopping (SIGTERM sent to pipemode, pid ${runner.pid})`);
  if (flags.wait !== true) return;
  while (runnerAlive(runner)) await sleep(200);
  const final = readJobRecord(dir);
  log.info(`${final.TrainingJobName}: ${final.TrainingJobStatus} (${final.SecondaryStatus})`);
}
