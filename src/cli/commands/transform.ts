/**
 * `pipemode transform JOB.json|JOB.yaml`: a CreateTransformJob request (with the CreateModel
 * requests it names) run here (transform/run-transform.ts). The record goes to
 * `<jobs-dir>/<TransformJobName>/transform.json` (`pipemode describe NAME`). Exit status: 0
 * Completed; 14 Failed because the model failed files; 11 Stopped (SIGINT/SIGTERM); a job that
 * fails for another reason exits with that error's code; a bad request exits 2 before anything
 * starts. On a terminal, one status line: files done / total, records/s, bytes/s.
 */
import path from 'node:path';
import { readSpecFile } from '../../channel/spec-file.js';
import { formatBytes } from '../../core/byte-size.js';
import { ConfigError } from '../../core/errors.js';
import type { Logger } from '../../core/log.js';
import { loadImagesMap } from '../../hosting/images-file.js';
import { Stores } from '../../storage/stores.js';
import { DEFAULT_JOBS_DIR } from '../../training/job-status.js';
import { checkNewJob, runTransform, type TransformProgress } from '../../transform/run-transform.js';
import { resolveTransformJobFile } from '../../transform/transform-job-file.js';
import { intFlag, storesOptions, type FetchFlags } from '../options.js';

export interface TransformFlags extends FetchFlags {
  readonly images?: string;
  readonly instanceRank?: string;
  readonly instanceCount?: string;
  readonly jobsDir?: string;
  readonly startupTimeout?: string;
  readonly stopGrace?: string;
}

const REDRAW_MS = 250;

/** A one-line status on a terminal, redrawn at most every 250 ms. */
function progressLine(label: string): { update: (p: Readonly<TransformProgress>) => void; end: () => void } {
  const started = performance.now();
  let last = 0;
  let shown = false;
  const draw = (p: Readonly<TransformProgress>): void => {
    const s = Math.max(0.001, (performance.now() - started) / 1000);
    const line = `${label}: files ${p.filesDone}/${p.filesTotal} · ${Math.round(p.records / s).toLocaleString('en-US')} records/s · ${formatBytes(p.bytes / s)}/s`;
    process.stderr.write(`\r\x1b[2K${line}`);
    shown = true;
  };
  let latest: Readonly<TransformProgress> | undefined;
  return {
    update(p) {
      latest = p;
      const now = performance.now();
      if (now - last < REDRAW_MS && p.filesDone < p.filesTotal) return;
      last = now;
      draw(p);
    },
    end() {
      if (latest !== undefined) draw(latest);
      if (shown) process.stderr.write('\n');
    },
  };
}

export async function transformCommand(file: string, flags: TransformFlags, log: Logger, verbose: boolean): Promise<number> {
  const { job, model } = resolveTransformJobFile(readSpecFile(file), file);
  if ((flags.instanceRank === undefined) !== (flags.instanceCount === undefined)) {
    throw new ConfigError('--instance-rank and --instance-count go together', { field: '--instance-rank' });
  }
  const count = intFlag(flags.instanceCount, '--instance-count', 1, 100_000);
  const rankN = intFlag(flags.instanceRank, '--instance-rank', 0, 100_000);
  if (count !== undefined && rankN !== undefined && rankN >= count) {
    throw new ConfigError(`--instance-rank is 0-based and must be below --instance-count (${count}), got ${rankN}`, { field: '--instance-rank' });
  }
  const rank = count !== undefined && rankN !== undefined ? { rank: rankN, count } : undefined;
  const startupTimeoutS = intFlag(flags.startupTimeout, '--startup-timeout', 1, 3600);
  const stopGraceMs = (intFlag(flags.stopGrace, '--stop-grace', 0, 3600) ?? 30) * 1000;
  const images = loadImagesMap(flags.images);
  const jobsDir = flags.jobsDir ?? DEFAULT_JOBS_DIR;
  const jobDir = path.resolve(jobsDir, job.name);
  checkNewJob(jobDir, job.name);
  const stores = new Stores(storesOptions(flags));
  const maxAttempts = intFlag(flags.maxAttempts, '--max-attempts', 1, 100);

  const stop = new AbortController();
  const onSignal = (signal: NodeJS.Signals): void => {
    if (stop.signal.aborted) return;
    log.info(`${signal}: stopping the transform job (requests in flight are abandoned; no partial output is written)`);
    stop.abort(signal);
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  const bar = process.stderr.isTTY ? progressLine(job.name) : undefined;
  try {
    const outcome = await runTransform({ job, model }, {
      jobDir,
      stores,
      images,
      rank,
      region: process.env.AWS_REGION ?? process.env.AWS_DEFAULT_REGION ?? 'us-east-1',
      ...(maxAttempts !== undefined ? { retry: { maxAttempts, baseDelayMs: 200, maxDelayMs: 20_000 } } : {}),
      log,
      signal: stop.signal,
      onLine: verbose ? (label, line) => process.stderr.write(`[${label}] ${line}\n`) : undefined,
      onProgress: bar?.update,
      startupTimeoutS,
      stopGraceMs,
    });
    bar?.end();
    const { record } = outcome;
    log.info(`${job.name}: ${outcome.status}: ${record.FilesCompleted} of ${record.FilesTotal} files transformed into ${job.output.uri}${outcome.failureReason !== undefined ? `; ${outcome.failureReason}` : ''}`);
    log.info(`${job.name}: details: pipemode describe ${job.name}${jobsDir !== DEFAULT_JOBS_DIR ? ` --jobs-dir ${jobsDir}` : ''}; container logs in ${path.join(jobDir, 'logs')}`);
    return outcome.exitCode;
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    stores.close();
  }
}
