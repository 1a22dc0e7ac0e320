/**
 * `pipemode train JOB.json|JOB.yaml [-- COMMAND ARGS…]`: runs a CreateTrainingJob request here
 * (training/run-job.ts). Exit status: 0 Completed; 10 Failed because the training command failed;
 * 11 Stopped; 12 MaxRuntimeExceeded; a failure of pipemode's own (bad data, upload) exits with that
 * error's code (3, 4, 5); a bad request exits 2 before anything starts.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { readSpecFile } from '../../channel/spec-file.js';
import { ConfigError } from '../../core/errors.js';
import { withPathContext } from '../../core/system-error.js';
import type { Logger } from '../../core/log.js';
import { FifoGuardian } from '../../pipe/fifo-guardian.js';
import { inputModeOf, resolveJob } from '../../training/job-spec.js';
import { DEFAULT_JOBS_DIR } from '../../training/job-status.js';
import { prepareSource, scriptCommand, scriptModeOf } from '../../training/script-mode.js';
import { commandForImage, findImageMapping, loadImagesMap } from '../../hosting/images-file.js';
import { countGpus } from '../../container/training-env.js';
import { fetchSettings, hostPosition, intFlag, storesOptions, type FetchFlags, type HostFlags } from '../options.js';
import { readChannelsAhead } from '../read-ahead.js';

export interface TrainFlags extends FetchFlags, HostFlags {
  readonly baseDir?: string;
  readonly jobsDir?: string;
  readonly hosts?: string;
  readonly stopGrace?: string;
  readonly fifosPerChannel?: string;
  readonly checkpointInterval?: string;
  readonly hostIsolation?: string;
  readonly k8sHostsFromDns?: string;
  readonly images?: string;
}

export async function trainCommand(file: string, command: readonly string[], flags: TrainFlags, log: Logger): Promise<number> {
  const doc = readSpecFile(file);
  const job = resolveJob(doc, file);
  if (!job.channels.some((c) => inputModeOf(job, c) === 'Pipe')) FifoGuardian.dropSpare(); // main.ts started one
  // the local channels' folders are read while the job's checks run and run-job's modules load
  await readChannelsAhead(job.channels.filter((c) => c.dataType === 'S3Prefix').map((c) => c.source));
  const fetch = fetchSettings(flags);
  const stopGraceMs = (intFlag(flags.stopGrace, '--stop-grace', 0, 86_400) ?? 120) * 1000;
  const checkpointIntervalMs = (intFlag(flags.checkpointInterval, '--checkpoint-interval', 1, 86_400) ?? 10) * 1000;
  const fifosPerChannel = intFlag(flags.fifosPerChannel, '--fifos-per-channel', 1, 64) ?? 1;
  const localHosts = intFlag(flags.hosts, '--hosts', 1, 64);
  if (localHosts !== undefined && (flags.hostCount !== undefined || flags.hostRank !== undefined)) {
    throw new ConfigError('--hosts runs every host here; --host-rank/--host-count run one host of a job spread over machines: choose one', { field: '--hosts' });
  }
  if ((flags.hostCount === undefined) !== (flags.hostRank === undefined)) throw new ConfigError('--host-rank and --host-count go together', { field: '--host-rank' });
  const position = flags.hostRank !== undefined ? hostPosition(flags) : undefined;
  const count = position?.hostCount ?? localHosts ?? job.instanceCount;
  const ranks = position !== undefined ? [position.hostRank] : Array.from({ length: count }, (_, i) => i);
  if (flags.baseDir !== undefined && ranks.length > 1) {
    throw new ConfigError(`--base-dir is the base dir of one host, but ${ranks.length} hosts run here (use --host-rank, or leave --base-dir out)`, { field: '--base-dir' });
  }
  let cmd = command.length > 0 ? command : job.command;
  // a framework image with the SDK's sagemaker_program: script mode (training/script-mode.ts)
  const launch = cmd === undefined || cmd.length === 0 ? scriptModeOf(job) : undefined;
  if (launch !== undefined) cmd = scriptCommand(launch, { rank: 0, count, masterAddr: 'algo-1' }, os.cpus().length, countGpus());
  // no ContainerEntrypoint: a TrainingImage mapped by the images file (--images, PIPEMODE_IMAGES) stands in for it,
  // run as SageMaker runs `IMAGE train` (or IMAGE with the ContainerArguments instead of "train")
  const algo = (doc as { AlgorithmSpecification?: { ContainerEntrypoint?: unknown; ContainerArguments?: string[] } }).AlgorithmSpecification ?? {};
  let mappedFrom: string | undefined;
  if (launch === undefined && command.length === 0 && algo.ContainerEntrypoint === undefined && job.trainingImage !== undefined) {
    const images = loadImagesMap(flags.images);
    if (findImageMapping(images, job.trainingImage, 'train') !== undefined) {
      const mapped = commandForImage(images, job.trainingImage, 'train', 'AlgorithmSpecification.TrainingImage');
      cmd = algo.ContainerArguments !== undefined ? [...mapped.argv.slice(0, -1), ...algo.ContainerArguments] : mapped.argv;
      mappedFrom = mapped.from;
    }
  }
  if (cmd === undefined || cmd.length === 0) {
    throw new ConfigError(`${file}: no command to run: set AlgorithmSpecification.ContainerEntrypoint (and ContainerArguments), or give one after "--"${job.trainingImage !== undefined ? ` (TrainingImage ${job.trainingImage} is not pulled: pipemode runs local commands; map it to one in an images file, --images FILE or PIPEMODE_IMAGES)` : ''}`, {
      field: 'AlgorithmSpecification.ContainerEntrypoint',
    });
  }
  const hostIsolation = flags.hostIsolation ?? 'auto';
  if (hostIsolation !== 'auto' && hostIsolation !== 'none') throw new ConfigError(`--host-isolation is auto or none, got "${hostIsolation}"`, { field: '--host-isolation' });
  const jobDir = path.resolve(flags.jobsDir ?? DEFAULT_JOBS_DIR, job.name);
  // the folders given are usable (not a file, writable) before anything starts
  withPathContext({ flag: '--jobs-dir', path: jobDir }, () => fs.mkdirSync(jobDir, { recursive: true, mode: 0o700 }));
  if (flags.baseDir !== undefined) {
    const baseDir = flags.baseDir;
    withPathContext({ flag: '--base-dir', path: baseDir }, () => fs.mkdirSync(baseDir, { recursive: true, mode: 0o700 }));
  }
  if (fs.existsSync(path.join(jobDir, 'job.json'))) {
    throw new ConfigError(`a job named "${job.name}" already ran here (${jobDir}); job names are unique, as on SageMaker: pick another name or remove that folder`, { field: 'TrainingJobName' });
  }
  if (flags.k8sHostsFromDns !== undefined) {
    const { writeK8sHosts } = await import('../../training/k8s-hosts.js');
    await writeK8sHosts(job.name, flags.k8sHostsFromDns, count);
    log.info(`${job.name}: algo-1 … algo-${count} resolved from ${flags.k8sHostsFromDns} and written into /etc/hosts`);
  }
  if (launch !== undefined) {
    log.info(`${job.name}: TrainingImage ${launch.image}: script mode: ${launch.program} from ${launch.submitDirectory}${launch.distribution === 'torch_distributed' ? ', torch_distributed (torchrun on each host)' : ''}`);
  } else if (mappedFrom !== undefined) {
    log.info(`${job.name}: TrainingImage ${job.trainingImage ?? ''} mapped by ${mappedFrom}: running ${cmd.join(' ')}`);
  } else if (job.trainingImage !== undefined) log.info(`${job.name}: TrainingImage ${job.trainingImage} is not pulled; running ${cmd.join(' ')}`);

  const stop = new AbortController();
  const kill = new AbortController();
  const onSignal = (signal: NodeJS.Signals): void => {
    if (stop.signal.aborted) {
      log.warn(`${signal} again: killing the training processes now`);
      kill.abort(signal);
      return;
    }
    log.info(`${signal}: stopping the job (SIGTERM to the training processes; SIGKILL after ${stopGraceMs / 1000} s; ${signal} again to kill now)`);
    stop.abort(signal);
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  process.on('SIGHUP', onSignal);
  try {
    const { runJob } = await import('../../training/run-job.js');
    const outcome = await runJob(job, {
      jobDir,
      hosts: { ranks, count },
      ...(flags.baseDir !== undefined ? { baseDir: flags.baseDir } : {}),
      command: cmd,
      stopGraceMs,
      fetch,
      stores: storesOptions(flags),
      fifosPerChannel,
      checkpointIntervalMs,
      progress: process.stderr.isTTY,
      region: process.env.AWS_REGION ?? process.env.AWS_DEFAULT_REGION ?? 'us-east-1',
      log,
      signal: stop.signal,
      killSignal: kill.signal,
      hostIsolation,
      ...(launch !== undefined ? {
        commandFor: async (host) => {
          await prepareSource(launch, host.layout.codeDir, host.stores, log, stop.signal);
          return scriptCommand(launch, host, os.cpus().length, countGpus());
        },
        cwdFor: (layout) => layout.codeDir,
      } : {}),
    });
    const { record } = outcome;
    const where = record.ModelArtifacts === undefined ? '' : `; model: ${record.ModelArtifacts.S3ModelArtifacts}`;
    log.info(`${job.name}: ${outcome.status} (${record.SecondaryStatus})${outcome.failureReason !== undefined ? `: ${outcome.failureReason}` : ''}${where}`);
    log.info(`${job.name}: details: pipemode describe ${job.name}${flags.jobsDir !== undefined && flags.jobsDir !== DEFAULT_JOBS_DIR ? ` --jobs-dir ${flags.jobsDir}` : ''}`);
    return outcome.exitCode;
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    process.off('SIGHUP', onSignal);
  }
}
