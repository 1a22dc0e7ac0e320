/** A temporary folder holding the given files for the length of one test. */
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';

export async function withFiles(bodies: Record<string, Buffer>, fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'pipemode-files-'));
  try {
    for (const [name, body] of Object.entries(bodies)) await fs.writeFile(path.join(dir, name), body);
    await fn(dir);
  } finally {
    await fs.rm(dir, { recursive: true, force: true });
  }
}
