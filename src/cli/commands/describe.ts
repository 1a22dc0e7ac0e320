/** `pipemode describe JOB_NAME|JOB_DIR`: the job's record, shaped like DescribeTrainingJob, as JSON on stdout. */
import fs from 'node:fs';
import path from 'node:path';
import { ConfigError } from '../../core/errors.js';
import { DEFAULT_JOBS_DIR, readJobRecord } from '../../training/job-status.js';

export function describeCommand(nameOrDir: string, flags: { readonly jobsDir?: string }): void {
  const candidates = [nameOrDir, path.join(flags.jobsDir ?? DEFAULT_JOBS_DIR, nameOrDir)];
  const dir = candidates.find((c) => fs.existsSync(path.join(c, 'job.json')) || (c.endsWith('.json') && fs.existsSync(c)));
  if (dir === undefined) {
    throw new ConfigError(`no job "${nameOrDir}": looked for ${candidates.map((c) => path.join(c, 'job.json')).join(' and ')}`, { field: 'JOB' });
  }
  process.stdout.write(`${JSON.stringify(readJobRecord(dir), null, 2)}\n`);
}
