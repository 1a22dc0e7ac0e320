/**
 * The `pipemode` command: argv → validated options → a library call → an exit code. No data-path
 * logic lives here. Everything but channel bytes goes to stderr; exit codes are in exit-codes.ts.
 * Every command is defined here and its implementation (commands/<name>.ts) loaded only when it
 * runs: start-up time is on the path to a trainer's first byte.
 */
import { fstatSync, readFileSync } from 'node:fs';
import { Command, CommanderError, Option } from 'commander';
import { createLogger, formatLogLine, LOG_FORMATS, type LogFormat, type LogLevel } from '../core/log.js';
import { ConfigError, isPipemodeError } from '../core/errors.js';
import { fromSystemError } from '../core/system-error.js';
import { threadsStarted } from '../core/thread-starts.js';
import { DEFAULT_JOBS_DIR } from '../training/job-status.js';
import type { CatFlags } from './commands/cat.js';
import type { ConvertFlags } from './commands/convert.js';
import type { InspectFlags } from './commands/inspect.js';
import type { MountFlags } from './commands/mount.js';
import type { PipeFlags } from './commands/pipe.js';
import type { ServerFlags } from './commands/server.js';
import type { ServeFlags } from './commands/serve.js';
import type { TrainFlags } from './commands/train.js';
import type { TransformFlags } from './commands/transform.js';
import { EXIT, exitCodeFor } from './exit-codes.js';
import { readChannelsAhead } from './read-ahead.js';
import { isS3Uri } from '../storage/source-uri.js';

const { version } = JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string };

interface GlobalFlags {
  readonly quiet?: boolean;
  readonly verbose?: boolean;
  readonly logFormat?: string;
}

/**
 * `--log-format` read straight from argv (before "--"): commander's own parse errors are reported
 * before any option is known, and must be in the format asked for too.
 */
function logFormatIn(argv: readonly string[]): LogFormat {
  const end = argv.indexOf('--');
  const args = end === -1 ? argv : argv.slice(0, end);
  for (let i = args.length - 1; i >= 0; i--) {
    const a = args[i] as string;
    const value = a.startsWith('--log-format=') ? a.slice('--log-format='.length) : a === '--log-format' ? args[i + 1] : undefined;
    if (value !== undefined) return (LOG_FORMATS as readonly string[]).includes(value) ? value as LogFormat : 'text';
  }
  return 'text';
}

function channelOptions(cmd: Command): Command {
  return fetchFlags(cmd)
    .option('--s3-data-type <type>', 'S3Prefix | ManifestFile | AugmentedManifestFile (default S3Prefix)')
    .option('--attribute-names <a,b>', 'AugmentedManifestFile attributes, in order')
    .option('--compression <type>', 'None | Gzip: inflate each object')
    .option('--record-wrapper <type>', 'None | RecordIO: wrap each object in one RecordIO record')
    .option('--shuffle-seed <seed>', 'shuffle objects every epoch with this seed (ShuffleConfig.Seed)')
    .option('--distribution <type>', 'FullyReplicated | ShardedByS3Key')
    .option('--host-rank <i>', 'this host\'s 0-based rank (ShardedByS3Key)')
    .option('--host-count <n>', 'number of hosts (ShardedByS3Key)')
    .option('--content-type <mime>', 'ContentType of the channel')
    .option('--no-zero-copy', 'never splice: read local files and write them through a buffer (S3 bodies through the prefetcher)')
    .option('--follow', 'keep streaming objects that land under the prefix (one epoch; pipemode extension)')
    .option('--poll-interval <duration>', 'with --follow: time between listings, e.g. 2s, 200ms (default 2s)')
    .option('--idle-timeout <duration>', 'with --follow: end the stream when nothing new landed for this long (default: never)')
    .option('--state <file>', 'with --follow: cursor file; a restart continues after the objects it records');
}

/**
 * How data is fetched: every command that reads channels takes these, declared once. Defaults are
 * the mode's (fetch/fetch-options.ts): 128 MiB and 16 GETs per Pipe or File channel, 256 MiB and
 * 32 GETs per FastFile mount; `train` applies each to its channels of that mode.
 */
function fetchFlags(cmd: Command): Command {
  return cmd
    .option('--memory-budget <size>', 'bytes fetched ahead per channel or mount (default 128MiB; 256MiB for a FastFile mount)')
    .option('--part-size <size>', 'bytes per ranged GET (default 16MiB; 8MiB for a FastFile mount)')
    .option('--max-requests <n>', 'GET requests in flight per channel or mount (default 16; 32 for a FastFile mount)')
    .option('--max-attempts <n>', 'attempts per request before giving up', '10')
    .option('--endpoint-url <url>', 'S3 endpoint (default: AWS_ENDPOINT_URL_S3, AWS_ENDPOINT_URL, or AWS)')
    .option('--read-timeout <seconds>', 'abandon (and retry) a GET that delivers no byte for this long', '30');
}

export async function main(argv: readonly string[]): Promise<number> {
  let exitCode: number = EXIT.OK;
  const format = logFormatIn(argv);
  const program = new Command('pipemode')
    .description('SageMaker Pipe mode on any machine: stream S3-compatible or local data into per-epoch FIFOs')
    .version(version)
    .option('-q, --quiet', 'print errors only')
    .option('-v, --verbose', 'print debugging detail')
    .addOption(new Option('--log-format <format>', 'text, or json: each log line a JSON object {time, level, message, code}').choices(LOG_FORMATS).default('text'))
    .showHelpAfterError(format === 'json' ? false : '(run with --help for usage)')
    .exitOverride()
    .configureOutput({
      writeOut: (s) => process.stderr.write(s),
      writeErr: (s) => process.stderr.write(s),
      // commander's own parse errors, as pipemode reports any usage error: prefixed, with a code
      outputError: (s, write) => write(formatLogLine(format, 'error', s.replace(/^error: /, '').trimEnd(), ConfigError.code)),
    });

  const logger = (): ReturnType<typeof createLogger> => {
    const g = program.opts<GlobalFlags>();
    const level: LogLevel = g.quiet === true ? 'error' : g.verbose === true ? 'debug' : 'info';
    return createLogger(level, undefined, format);
  };

  channelOptions(
    program.command('cat')
      .description('write one epoch of a channel to stdout')
      .argument('[source]', 's3://bucket/prefix, file:///path or a local path')
      .option('--channel <file>', 'SageMaker Channel spec (JSON or YAML); flags override its fields')
      .option('--epoch <n>', 'epoch to stream (shuffle order and shards depend on it)', '0'),
  ).action(async (source: string | undefined, flags: CatFlags) => {
    // a large local folder's readdir overlaps the loading of cat's modules (~50 ms at 100,000 files)
    if (source !== undefined && (flags.s3DataType ?? 'S3Prefix').toLowerCase() === 's3prefix') await readChannelsAhead([source]);
    // into a FIFO the worker thread will likely be wanted: it starts while cat's modules load
    // (~15 ms earlier first byte); cat.ts decides, and an unused spare costs nothing
    const worker = flags.zeroCopy !== false || source === undefined || !isS3Uri(source);
    if (worker && fstatSync(1).isFIFO()) (await import('../pipe/splice-writer.js')).prewarmSpliceWorker();
    const { catCommand } = await import('./commands/cat.js');
    await catCommand(source, flags, logger());
  });

  channelOptions(
    program.command('pipe')
      .description('serve SageMaker Pipe-mode FIFOs DIR/<channel>_<epoch> until the epochs are done or SIGINT/SIGTERM')
      .requiredOption('--dir <dir>', 'directory for the FIFOs, e.g. /opt/ml/input/data')
      .addOption(new Option('--channel <spec>', 'NAME=SOURCE, or a Channel spec file (repeatable)').argParser((v: string, prev: string[] = []) => [...prev, v]).makeOptionMandatory())
      .option('--epochs <n>', 'epochs to serve per channel (default: until stopped)')
      .option('--fifos-per-channel <k>', 'serve each channel as K FIFOs <channel>_<epoch>_<k>, one per reader process (pipemode extension)')
      .option('--progress-interval <seconds>', 'a progress line per channel every N seconds: throughput, and whether the reader or the data is waited for (default 5 on a terminal)'),
  ).action(async (flags: PipeFlags) => {
    (await import('../pipe/fifo-guardian.js')).FifoGuardian.prestart();
    const { pipeCommand } = await import('./commands/pipe.js');
    await pipeCommand(flags, logger());
  });

  fetchFlags(program.command('train')
    .description('run a SageMaker CreateTrainingJob request here: the training-container contract, File and Pipe modes, outputs')
    .argument('<job>', 'CreateTrainingJob request, JSON or YAML')
    .argument('[command...]', 'the training command, after "--" (default: AlgorithmSpecification.ContainerEntrypoint + ContainerArguments)')
    .option('--base-dir <dir>', 'base dir of the host run here, e.g. /opt/ml (default: <jobs-dir>/<job>/algo-<i>)')
    .option('--jobs-dir <dir>', 'where job folders go', DEFAULT_JOBS_DIR)
    .option('--hosts <n>', 'run N hosts here (algo-1 … algo-N; default: ResourceConfig.InstanceCount)')
    .option('--host-rank <i>', 'run only host I (0-based) of a job spread over machines')
    .option('--host-count <n>', 'number of hosts of a job spread over machines')
    .option('--stop-grace <seconds>', 'time between SIGTERM and SIGKILL when stopping', '120')
    .option('--checkpoint-interval <seconds>', 'how often checkpoints are synced while training runs', '10')
    .option('--fifos-per-channel <k>', 'serve each Pipe channel as K FIFOs <channel>_<epoch>_<k> (pipemode extension)')
    .option('--k8s-hosts-from-dns <service>', 'in a pod of `pipemode k8s`: resolve the peers <job>-<i>.<service> and write algo-* into /etc/hosts first')
    .option('--host-isolation <mode>', 'auto: as root, each host in its own namespaces (network, hostname algo-i, PID, /opt/ml); without root, one host in a user namespace (hostname algo-1); none: hosts share this machine', 'auto')
    .option('--images <file>', 'images file: TrainingImage (or glob) → command, run with "train" when there is no ContainerEntrypoint (default: PIPEMODE_IMAGES)'))
    .action(async (job: string, command: string[], flags: TrainFlags) => {
      (await import('../pipe/fifo-guardian.js')).FifoGuardian.prestart(); // dropped if the job has no Pipe channel
      const { trainCommand } = await import('./commands/train.js');
      exitCode = await trainCommand(job, command, flags, logger());
    });

  program.command('k8s')
    .description('print Kubernetes manifests (Indexed Job, headless Service, ConfigMap) running a training job with one pod per host')
    .argument('<job>', 'CreateTrainingJob request, JSON or YAML')
    .option('--image <image>', 'the image with pipemode and the trainer installed')
    .option('--namespace <ns>', 'Kubernetes namespace of the objects')
    .option('--hosts <n>', 'number of hosts (default: ResourceConfig.InstanceCount)')
    .action(async (job: string, flags: { image?: string; namespace?: string; hosts?: string }) => {
      const { k8sCommand } = await import('./commands/k8s.js');
      k8sCommand(job, flags);
    });

  program.command('describe')
    .description('print a job\'s record (like DescribeTrainingJob or DescribeTransformJob) as JSON')
    .argument('<job>', 'job name (looked up in --jobs-dir) or job folder')
    .option('--jobs-dir <dir>', 'where job folders are', DEFAULT_JOBS_DIR)
    .action(async (job: string, flags: { jobsDir?: string }) => {
      const { describeCommand } = await import('./commands/describe.js');
      describeCommand(job, flags);
    });

  program.command('list')
    .description('list the jobs in --jobs-dir: name, status, secondary status, creation time (like ListTrainingJobs)')
    .option('--jobs-dir <dir>', 'where job folders are', DEFAULT_JOBS_DIR)
    .action(async (flags: { jobsDir?: string }) => {
      const { listCommand } = await import('./commands/jobs.js');
      listCommand(flags, logger());
    });

  program.command('logs')
    .description('print the training output of a job\'s hosts (algo-<i>.log in its folder)')
    .argument('<job>', 'job name (looked up in --jobs-dir) or job folder')
    .option('--jobs-dir <dir>', 'where job folders are', DEFAULT_JOBS_DIR)
    .option('-f, --follow', 'keep printing new output until the job ends')
    .action(async (job: string, flags: { jobsDir?: string; follow?: boolean }) => {
      const { logsCommand } = await import('./commands/jobs.js');
      await logsCommand(job, flags);
    });

  program.command('stop')
    .description('stop a running job (like StopTrainingJob): SIGTERM to the pipemode process running it')
    .argument('<job>', 'job name (looked up in --jobs-dir) or job folder')
    .option('--jobs-dir <dir>', 'where job folders are', DEFAULT_JOBS_DIR)
    .option('--wait', 'wait until the job has stopped, then print its status')
    .action(async (job: string, flags: { jobsDir?: string; wait?: boolean }) => {
      const { stopCommand } = await import('./commands/jobs.js');
      await stopCommand(job, flags, logger());
    });

  program.command('inspect')
    .description('check a record file or FIFO and print its first records and a summary')
    .argument('<file>', 'a file or FIFO in the given format ("-" for stdin)')
    .requiredOption('--format <format>', 'recordio | tfrecord | protobuf (RecordIO-protobuf) | lines')
    .option('--limit <n>', 'records to preview', '10')
    .action(async (file: string, flags: InspectFlags) => {
      const { inspectCommand } = await import('./commands/inspect.js');
      await inspectCommand(file, flags, logger());
    });

  program.command('convert')
    .description('convert a folder or S3 prefix of CSV, JSON lines or files into RecordIO, TFRecord or RecordIO-protobuf shards')
    .argument('<source>', 's3://bucket/prefix, file:///path or a local path (prefix semantics, as for channels)')
    .argument('<dest>', 'folder or s3://bucket/prefix/ for the shards part-00000.<ext>, … (must hold no shards yet)')
    .requiredOption('--to <format>', 'recordio | tfrecord | protobuf (RecordIO-protobuf)')
    .option('--from <kind>', 'csv | jsonl | files (default: csv if every object ends in .csv, jsonl for .jsonl/.ndjson/.json, else files)')
    .option('--shard-size <size>', 'bytes per shard', '64MiB')
    .option('--label-column <n>', 'CSV → protobuf: the label column, 0-based, negative from the end, or "none"', '0')
    .option('--header', 'CSV: the first line of every file is a header; skip it')
    .option('--max-attempts <n>', 'attempts per read or upload before giving up', '10')
    .option('--endpoint-url <url>', 'S3 endpoint (default: AWS_ENDPOINT_URL_S3, AWS_ENDPOINT_URL, or AWS)')
    .action(async (source: string, dest: string, flags: ConvertFlags) => {
      const { convertCommand } = await import('./commands/convert.js');
      await convertCommand(source, dest, flags, logger());
    });

  fetchFlags(program.command('mount')
    .description('FastFile mode: mount a channel read-only at DIR, files fetched on demand, until SIGINT/SIGTERM')
    .argument('<source>', 's3://bucket/prefix, file:///path or a local path (S3Prefix semantics)')
    .argument('<dir>', 'mount point (created if missing), e.g. /opt/ml/input/data/train')
    .option('--max-read-ahead <size>', 'read-ahead ceiling per open file (at most half the budget)', '64MiB')
    .option('--prefetch-files <n>', 'files prefetched ahead of a reader that opens them in listing order', '256')
    .addOption(new Option('--page-cache', 'keep every file in the page cache (default: files from 4 MiB on use direct I/O)'))
    .addOption(new Option('--allow-other', 'let other users read the mount (FUSE allow_other)')))
    .action(async (source: string, dir: string, flags: MountFlags) => {
      const { mountCommand } = await import('./commands/mount.js');
      await mountCommand(source, dir, flags, logger());
    });

  program.command('unmount')
    .description('unmount a pipemode mount, or remove one left behind by a pipemode that was killed')
    .argument('<dir>', 'mount point')
    .action(async (dir: string) => {
      const { unmountCommand } = await import('./commands/mount.js');
      await unmountCommand(dir, logger());
    });

  program.command('server')
    .description('serve the SageMaker API (training jobs, models, endpoints, transform jobs), CloudWatch Logs reads and a dashboard on one port')
    .option('--port <n>', 'port to listen on', '8777')
    .option('--host <addr>', 'address to bind (anything but loopback exposes the API: see docs/server.md)', '127.0.0.1')
    .option('--state <dir>', 'state folder: SQLite database, job folders (<state>/jobs), credentials', '.pipemode')
    .option('--images <file>', 'image name (or glob) → local command argv, JSON or YAML')
    .option('--images-only', 'run only the commands of the images file (refuse any other ContainerEntrypoint)')
    .option('--api-keys <file>', 'accept these access keys (AWS credentials format, every profile) instead of <state>/credentials')
    .option('--max-jobs <n>', 'training jobs running at once (more: ResourceLimitExceeded)', '16')
    .option('--stop-grace <seconds>', 'StopTrainingJob: time between SIGTERM and SIGKILL', '120')
    .action(async (flags: ServerFlags) => {
      const { serverCommand } = await import('./commands/server.js');
      await serverCommand(flags, logger());
    });

  program.command('serve')
    .description('a SageMaker real-time endpoint here: hosting containers behind the SageMaker Runtime API, until SIGINT/SIGTERM')
    .argument('[endpoint]', 'ENDPOINT file (JSON or YAML): EndpointName, Models (CreateModel requests), EndpointConfig')
    .option('--model-data <uri>', 'quick form: the model.tar.gz (s3://, file:// or a path) of the one model')
    .option('--image <image>', 'quick form: the image of the one model (mapped by the images file)')
    .option('--instances <n>', 'quick form: instances of the one variant', '1')
    .option('--name <name>', 'quick form: the endpoint name', 'local-endpoint')
    .option('--port <port>', 'port of the Runtime API (0: any free port)', '8080')
    .option('--host <host>', 'address to bind (beyond 127.0.0.1 needs --api-keys)', '127.0.0.1')
    .option('--images <file>', 'images file: image name or glob → command (default: PIPEMODE_IMAGES)')
    .option('--api-keys <file>', 'AWS credentials file of the access keys accepted; makes SigV4 signatures mandatory')
    .option('--work-dir <dir>', 'models, instances and logs (default .pipemode/endpoints/<name>)')
    .option('--startup-timeout <seconds>', 'health-check window of every instance (default: the variant\'s, else 240)')
    .option('--stop-grace <seconds>', 'time between SIGTERM and SIGKILL when stopping containers', '30')
    .option('--invocation-timeout <seconds>', 'time a container has to answer (a response stream: to finish)', '60')
    .option('--health-interval <seconds>', '/ping check of every instance in service, this often (0: none)', '5')
    .option('--clean-env', 'containers get only PATH, HOME, USER, the locale, TZ and TMPDIR of pipemode\'s environment (no AWS credentials)')
    .option('--endpoint-url <url>', 'S3 endpoint (default: AWS_ENDPOINT_URL_S3, AWS_ENDPOINT_URL, or AWS)')
    .action(async (endpoint: string | undefined, flags: ServeFlags, cmd: Command) => {
      const { serveCommand } = await import('./commands/serve.js');
      const explicit = (name: string): boolean => cmd.getOptionValueSource(name) === 'cli';
      const { instances, ...rest } = flags;
      const given: ServeFlags = explicit('instances') && instances !== undefined ? { ...rest, instances } : rest;
      exitCode = await serveCommand(endpoint, given, logger(), program.opts<GlobalFlags>().quiet === true);
    });

  program.command('transform')
    .description('run a SageMaker batch transform here: CreateModel + CreateTransformJob requests, every input file through the model into <key>.out')
    .argument('<job>', 'JOB file (JSON or YAML): Models (CreateModel requests) and TransformJob (a CreateTransformJob request)')
    .option('--images <file>', 'images file: image name or glob → command (default: PIPEMODE_IMAGES)')
    .option('--instance-rank <i>', 'run only instance I (0-based) of a job spread over machines')
    .option('--instance-count <n>', 'number of instances of a job spread over machines (default: TransformResources.InstanceCount, all here)')
    .option('--jobs-dir <dir>', 'where job folders go', DEFAULT_JOBS_DIR)
    .option('--startup-timeout <seconds>', 'health-check window of every container', '240')
    .option('--stop-grace <seconds>', 'time between SIGTERM and SIGKILL when stopping containers', '30')
    .option('--max-attempts <n>', 'attempts per read before giving up', '10')
    .option('--endpoint-url <url>', 'S3 endpoint (default: AWS_ENDPOINT_URL_S3, AWS_ENDPOINT_URL, or AWS)')
    .option('--read-timeout <seconds>', 'abandon (and retry) a GET that delivers no byte for this long', '30')
    .action(async (job: string, flags: TransformFlags) => {
      const { transformCommand } = await import('./commands/transform.js');
      exitCode = await transformCommand(job, flags, logger(), program.opts<GlobalFlags>().verbose === true);
    });

  try {
    await program.parseAsync(argv, { from: 'user' });
  } catch (err) {
    if (err instanceof CommanderError) {
      exitCode = err.exitCode === 0 ? EXIT.OK : EXIT.USAGE;
    } else {
      // a system error about a local path that no command translated is still the user's or the machine's
      const e = fromSystemError(err);
      exitCode = exitCodeFor(e);
      if (exitCode !== EXIT.OK) {
        const log = logger();
        if (isPipemodeError(e)) log.error(e.message, e.code);
        else log.error(`internal error, please report it: ${(e as Error).stack ?? String(e)}`);
      }
    }
  }
  // a worker thread stopped by the exit while it loads koffi would abort the process
  await threadsStarted();
  return exitCode;
}
