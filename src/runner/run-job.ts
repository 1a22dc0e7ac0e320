/**
 * Runs a training job on this machine, host by host as SageMaker would run its containers:
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
import readline from 'node:readline';
import { formatBytes } from '../core/byte-size.js';
import { AbortedError, MountError, isPipemodeError } from '../core/errors.js';
import type { ChannelSpec } from '../channel/channel-spec.js';
import type { Logger } from '../core/log.js';
import type { FetchOptions } from '../fetch/prefetcher.js';
import { mountChannel, type ChannelMount } from '../mount/mount-channel.js';
import { servePipes } from '../pipe/channel-pipes.js';
import { ChannelStream } from '../stream/channel-stream.js';
import { Stores, type StoresOptions } from '../storage/stores.js';
import { CheckpointSync, restoreCheckpoints } from './checkpoints.js';
import { configFiles, hostLayout, hostName, writeLayout, type ConfigFiles, type HostLayout } from './container-layout.js';
import { downloadChannel } from './file-mode.js';
import type { JobSpec } from './job-spec.js';
import { JobStatus, type JobRecord, type Transition } from './job-status.js';
import { uploadOutputs } from './outputs.js';
import { Trainer, type TrainerExit } from './supervise.js';
import { countGpus, trainingEnvironment } from './training-env.js';

export interface RunJobOptions {
  /** Folder for job.json and (by default) each host's base dir `algo-<i>/`. */
  readonly jobDir: string;
  /** Hosts to run here (0-based ranks) out of `count`. */
  readonly hosts: { readonly ranks: readonly number[]; readonly count: number };
  /** Base dir of the single host run here (e.g. /opt/ml) instead of `<jobDir>/algo-<i>`. */
  readonly baseDir?: string;
  readonly command: readonly string[];
  readonly stopGraceMs: number;
  readonly fetch: FetchOptions;
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
}

export interface JobOutcome {
  readonly record: JobRecord;
  /** The error behind a "ClientError: …" FailureReason (a pipemode failure, else an upload's); exit codes come from it. */
  readonly failure?: unknown;
}

interface Host {
  readonly rank: number;
  readonly name: string;
  readonly layout: HostLayout;
  readonly files: ConfigFiles;
  /** This host's share of every channel, in job order, once listed. */
  streams: ChannelStream[];
  trainer?: Trainer;
  exit?: TrainerExit;
  checkpoints?: CheckpointSync;
}

const FAILURE_REASON_MAX = 1024;

function failureReason(layout: HostLayout, exitCode: number): string {
  let text = '';
  try {
    text = fs.readFileSync(layout.failureFile, 'utf8').slice(0, FAILURE_REASON_MAX);
  } catch {
    // no failure file: the exit code says it all
  }
  return `AlgorithmError: ${text.trim()}, exit code: ${exitCode}`.slice(0, FAILURE_REASON_MAX);
}

function clientError(err: unknown): string {
  const code = isPipemodeError(err) ? ` [${err.code}]` : '';
  return `ClientError: ${(err as Error).message}${code}`.slice(0, FAILURE_REASON_MAX);
}

/** Prefixes each line of a child's output with its host name (several hosts share a terminal). */
function prefixLines(stream: NodeJS.ReadableStream | null | undefined, prefix: string, out: NodeJS.WritableStream): void {
  if (stream === null || stream === undefined) return;
  readline.createInterface({ input: stream }).on('line', (line) => out.write(`[${prefix}] ${line}\n`));
}

export async function runJob(job: JobSpec, options: RunJobOptions): Promise<JobOutcome> {
  const { log } = options;
  fs.mkdirSync(options.jobDir, { recursive: true, mode: 0o700 });
  const baseOf = (rank: number): string => options.baseDir ?? path.join(options.jobDir, hostName(rank));
  const hostDirs = Object.fromEntries(options.hosts.ranks.map((r) => [hostName(r), path.resolve(baseOf(r))]));
  const status = new JobStatus(job, options.region, options.jobDir, hostDirs, (t: Transition) => log.info(`${job.name}: ${t.Status} — ${t.StatusMessage}`));
  status.record.Command = options.command;
  const stores = new Stores(options.stores);
  const stop = new AbortController(); // stops pipes and downloads once the job ends for any reason
  let stoppedBy: 'signal' | 'runtime' | undefined;
  let clientFailure: unknown;
  const hosts: Host[] = [];

  const stopAll = async (kill = false): Promise<void> => {
    await Promise.all(hosts.map(async (h) => {
      if (h.trainer === undefined) return;
      if (kill) h.trainer.kill();
      await (kill ? h.trainer.exited : h.trainer.stop(options.stopGraceMs));
    }));
  };
  // a data failure in a Pipe channel: stop the trainers before they can take a cut-short epoch for a whole one
  const failPipes = (err: unknown): Promise<void> => {
    if (stoppedBy === undefined) clientFailure ??= err;
    stop.abort(err);
    return stopAll();
  };
  const onStop = (): void => {
    if (stoppedBy !== undefined) return;
    stoppedBy = 'signal';
    status.record.TrainingJobStatus = 'Stopping';
    status.transition('Stopping', 'Stopping the training job');
    stop.abort(new AbortedError('job stopped'));
    void stopAll();
  };
  const onKill = (): void => {
    onStop();
    void stopAll(true);
  };
  options.signal?.addEventListener('abort', onStop, { once: true });
  options.killSignal?.addEventListener('abort', onKill, { once: true });
  const runtimeTimer = setTimeout(() => {
    if (stoppedBy !== undefined) return;
    stoppedBy = 'runtime';
    log.warn(`${job.name}: MaxRuntimeInSeconds (${job.maxRuntimeSeconds} s) reached: stopping`);
    stop.abort(new AbortedError('MaxRuntimeInSeconds reached'));
    void stopAll();
  }, job.maxRuntimeSeconds * 1000);
  runtimeTimer.unref();

  const pipes: Promise<void>[] = [];
  const mounts: ChannelMount[] = [];
  try {
    // Starting: one listing per channel, under way while the layouts and config files are written
    const listed = Promise.all(job.channels.map((spec) =>
      ChannelStream.open(spec, stores, options.fetch, { hostRank: 0, hostCount: options.hosts.count }, stop.signal)))
      .then((streams) => {
        for (const host of hosts) host.streams = streams.map((s) => s.forHost({ hostRank: host.rank, hostCount: options.hosts.count }));
      });
    listed.catch(() => {}); // a failed listing fails the job where it is awaited (below, or in the pipes)
    for (const rank of options.hosts.ranks) {
      const layout = hostLayout(baseOf(rank), job.checkpoint?.localPath);
      const files = configFiles(job, { rank, count: options.hosts.count });
      writeLayout(layout, files, job);
      hosts.push({ rank, name: hostName(rank), layout, files, streams: [] });
    }
    const modeOf = (spec: ChannelSpec): string => spec.inputMode ?? job.inputMode;
    // File and FastFile channels are complete before the trainer starts, so they need the listing
    // now; a Pipe-only job starts its trainers while the channels are still being listed (the
    // trainer's own start-up, often seconds of imports, overlaps pipemode's)
    if (job.channels.some((spec) => modeOf(spec) !== 'Pipe')) await listed;

    // FastFile channels: mounted read-only at input/data/<channel>; where FUSE cannot be used, downloaded
    const downloads: { host: Host; stream: ChannelStream }[] = [];
    for (const host of hosts) {
      for (const s of host.streams) {
        const mode = modeOf(s.spec);
        if (mode === 'Pipe') continue;
        if (mode === 'FastFile') {
          try {
            mounts.push(await mountChannel(s, path.join(host.layout.dataDir, s.spec.name), {
              stores, memoryBudget: Math.max(options.fetch.memoryBudget, 2 * options.fetch.partSize), partSize: options.fetch.partSize,
              retry: options.fetch.retry, log, signal: stop.signal,
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
      const { DownloadProgress } = await import('./download-progress.js');
      const progress = new DownloadProgress(options.progress, log);
      for (const { host, stream: s } of downloads) {
        const bar = progress.start(`${host.name} ${s.spec.name}`);
        const result = await downloadChannel(s, path.join(host.layout.dataDir, s.spec.name), {
          concurrency: Math.min(16, options.fetch.maxRequests), retry: options.fetch.retry, signal: stop.signal, onProgress: bar.update,
        });
        bar.done(`${result.files} files, ${formatBytes(result.bytes)}`);
      }
    }

    // Pipe channels: FIFOs `<ch>_0` exist before any command starts
    for (const host of hosts) {
      const pipeChannels = job.channels.flatMap((spec, i) =>
        modeOf(spec) === 'Pipe' ? [{ name: spec.name, stream: listed.then(() => host.streams[i] as ChannelStream) }] : []);
      if (pipeChannels.length === 0) continue;
      let pending = pipeChannels.length * options.fifosPerChannel;
      let ready: () => void = () => {};
      const allReady = new Promise<void>((resolve) => (ready = resolve));
      pipes.push(servePipes(pipeChannels, {
        dir: host.layout.dataDir,
        epochs: undefined,
        signal: stop.signal,
        fifosPerChannel: options.fifosPerChannel,
        // a data failure mid-epoch: stop the trainers while they still wait on the open FIFO, so
        // none can take the cut-short epoch for a whole one; then the FIFO may close
        beforeFailedEpochCloses: async (err) => {
          if (!(err instanceof AbortedError)) await failPipes(err);
        },
        onEpochReady: (e) => {
          if (e.epoch === 0 && --pending === 0) ready();
        },
        onEpochDone: (e) => log.debug(`${host.name} ${e.path}: ${formatBytes(e.bytes)} in ${e.seconds.toFixed(2)} s${e.outcome === 'reader-gone' ? ', reader closed early' : ''}`),
      }).catch((err: unknown) => {
        if (stoppedBy === undefined && !(err instanceof AbortedError)) void failPipes(err);
      }));
      await Promise.race([allReady, pipes[pipes.length - 1]]);
    }
    if (clientFailure !== undefined) throw new AbortedError('a Pipe channel failed', {}, { cause: clientFailure });

    for (const host of hosts) {
      if (job.checkpoint !== undefined) {
        const n = await restoreCheckpoints(job.checkpoint.uri, host.layout.checkpointDir, stores, options.fetch.retry, stop.signal);
        if (n > 0) log.info(`${host.name}: restored ${n} checkpoint files from ${job.checkpoint.text}`);
        host.checkpoints = await CheckpointSync.start(job.checkpoint.uri, host.layout.checkpointDir, stores, options.checkpointIntervalMs, log);
      }
    }

    // Training
    if (stoppedBy !== undefined || stop.signal.aborted) throw new AbortedError('job stopped before training');
    status.transition('Training', 'Training image download completed. Training in progress.');
    const gpus = countGpus();
    for (const host of hosts) {
      const env = { ...process.env, ...trainingEnvironment({ job, layout: host.layout, files: host.files, region: options.region, gpus }) };
      host.trainer = await Trainer.start({
        command: options.command, env, stdio: hosts.length > 1 ? 'pipe' : 'inherit', unmountOnDeath: mounts.map((m) => m.dir),
      });
      if (hosts.length > 1) {
        prefixLines(host.trainer.process.stdout, host.name, process.stdout);
        prefixLines(host.trainer.process.stderr, host.name, process.stderr);
      }
    }
    // a stop (signal, runtime, failed channel) while the trainers were starting missed them
    if (stop.signal.aborted) void stopAll();
    // the first host to fail stops the others
    await Promise.all(hosts.map(async (host) => {
      host.exit = await (host.trainer as Trainer).exited;
      if (host.exit.exitCode !== 0 && stoppedBy === undefined) void stopAll();
    }));
  } catch (err) {
    if (!(err instanceof AbortedError) || (clientFailure === undefined && stoppedBy === undefined)) clientFailure ??= err;
    await stopAll();
  } finally {
    clearTimeout(runtimeTimer);
    stop.abort(new AbortedError('job ended'));
    await Promise.all(pipes);
    await Promise.all(mounts.map((m) => m.unmount()));
    options.signal?.removeEventListener('abort', onStop);
    options.killSignal?.removeEventListener('abort', onKill);
  }

  // Uploading: checkpoints, then model and output archives (also for failed and stopped jobs)
  const metrics: NonNullable<JobRecord['ChannelMetrics']> = {};
  for (const h of hosts) {
    for (const s of h.streams) {
      if (s.stats.getRequests === 0 && s.stats.bytesDelivered === 0) continue;
      metrics[`${h.name}/${s.spec.name}`] = { BytesDelivered: s.stats.bytesDelivered, GetRequests: s.stats.getRequests, Retries: s.stats.retries };
    }
  }
  if (Object.keys(metrics).length > 0) status.record.ChannelMetrics = metrics;
  const exitCodes: Record<string, number> = {};
  for (const h of hosts) if (h.exit !== undefined) exitCodes[h.name] = h.exit.exitCode;
  status.record.ExitCodes = exitCodes;
  status.transition('Uploading', 'Uploading generated training model');
  let uploadFailure: unknown;
  try {
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
    uploadFailure = err;
  } finally {
    stores.close();
  }

  const failedHost = hosts.find((h) => h.exit !== undefined && h.exit.exitCode !== 0);
  if (clientFailure !== undefined) {
    status.finish('Failed', 'Failed', 'Training job failed', clientError(clientFailure));
  } else if (stoppedBy === 'runtime') {
    status.finish('Stopped', 'MaxRuntimeExceeded', `Training job stopped: MaxRuntimeInSeconds (${job.maxRuntimeSeconds} s) exceeded`);
  } else if (stoppedBy === 'signal') {
    status.finish('Stopped', 'Stopped', 'Training job stopped');
  } else if (failedHost !== undefined) {
    status.finish('Failed', 'Failed', 'Training job failed', failureReason(failedHost.layout, failedHost.exit?.exitCode ?? 1));
  } else if (uploadFailure !== undefined) {
    status.finish('Failed', 'Failed', 'Uploading the outputs failed', clientError(uploadFailure));
  } else {
    status.finish('Completed', 'Completed', 'Training job completed');
  }
  const failure = clientFailure ?? uploadFailure;
  return { record: status.record, ...(failure !== undefined ? { failure } : {}) };
}
