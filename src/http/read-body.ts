/**
 * Reading a request body with a size limit, for the Runtime front and the API server alike. A body
 * over the limit (declared by Content-Length or seen while reading) is not kept: the rest is read
 * and dropped, so the connection stays usable for the error answer, and the result is undefined.
 */
import type { IncomingMessage } from 'node:http';

/** The body of `req` if it is at most `limit` bytes; undefined when it is larger. */
export function readBody(req: IncomingMessage, limit: number): Promise<Buffer | undefined> {
  return new Promise((resolve, reject) => {
    const declared = Number(req.headers['content-length'] ?? 0);
    if (declared > limit) {
      req.resume();
      resolve(undefined);
      return;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size <= limit) chunks.push(chunk);
      else chunks.length = 0;
    });
    req.on('end', () => resolve(size > limit ? undefined : chunks.length === 1 ? chunks[0] : Buffer.concat(chunks)));
    req.on('error', reject);
  });
}
