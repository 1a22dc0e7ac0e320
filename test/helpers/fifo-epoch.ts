/** One epoch written by pipemode's own epoch writer into a real FIFO that a child `cat` reads. */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { mkfifo, openRaw } from '../../src/core/libc.js';
import { openEpoch, writeEpoch } from '../../src/pipe/epoch-writer.js';
import type { ChannelStream, Split } from '../../src/stream/channel-stream.js';

/**
 * Writes one epoch of `stream` into a FIFO that a child `cat` reads; `onData` sees the bytes as
 * they arrive. Resolves with what the child read and how the write ended.
 */
export async function throughFifo(dir: string, stream: ChannelStream, split: Split | undefined, onData: (total: number, all: Buffer[]) => void = () => {}) {
  const source = openEpoch(stream, 0, 'splice', undefined, split);
  assert.equal(source.kind, 'splice', 'the zero-copy path, while the listing is under way');
  const fifo = path.join(dir, `fifo-${process.hrtime.bigint()}`);
  mkfifo(fifo, 0o600);
  const child = spawn('cat', [fifo], { stdio: ['ignore', 'pipe', 'inherit'] });
  const out: Buffer[] = [];
  let total = 0;
  child.stdout.on('data', (b: Buffer) => {
    out.push(b);
    total += b.length;
    onData(total, out);
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
  let fd: number | string = 'ENXIO';
  while (typeof fd === 'string') {
    fd = openRaw(fifo, fs.constants.O_WRONLY | fs.constants.O_NONBLOCK);
    if (fd === 'ENXIO') await new Promise((r) => setTimeout(r, 5));
    else if (typeof fd === 'string') throw new Error(`open ${fifo}: ${fd}`);
  }
  const written = writeEpoch(fd, source, {}).then((r) => ({ ok: true as const, r }), (err: unknown) => ({ ok: false as const, err }));
  const result = await written;
  await exited;
  await new Promise<void>((resolve) => (child.stdout.readableEnded ? resolve() : child.stdout.once('end', resolve)));
  fs.rmSync(fifo);
  return { result, bytes: Buffer.concat(out) };
}

