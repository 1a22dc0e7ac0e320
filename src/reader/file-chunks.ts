/**
 * The bytes of a regular file in 1 MiB chunks (fs.createReadStream: threadpool reads are the
 * right tool for regular files, which never block on a writer). Chunks are fresh buffers, never
 * reused, so records decoded from them may be views.
 */
import fs from 'node:fs';
import { AbortedError, NoSuchKeyError, AccessDeniedError, StoreProtocolError } from '../core/errors.js';

export interface FileChunksOptions {
  readonly signal?: AbortSignal | undefined;
}

export async function* fileChunks(path: string, options: FileChunksOptions = {}): AsyncGenerator<Buffer, void, undefined> {
  const stream = fs.createReadStream(path, { highWaterMark: 1 << 20, ...(options.signal === undefined ? {} : { signal: options.signal }) });
  try {
    for await (const chunk of stream) yield chunk as Buffer;
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ABORT_ERR') throw new AbortedError(`reading ${path} was aborted`, { path }, { cause: err });
    if (code === 'ENOENT') throw new NoSuchKeyError(`no such file: ${path}`, { path }, { cause: err });
    if (code === 'EACCES' || code === 'EPERM') throw new AccessDeniedError(`permission denied: ${path}`, { path }, { cause: err });
    throw new StoreProtocolError(`cannot read ${path}: ${(err as Error).message}`, { path }, { cause: err });
  } finally {
    stream.destroy();
  }
}
