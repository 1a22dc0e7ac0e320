/** The files of a .tar.gz (model.tar.gz, output.tar.gz), unpacked with the `tar` package into a temporary folder. */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as tar from 'tar';

/** Every regular file of the archive, by its path inside it. */
export async function extractArchive(archive: Buffer): Promise<Map<string, Buffer>> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pipemode-x-'));
  try {
    fs.writeFileSync(path.join(dir, 'a.tar.gz'), archive);
    const into = path.join(dir, 'files');
    fs.mkdirSync(into);
    await tar.x({ file: path.join(dir, 'a.tar.gz'), cwd: into });
    const out = new Map<string, Buffer>();
    for (const rel of fs.readdirSync(into, { recursive: true }) as string[]) {
      if (fs.statSync(path.join(into, rel)).isFile()) out.set(rel, fs.readFileSync(path.join(into, rel)));
    }
    return out;
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}
