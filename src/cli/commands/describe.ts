/**
 * `pipemode describe JOB_NAME|JOB_DIR`: the job's record as JSON on stdout — a training job's
 * `job.json` (shaped like DescribeTrainingJob) or a transform job's `transform.json` (like
 * DescribeTransformJob).
 */
import fs from 'node:fs';
import path from 'node:path';
import { ConfigError } from '../../core/errors.js';
import { DEFAULT_JOBS_DIR, readJobRecord } from '../../training/job-status.js';
import { TRANSFORM_RECORD_FILE, readTransformRecord } from '../../transform/run-transform.js';

export function describeCommand(nameOrDir: string, flags: { readonly jobsDir?: string }): void {
  const candidates = [nameOrDir, path.join(flags.jobsDir ?? DEFAULT_JOBS_DIR, nameOrDir)];
  const dir = candidates.find((c) => fs.existsSync(path.join(c, 'job.json')) || fs.existsSync(path.join(c, TRANSFORM_RECORD_FILE))
    || (c.endsWith('.json') && fs.existsSync(c)));
  if (dir === undefined) {
    throw new ConfigError(`no job "${nameOrDir}": looked for ${candidates.map((c) => path.join(c, 'job.json')).join(' and ')} (and ${TRANSFORM_RECORD_FILE} beside them)`, { field: 'JOB' });
  }
  const transform = dir.endsWith(TRANSFORM_RECORD_FILE) || (!dir.endsWith('.json') && !fs.existsSync(path.join(dir, 'job.json')));
  const record = transform ? readTransformRecord(dir) : readJobRecord(dir);
  process.stdout.write(`${JSON.stringify(record, null, 2)}\n`);
}
