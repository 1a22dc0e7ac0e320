/**
 * Writes batches to a regular file or terminal fd (e.g. `pipemode cat > out.bin`) with one
 * writev(2) per batch on the threadpool; such writes never wait on another process, unlike
 * pipes (pipe-writer.ts).
 */
import fs from 'node:fs';
import { promisify } from 'node:util';
import { ioBuffers } from '../core/buffer-pool.js';
import type { BatchSource, WriteResult } from './pipe-writer.js';

const writev = promisify(fs.writev);
/** Linux IOV_MAX. */
const MAX_IOV = 1024;

export async function writeToFile(fd: number, source: BatchSource): Promise<WriteResult> {
  let bytes = 0;
  try {
    for await (const batch of source) {
      for (let i = 0; i < batch.length; i += MAX_IOV) {
        const pending = batch.slice(i, i + MAX_IOV);
        while (pending.length > 0) {
          let written = (await writev(fd, pending)).bytesWritten;
          bytes += written;
          // drop what a short write took, keep the rest
          while (pending.length > 0 && written >= (pending[0] as Buffer).length) written -= (pending.shift() as Buffer).length;
          if (written > 0) pending[0] = (pending[0] as Buffer).subarray(written);
        }
      }
      for (const b of batch) ioBuffers.release(b);
    }
  } finally {
    source.close();
  }
  return { outcome: 'complete', bytes };
}
