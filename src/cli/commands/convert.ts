/**
 * `pipemode convert SOURCE DEST --to recordio|tfrecord|protobuf [--from csv|jsonl|files]
 * [--shard-size 64MiB] [--label-column 0|-1|none] [--header]`: turns a local folder or S3 prefix
 * of CSV files, JSON lines or arbitrary files into record shards `DEST/part-NNNNN.<rec|tfrecord|pbr>`
 * (convert/convert-dataset.ts). Progress (one line per shard) and errors go to stderr.
 */
import { parseByteSize, formatBytes } from '../../core/byte-size.js';
import { ConfigError } from '../../core/errors.js';
import type { Logger } from '../../core/log.js';
import { CONVERT_INPUTS, CONVERT_TARGETS, convertDataset, type ConvertInput } from '../../convert/convert-dataset.js';
import { DEFAULT_RETRY_POLICY } from '../../storage/retry.js';
import { parseRecordFormat } from '../../records/record-registry.js';
import { Stores } from '../../storage/stores.js';
import { intFlag, storesOptions } from '../options.js';

export interface ConvertFlags {
  readonly to: string;
  readonly from?: string;
  readonly shardSize?: string;
  readonly labelColumn?: string;
  readonly header?: boolean;
  readonly maxAttempts?: string;
  readonly endpointUrl?: string;
}

/** Largest --shard-size: a shard bound for S3 is one PutObject built in memory. */
const MAX_SHARD = 4 * 2 ** 30;

function labelColumnFlag(text: string | undefined): number | undefined {
  if (text === undefined) return 0;
  if (text.toLowerCase() === 'none') return undefined;
  if (!/^-?\d+$/.test(text.trim())) throw new ConfigError(`--label-column must be a 0-based column number (negative counts from the end) or "none", got "${text}"`, { field: '--label-column' });
  return Number(text);
}

export async function convertCommand(source: string, dest: string, flags: ConvertFlags, log: Logger): Promise<void> {
  const to = parseRecordFormat(flags.to, '--to', CONVERT_TARGETS);
  let from: ConvertInput | undefined;
  if (flags.from !== undefined) {
    from = CONVERT_INPUTS.find((f) => f === flags.from?.toLowerCase());
    if (from === undefined) throw new ConfigError(`--from must be one of ${CONVERT_INPUTS.join(', ')}, got "${flags.from}"`, { field: '--from' });
  }
  const shardSize = parseByteSize(flags.shardSize ?? '64MiB');
  if (shardSize === undefined || shardSize < 1 || shardSize > MAX_SHARD) {
    throw new ConfigError(`--shard-size must be a byte size from 1 B to 4 GiB, such as 64MiB, got "${flags.shardSize}"`, { field: '--shard-size' });
  }
  const labelColumn = labelColumnFlag(flags.labelColumn);
  const maxAttempts = intFlag(flags.maxAttempts, '--max-attempts', 1, 100) ?? DEFAULT_RETRY_POLICY.maxAttempts;
  // no SIGINT handler: an interrupted run simply dies (exit 130), leaving at most a `.tmp` file,
  // which is never taken for a shard
  const stores = new Stores(storesOptions(flags));
  const started = performance.now();
  try {
    const result = await convertDataset({
      source, dest, to, from, shardSize, labelColumn,
      header: flags.header === true,
      retry: { ...DEFAULT_RETRY_POLICY, maxAttempts },
      log,
    }, stores);
    const bytes = result.shards.reduce((n, s) => n + s.bytes, 0);
    if (result.records === 0) log.warn(`no records: the ${result.objects} input objects hold no ${result.from === 'files' ? 'files' : 'non-blank lines'}; nothing written`);
    log.info(`${result.records} records from ${result.objects} objects in ${result.shards.length} shards (${formatBytes(bytes)}) in ${((performance.now() - started) / 1000).toFixed(2)} s`);
  } finally {
    stores.close();
  }
}
