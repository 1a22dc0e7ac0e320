/**
 * `pipemode inspect FILE|FIFO --format F [--limit N]`: reads a record stream once, front to back
 * (no seeking, so a FIFO works: `pipemode inspect /opt/ml/input/data/train_0 --format protobuf`),
 * checks every record, and prints to stdout a preview of the first N records — protobuf records
 * as one JSON object per line, text as a JSON string, other bytes as text or hex — then a summary
 * (record count; smallest, mean and largest record; payload and stream bytes). "-" reads stdin.
 * A corrupt record stops it with the typed error (record index and byte offset) on stderr and
 * exit code 4, after the preview of the records before it.
 */
import fs from 'node:fs';
import { formatBytes } from '../../core/byte-size.js';
import { AccessDeniedError, NoSuchKeyError } from '../../core/errors.js';
import type { Logger } from '../../core/log.js';
import { fifoChunks } from '../../reader/fifo-chunks.js';
import { fileChunks } from '../../reader/file-chunks.js';
import { decodeProtobufRecord } from '../../records/protobuf-record-decoder.js';
import { protobufRecordToJson } from '../../records/protobuf-json.js';
import type { RecordFormat } from '../../records/record-interfaces.js';
import { createRecordDecoder, parseRecordFormat } from '../../records/record-registry.js';
import { RecordSummary } from '../../records/record-summary.js';
import { intFlag } from '../options.js';

export interface InspectFlags {
  readonly format: string;
  readonly limit?: string;
}

/** Bytes of a record shown in a hex or text preview. */
const PREVIEW_BYTES = 48;

async function* stdinChunks(): AsyncGenerator<Buffer> {
  for await (const chunk of process.stdin) yield chunk as Buffer;
}

function chunksOf(file: string): AsyncGenerator<Buffer> {
  if (file === '-') return stdinChunks();
  let st: fs.Stats;
  try {
    st = fs.statSync(file);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'EACCES') throw new AccessDeniedError(`permission denied: ${file}`, { path: file }, { cause: err });
    throw new NoSuchKeyError(`no such file or FIFO: ${file}`, { path: file }, { cause: err });
  }
  if (st.isFIFO()) return fifoChunks(file);
  if (!st.isFile()) throw new NoSuchKeyError(`${file} is neither a file nor a FIFO`, { path: file });
  return fileChunks(file);
}

/** Printable UTF-8 text (tabs and newlines allowed), else undefined. */
function asText(bytes: Buffer): string | undefined {
  const text = bytes.toString('utf8');
  // eslint-disable-next-line no-control-regex
  return text.includes('\ufffd') || /[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f]/.test(text) ? undefined : text;
}

function preview(format: RecordFormat, record: Buffer, index: number): string {
  const head = record.subarray(0, PREVIEW_BYTES);
  const more = record.length > head.length ? ` … (+${record.length - head.length} bytes)` : '';
  const text = format === 'lines' ? record.toString('utf8') : asText(head);
  if (text !== undefined) return `#${index} ${record.length} B: ${JSON.stringify(format === 'lines' ? text.slice(0, 200) : text)}${format === 'lines' ? '' : more}`;
  return `#${index} ${record.length} B: ${head.toString('hex')}${more}`;
}

/** Writes lines to stdout, waiting when it is full; false once the reader of stdout is gone. */
function stdoutWriter(): { line(text: string): Promise<boolean> } {
  let gone = false;
  process.stdout.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code === 'EPIPE') gone = true;
  });
  return {
    async line(text: string): Promise<boolean> {
      if (gone) return false;
      if (!process.stdout.write(`${text}\n`)) await new Promise<void>((resolve) => {
        process.stdout.once('drain', resolve);
        process.stdout.once('error', () => resolve());
      });
      return !gone;
    },
  };
}

export async function inspectCommand(file: string, flags: InspectFlags, log: Logger): Promise<void> {
  const format = parseRecordFormat(flags.format, '--format');
  const limit = intFlag(flags.limit, '--limit', 0, Number.MAX_SAFE_INTEGER) ?? 10;
  const source = file === '-' ? 'stdin' : file;
  const decoder = createRecordDecoder(format, { source });
  const summary = new RecordSummary();
  const out = stdoutWriter();
  let streamBytes = 0;
  const take = async (records: readonly Buffer[]): Promise<boolean> => {
    for (const [i, record] of records.entries()) {
      const index = summary.records;
      const offset = decoder.starts[i];
      const decoded = format === 'protobuf' ? decodeProtobufRecord(record, { record: index, offset, source }) : undefined;
      summary.add(record.length);
      if (index < limit && !(await out.line(decoded !== undefined ? protobufRecordToJson(decoded) : preview(format, record, index)))) return false;
    }
    return true;
  };
  const chunks = chunksOf(file);
  try {
    for await (const chunk of chunks) {
      streamBytes += chunk.length;
      if (!(await take(decoder.push(chunk)))) return;
    }
    if (!(await take(decoder.end()))) return;
  } finally {
    await chunks.return(undefined);
  }
  const sizes = summary.records === 0 ? 'no records' : `record size min ${summary.min}, mean ${summary.mean.toFixed(1)}, max ${summary.max} bytes`;
  await out.line(`${format}: ${summary.records} records; ${sizes}; ${summary.payloadBytes} bytes of records in ${streamBytes} bytes (${formatBytes(streamBytes)})`);
  log.debug(`${source}: read ${streamBytes} bytes`);
}
