/** `pipemode describe JOB_NAME|JOB_DIR`: the job's record, shaped like DescribeTrainingJob, as JSON on stdout. */
import { readJobRecord } from '../../training/job-status.js';
import { findJobDir } from './jobs.js';

export function describeCommand(nameOrDir: string, flags: { readonly jobsDir?: string }): void {
  const arg = nameOrDir.endsWith('.json') ? nameOrDir : findJobDir(nameOrDir, flags.jobsDir);
  process.stdout.write(`${JSON.stringify(readJobRecord(arg), null, 2)}\n`);
}
