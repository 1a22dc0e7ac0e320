/**
 * Runs a training job on this machine, host by host as SageMaker would run its containers, in
 * named phases (each a function below, sharing one `Run`):
 *
 *   listChannels      one listing per channel, under way while the layouts are written
 *   isolateHosts      how the hosts are kept apart (host-isolation.ts): own namespaces, or none
 *   prepareHosts      each host's base dir and config files
 *   prepareChannels   FastFile mounts, File-mode downloads, Pipe-mode FIFOs, checkpoints restored
 *   startContainers   one process per host (in its namespaces, if any), under supervision
 *   supervise         wait for every host; the first to fail stops the others
 *   uploadArtifacts   final checkpoint sync; model/ and output/data/ packed and uploaded
 *   finish            the record's final status, and the typed outcome
 *
 * As SageMaker reports them:
 *
 *   Starting     validate, create each host's base dir and config files, list every channel once
 *                (a Pipe-only job does not wait for the listing: its trainers start meanwhile)
 *   Downloading  File channels: download the host's shard (only if there are any); FastFile
 *                channels are mounted read-only instead (FUSE), or downloaded where FUSE is unavailable
 *   Training     Pipe channels: `<ch>_0` FIFOs exist before the command starts; checkpoints
 *                restored; the command runs (one process per host) under supervision
 *   Uploading    final checkpoint sync; model/ and output/data/ packed and uploaded
 *   Completed | Failed | Stopped | MaxRuntimeExceeded
 *
 * Failure handling: a host whose command exits non-zero fails the job (the other hosts are
 * stopped: SIGTERM, SIGKILL after the grace period) with FailureReason
 * "AlgorithmError: <first part of output/failure>, exit code: N". A data failure in a Pipe
 * channel (a failed listing included) stops the hosts first, so no trainer mistakes the closed
 * FIFO for a complete epoch.
 * SIGINT/SIGTERM (the `signal`) and MaxRuntimeInSeconds stop the hosts the same way; outputs are
 * uploaded in every case, as SageMaker does for stopped jobs.
 */
import fs from 'node:fs';
import path from 'node:path';
import { formatBytes } from '../core/byte-size.js';
import { onAbort } from '../core/abort.js';
import { AbortedError, MountError, isPipemodeError } from '../core/errors.js';
import { EXIT } from '../core/exit-status.js';
import type { Logger } from '../core/log.js';
import { MOUNT_FETCH_OPTIONS, resolveFetchOptions, type FetchSettings } from '../fetch/fetch-options.js';
import { mountChannel, type ChannelMount } from '../mount/mount-channel.js';
import { servePipes } from '../pipe/channel-pipes.js';
import { maySplice, prewarmSpliceWorker } from '../pipe/splice-writer.js';
import { FifoGuardian } from '../pipe/fifo-guardian.js';
import { ChannelStream } from '../stream/channel-stream.js';
import { ChannelProgress } from '../stream/channel-progress.js';
import { Stores, type StoresOptions } from '../storage/stores.js';
import { CheckpointSync, restoreCheckpoints } from './checkpoints.js';
import { FollowCursor } from '../manifest/follow-cursor.js';
import { hostLayout, hostName, type ConfigFiles, type HostLayout } from '../container/container-layout.js';
import { configFiles, writeLayout } from './config-files.js';
import { downloadChannel } from '../download/download-channel.js';
import { inputModeOf, type JobSpec } from './job-spec.js';
import { JobStatus, type JobRecord, type Transition } from './job-status.js';
import { uploadOutputs } from '../container/artifacts.js';
import { ContainerProcess, type ContainerExit } from '../container/container-process.js';
import { countGpus, trainingEnvironment } from '../container/training-env.js';
import { chooseIsolation, hostCommand, masterAddress, startIsolation, type HostIsolation } from './host-isolation.js';
import { fromSystemError } from '../core/system-error.js';
import { teeHostOutput } from './host-output.js';

export interface RunJobOptions {
  /** Folder for job.json and (by default) each host's base dir `algo-<i>/`. */
  readonly jobDir: string;
  /** Hosts to run here (0-based ranks) out of `count`. */
  readonly hosts: { readonly ranks: readonly number[]; readonly count: number };
  /** Base dir of the single host run here (e.g. /opt/ml) instead of `<jobDir>/algo-<i>`. */
  readonly baseDir?: string;
  readonly command: readonly string[];
  readonly stopGraceMs: number;
  /** Fetch settings given by the user; each channel's mode fills in its own defaults. */
  readonly fetch: FetchSettings;
  readonly stores?: StoresOptions;
  readonly fifosPerChannel: number;
  readonly checkpointIntervalMs: number;
  /** Draw a progress bar for downloads (on a TTY). */
  readonly progress: boolean;
  readonly region: string;
  readonly log: Logger;
  /** Stops the job (SIGINT/SIGTERM): hosts get SIGTERM, then SIGKILL after the grace period. */
  readonly signal?: AbortSignal;
  /** Like `signal`, but SIGKILL at once (a second Ctrl-C). */
  readonly killSignal?: AbortSignal;
  /** 'auto' (the default): hosts in their own namespaces when root; 'none': all share this machine's. */
  readonly hostIsolation?: 'auto' | 'none';
  /** A host's command instead of `command` (script mode: built from the job for each host). */
  readonly commandFor?: (host: { readonly rank: number; readonly count: number; readonly layout: HostLayout; readonly stores: Stores; readonly masterAddr: string }) => Promise<readonly string[]>;
  /** The host's working directory (script mode: its code/ folder). */
  readonly cwdFor?: (layout: HostLayout) => string;
  /**
   * Where the training processes' output goes, line by line (a server's log store). Unset: a single
   * host shares pipemode's stdout/stderr, several hosts get their lines prefixed with the host name.
   */
  readonly output?: (host: string, stream: 'stdout' | 'stderr', line: string) => void;
  /** Called with the record after every save of job.json (each transition, each metrics refresh). */
  readonly onRecord?: (record: JobRecord) => void;
  /** Refresh ChannelMetrics in the record this often while the job runs (unset: only at the end). */
  readonly metricsIntervalMs?: number;
}

/**
 * How a job ended, in one shape (execa-style): what the record says, the exit status the CLI
 * gives it, and the error behind a failure of pipemode's own. Nothing parses FailureReason text.
 */
export interface JobOutcome {
  readonly record: JobRecord;
  readonly status: JobRecord['TrainingJobStatus'];
  readonly failureReason?: string;
  /** 0 Completed; 10 a host's command failed; 11 stopped; 12 MaxRuntimeInSeconds; else the failure's own. */
  readonly exitCode: number;
  /** Stopped by the caller's signal. */
  readonly stopped: boolean;
  /** Stopped by MaxRuntimeInSeconds. */
  readonly timedOut: boolean;
  /** The error behind a "ClientError: …" FailureReason (a pipemode failure, else an upload's). */
  readonly cause?: unknown;
}

interface Host {
  readonly rank: number;
  readonly name: string;
  readonly layout: HostLayout;
  readonly files: ConfigFiles;
  /** This host's share of every channel, in job order, once listed. */
  streams: ChannelStream[];
  container?: ContainerProcess;
  exit?: ContainerExit;
  checkpoints?: CheckpointSync;
  followCursor?: FollowCursor;
  output?: ReturnType<typeof teeHostOutput>;
}

const FAILURE_REASON_MAX = 1024;

function failureReason(layout: HostLayout, exitCode: number): string {
  let text = '';
  try {
    text = fs.readFileSync(layout.failureFile, 'utf8').slice(0, FAILURE_REASON_MAX);
  } catch {
    // no failure file: the exit code says it all
  }
  const said = text.trim();
  // an empty or missing failure file: say so, not "AlgorithmError: , exit code: 1"
  if (said === '') return `AlgorithmError: the training command exited with code ${exitCode} and wrote no failure reason to output/failure`;
  return `AlgorithmError: ${said}, exit code: ${exitCode}`.slice(0, FAILURE_REASON_MAX);
}

function clientError(err: unknown): string {
  const code = isPipemodeError(err) ? ` [${err.code}]` : '';
  return `ClientError: ${(err as Error).message}${code}`.slice(0, FAILURE_REASON_MAX);
}

/** State shared by the phases of one run. */
interface Run {
  readonly job: JobSpec;
  readonly options: RunJobOptions;
  readonly status: JobStatus;
  readonly stores: Stores;
  /** Stops pipes and downloads once the job ends for any reason. */
  readonly stop: AbortController;
  readonly hosts: Host[];
  readonly pipes: Promise<void>[];
  readonly mounts: ChannelMount[];
  stoppedBy?: 'signal' | 'runtime';
  clientFailure?: unknown;
  uploadFailure?: unknown;
  /** Every channel listed once, then each host's share set on the hosts. */
  listed?: Promise<void>;
  isolation: HostIsolation;
  /** The first host whose command failed (its failure is the job's, not the others' SIGTERM). */
  firstFailed?: Host;
  /** Pipe channels: holds the FIFOs being written and kills the trainers if pipemode dies. */
  guardian?: FifoGuardian;
}

async function stopAll(run: Run, kill = false): Promise<void> {
  await Promise.all(run.hosts.map(async (h) => {
    if (h.container === undefined) return;
    if (kill) h.container.kill();
    await (kill ? h.container.exited : h.container.stop(run.options.stopGraceMs));
  }));
}

/** A data failure in a Pipe channel: stop the containers before they can take a cut-short epoch for a whole one. */
function failPipes(run: Run, err: unknown): Promise<void> {
  if (run.stoppedBy === undefined) run.clientFailure ??= err;
  run.stop.abort(err);
  return stopAll(run);
}

function listChannels(run: Run): void {
  const { job, options, stores, stop } = run;
  const fetch = resolveFetchOptions(options.fetch);
  // a Pipe channel that will be spliced needs a worker thread, whose start-up (~0.1 s) would come
  // after the listing, on the way to the first byte: it starts now, beside the listing
  if (job.channels.some((spec) => inputModeOf(job, spec) === 'Pipe' && maySplice(spec))) prewarmSpliceWorker();
  run.listed = Promise.all(job.channels.map((spec) =>
    // Pipe channels stream from their first listing page; File and FastFile ones need every key first
    ChannelStream.open(spec, stores, fetch, { hostRank: 0, hostCount: options.hosts.count }, stop.signal, { streamListing: inputModeOf(job, spec) === 'Pipe' })))
    .then((streams) => {
      for (const host of run.hosts) {
        host.streams = streams.map((s) => {
          const mine = s.forHost({ hostRank: host.rank, hostCount: options.hosts.count });
          // a followed channel's cursor lives in the host's checkpoint folder (restored and synced
          // with the checkpoints), opened when the stream starts, after the restore
          return s.spec.follow === undefined ? mine : mine.withFollowState({
            log: options.log, openCursor: () => openHostCursor(host),
          });
        });
      }
    });
  run.listed.catch(() => {}); // a failed listing fails the job where it is awaited (below, or in the pipes)
}

/** The follow cursor of a host (one file for all its followed channels), opened once. */
function openHostCursor(host: Host): FollowCursor {
  host.followCursor ??= FollowCursor.open(path.join(host.layout.checkpointDir, `pipemode-follow-cursor.${host.name}.jsonl`));
  return host.followCursor;
}

function prepareHosts(run: Run, baseOf: (rank: number) => string): void {
  const { job, options } = run;
  for (const rank of options.hosts.ranks) {
    const layout = hostLayout(baseOf(rank), job.checkpoint?.localPath);
    const files = configFiles(job, { rank, count: options.hosts.count }, run.isolation.networkInterface);
    writeLayout(layout, files, job);
    run.hosts.push({ rank, name: hostName(rank), layout, files, streams: [] });
  }
}

async function prepareChannels(run: Run): Promise<void> {
  const { job, options, stores, stop, status, hosts } = run;
  const { log } = options;
  const listed = run.listed as Promise<void>;
  // File and FastFile channels are complete before the container starts, so they need the listing
  // now; a Pipe-only job starts its containers while the channels are still being listed (the
  // trainer's own start-up, often seconds of imports, overlaps pipemode's)
  if (job.channels.some((spec) => inputModeOf(job, spec) !== 'Pipe')) await listed;

  // FastFile channels: mounted read-only at input/data/<channel>; where FUSE cannot be used, downloaded
  const fileFetch = resolveFetchOptions(options.fetch);
  const mountFetch = resolveFetchOptions(options.fetch, MOUNT_FETCH_OPTIONS);
  const downloads: { host: Host; stream: ChannelStream }[] = [];
  for (const host of hosts) {
    for (const s of host.streams) {
      const mode = inputModeOf(job, s.spec);
      if (mode === 'Pipe') continue;
      if (mode === 'FastFile') {
        try {
          run.mounts.push(await mountChannel(s, path.join(host.layout.dataDir, s.spec.name), {
            stores, memoryBudget: mountFetch.memoryBudget, partSize: mountFetch.partSize, maxRequests: mountFetch.maxRequests,
            retry: mountFetch.retry, log, signal: stop.signal,
          }));
          continue;
        } catch (err) {
          if (!(err instanceof MountError)) throw err;
          log.warn(`${job.name}: ${host.name} ${s.spec.name}: FastFile channel downloaded as in File mode: ${err.message}`);
        }
      }
      downloads.push({ host, stream: s });
    }
  }

  // Downloading: File channels (and FastFile channels that could not be mounted)
  if (downloads.length > 0) {
    status.transition('Downloading', 'Downloading input data');
    const { DownloadProgress } = await import('../download/download-progress.js');
    const progress = new DownloadProgress(options.progress, log);
    for (const { host, stream: s } of downloads) {
      const bar = progress.start(`${host.name} ${s.spec.name}`);
      const result = await downloadChannel(s, path.join(host.layout.dataDir, s.spec.name), {
        concurrency: Math.min(16, fileFetch.maxRequests), retry: fileFetch.retry, signal: stop.signal, onProgress: bar.update,
      });
      bar.done(`${result.files} files, ${formatBytes(result.bytes)}`);
    }
  }

  // Pipe channels: FIFOs `<ch>_0` exist before any command starts
  for (const host of hosts) {
    const pipeChannels = job.channels.flatMap((spec, i) =>
      inputModeOf(job, spec) === 'Pipe' ? [{ name: spec.name, stream: listed.then(() => host.streams[i] as ChannelStream) }] : []);
    if (pipeChannels.length === 0) continue;
    run.guardian ??= FifoGuardian.start();
    let pending = pipeChannels.length * options.fifosPerChannel;
    let ready: () => void = () => {};
    const allReady = new Promise<void>((resolve) => (ready = resolve));
    run.pipes.push(servePipes(pipeChannels, {
      dir: host.layout.dataDir,
      epochs: undefined,
      signal: stop.signal,
      fifosPerChannel: options.fifosPerChannel,
      guardian: run.guardian,
      // a data failure mid-epoch: stop the containers while they still wait on the open FIFO, so
      // none can take the cut-short epoch for a whole one; then the FIFO may close
      beforeFailedEpochCloses: async (err) => {
        if (!(err instanceof AbortedError)) await failPipes(run, err);
      },
      onEpochReady: (e) => {
        if (e.epoch === 0 && --pending === 0) ready();
      },
      onEpochDone: (e) => log.debug(`${host.name} ${e.path}: ${formatBytes(e.bytes)} in ${e.seconds.toFixed(2)} s${e.outcome === 'reader-gone' ? ', reader closed early' : ''}`),
    }).catch((err: unknown) => {
      if (run.stoppedBy === undefined && !(err instanceof AbortedError)) void failPipes(run, err);
    }));
    await Promise.race([allReady, run.pipes[run.pipes.length - 1]]);
  }
  if (run.clientFailure !== undefined) throw new AbortedError('a Pipe channel failed', {}, { cause: run.clientFailure });

  for (const host of hosts) {
    if (job.checkpoint !== undefined) {
      const n = await restoreCheckpoints(job.checkpoint.uri, host.layout.checkpointDir, stores, fileFetch.retry, stop.signal);
      if (n > 0) log.info(`${host.name}: restored ${n} checkpoint files from ${job.checkpoint.text}`);
      host.checkpoints = await CheckpointSync.start(job.checkpoint.uri, host.layout.checkpointDir, stores, options.checkpointIntervalMs, log);
    }
  }
}

async function startContainers(run: Run): Promise<void> {
  const { job, options, hosts } = run;
  if (run.stoppedBy !== undefined || run.stop.signal.aborted) throw new AbortedError('job stopped before training');
  run.status.transition('Training', 'Training image download completed. Training in progress.');
  const gpus = countGpus();
  await startIsolation(run.isolation, options.jobDir);
  for (const host of hosts) {
    const env = { PYTHONUNBUFFERED: '1', ...process.env, ...trainingEnvironment({ job, layout: host.layout, files: host.files, region: options.region, gpus }) };
    const command = options.commandFor === undefined ? options.command : await options.commandFor({
      rank: host.rank, count: options.hosts.count, layout: host.layout, stores: run.stores, masterAddr: masterAddress(run.isolation, options.hosts),
    });
    const { output } = options;
    ContainerProcess.checkCommand(command, env, options.cwdFor?.(host.layout));
    host.container = await ContainerProcess.start({
      command: hostCommand(run.isolation, host, command, env, options.cwdFor?.(host.layout)), env, stdio: 'pipe', unmountOnDeath: run.mounts.map((m) => m.dir),
      isolatePids: true,
      // if pipemode dies, the trainers die before any of their FIFOs can close
      onSpawned: (pgid) => run.guardian?.guardGroup(pgid),
    });
    // on the terminal (prefixed when several hosts share it), or to a server's log store, and in <jobDir>/algo-<i>.log
    host.output = teeHostOutput(host.container.process, path.join(options.jobDir, `${host.name}.log`), hosts.length > 1 ? host.name : undefined,
      output === undefined ? undefined : (stream, line) => output(host.name, stream, line));
  }
  // a stop (signal, runtime, failed channel) while the containers were starting missed them
  if (run.stop.signal.aborted) void stopAll(run);
}

async function supervise(run: Run): Promise<void> {
  // the first host to fail stops the others
  await Promise.all(run.hosts.map(async (host) => {
    host.exit = await (host.container as ContainerProcess).exited;
    if (host.exit.exitCode !== 0) run.firstFailed ??= host;
    if (host.exit.exitCode !== 0 && run.stoppedBy === undefined) void stopAll(run);
    await host.output?.finished();
  }));
}

/** Puts each host's channel counters into the record (not saved). */
function collectMetrics(run: Run): void {
  const metrics: NonNullable<JobRecord['ChannelMetrics']> = {};
  for (const h of run.hosts) {
    for (const s of h.streams) {
      if (s.stats.getRequests === 0 && s.stats.bytesDelivered === 0) continue;
      metrics[`${h.name}/${s.spec.name}`] = {
        BytesDelivered: s.stats.bytesDelivered, GetRequests: s.stats.getRequests, Retries: s.stats.retries,
        WaitSeconds: Math.round(s.stats.consumerWaitMs) / 1000,
      };
    }
  }
  if (Object.keys(metrics).length > 0) run.status.record.ChannelMetrics = metrics;
}

async function uploadArtifacts(run: Run): Promise<void> {
  const { job, options, status, hosts, stores } = run;
  collectMetrics(run);
  const exitCodes: Record<string, number> = {};
  for (const h of hosts) if (h.exit !== undefined) exitCodes[h.name] = h.exit.exitCode;
  status.record.ExitCodes = exitCodes;
  status.transition('Uploading', 'Uploading generated training model');
  try {
    for (const h of hosts) h.followCursor?.close();
    for (const h of hosts) await h.checkpoints?.finish();
    const ranks = options.hosts.ranks;
    const distributed = ranks.length < options.hosts.count;
    const artifacts = await uploadOutputs({
      jobName: job.name,
      // hosts of a job spread over machines cannot merge archives: each but algo-1 uploads apart
      ...(distributed && ranks[0] !== 0 ? { subfolder: hostName(ranks[0] as number) } : {}),
      outputPath: job.outputPath,
      compressModel: job.compressModel,
      modelDirs: hosts.map((h) => h.layout.modelDir),
      outputDataDirs: hosts.map((h) => h.layout.outputDataDir),
      stores,
    });
    status.record.ModelArtifacts = { S3ModelArtifacts: artifacts.modelUri };
    status.record.OutputArtifacts = artifacts.outputUri;
  } catch (err) {
    run.uploadFailure = fromSystemError(err, { flag: 'OutputDataConfig.S3OutputPath' });
  } finally {
    stores.close();
  }
}

function finish(run: Run): JobOutcome {
  const { job, status, hosts } = run;
  const failedHost = run.firstFailed ?? hosts.find((h) => h.exit !== undefined && h.exit.exitCode !== 0);
  let exitCode: number = EXIT.OK;
  let cause: unknown;
  if (run.clientFailure !== undefined) {
    cause = fromSystemError(run.clientFailure); // a local path or a full disk: the user's or the machine's, not a bug
    exitCode = exitCodeOf(cause);
    status.finish('Failed', 'Failed', 'Training job failed', clientError(cause));
  } else if (run.stoppedBy === 'runtime') {
    exitCode = EXIT.MAX_RUNTIME;
    status.finish('Stopped', 'MaxRuntimeExceeded', `Training job stopped: MaxRuntimeInSeconds (${job.maxRuntimeSeconds} s) exceeded`);
  } else if (run.stoppedBy === 'signal') {
    exitCode = EXIT.STOPPED;
    status.finish('Stopped', 'Stopped', 'Training job stopped');
  } else if (failedHost !== undefined) {
    exitCode = EXIT.TRAINER_FAILED;
    status.finish('Failed', 'Failed', 'Training job failed', failureReason(failedHost.layout, failedHost.exit?.exitCode ?? 1));
  } else if (run.uploadFailure !== undefined) {
    cause = run.uploadFailure;
    exitCode = exitCodeOf(cause);
    status.finish('Failed', 'Failed', 'Uploading the outputs failed', clientError(cause));
  } else {
    status.finish('Completed', 'Completed', 'Training job completed');
  }
  const { record } = status;
  return {
    record,
    status: record.TrainingJobStatus,
    ...(record.FailureReason !== undefined ? { failureReason: record.FailureReason } : {}),
    exitCode,
    stopped: run.stoppedBy === 'signal',
    timedOut: run.stoppedBy === 'runtime',
    ...(cause !== undefined ? { cause } : {}),
  };
}

/** On a terminal, a progress line per Pipe channel every 5 s (throughput, what is waited for). */
function pipeProgress(run: Run): { stop(): void } | undefined {
  if (!run.options.progress) return undefined;
  let progress: ChannelProgress | undefined;
  let stopped = false;
  // a Pipe-only job starts while its channels are still listed: start once they are
  void run.listed?.then(() => {
    const pipes = run.hosts.flatMap((h) => h.streams.filter((s) => inputModeOf(run.job, s.spec) === 'Pipe').map((s) => ({ label: `${h.name} ${s.spec.name}`, stream: s })));
    if (!stopped && pipes.length > 0) progress = new ChannelProgress(pipes, run.options.log, 5000).start();
  }, () => {});
  return { stop: () => { stopped = true; progress?.stop(); } };
}

/** A failure's exit status: its own, from the catalogue; a bug (1) for anything else. */
function exitCodeOf(err: unknown): number {
  return isPipemodeError(err) ? err.exitCode : EXIT.INTERNAL;
}

export async function runJob(job: JobSpec, options: RunJobOptions): Promise<JobOutcome> {
  const { log } = options;
  fs.mkdirSync(options.jobDir, { recursive: true, mode: 0o700 });
  const baseOf = (rank: number): string => options.baseDir ?? path.join(options.jobDir, hostName(rank));
  const hostDirs = Object.fromEntries(options.hosts.ranks.map((r) => [hostName(r), path.resolve(baseOf(r))]));
  const status = new JobStatus(job, options.region, options.jobDir, hostDirs, (t: Transition) => log.info(`${job.name}: ${t.Status} — ${t.StatusMessage}`));
  status.record.Command = options.command;
  if (options.onRecord !== undefined) {
    status.onSave = options.onRecord;
    options.onRecord(status.record);
  }
  const isolation = chooseIsolation(options.hosts, options.hostIsolation ?? 'auto', path.resolve(options.jobDir), log);
  const run: Run = { job, options, status, stores: new Stores(options.stores), stop: new AbortController(), hosts: [], pipes: [], mounts: [], isolation };

  const onStop = (): void => {
    if (run.stoppedBy !== undefined) return;
    run.stoppedBy = 'signal';
    status.record.TrainingJobStatus = 'Stopping';
    status.transition('Stopping', 'Stopping the training job');
    run.stop.abort(new AbortedError('job stopped'));
    void stopAll(run);
  };
  const onKill = (): void => {
    onStop();
    void stopAll(run, true);
  };
  // a signal that is already aborted stops the job at once too
  const offStop = onAbort(options.signal, onStop);
  const offKill = onAbort(options.killSignal, onKill);
  const runtimeTimer = setTimeout(() => {
    if (run.stoppedBy !== undefined) return;
    run.stoppedBy = 'runtime';
    log.warn(`${job.name}: MaxRuntimeInSeconds (${job.maxRuntimeSeconds} s) reached: stopping`);
    run.stop.abort(new AbortedError('MaxRuntimeInSeconds reached'));
    void stopAll(run);
  }, job.maxRuntimeSeconds * 1000);
  runtimeTimer.unref();
  const metricsTimer = options.metricsIntervalMs === undefined ? undefined : setInterval(() => {
    collectMetrics(run);
    status.save();
  }, options.metricsIntervalMs);
  metricsTimer?.unref();

  let progress: { stop(): void } | undefined;
  try {
    listChannels(run);
    prepareHosts(run, baseOf);
    await prepareChannels(run);
    progress = pipeProgress(run);
    await startContainers(run);
    await supervise(run);
  } catch (err) {
    if (!(err instanceof AbortedError) || (run.clientFailure === undefined && run.stoppedBy === undefined)) run.clientFailure ??= err;
    await stopAll(run);
  } finally {
    progress?.stop();
    clearTimeout(runtimeTimer);
    clearInterval(metricsTimer);
    run.stop.abort(new AbortedError('job ended'));
    await Promise.all(run.pipes);
    await Promise.all(run.mounts.map((m) => m.unmount()));
    run.guardian?.close();
    await run.isolation.network?.remove();
    offStop();
    offKill();
  }
  // outputs are uploaded in every case, as SageMaker does for failed and stopped jobs
  await uploadArtifacts(run);
  return finish(run);
}
