/**
 * Ports for hosting instances. Each start of an instance gets a block of PORT_BLOCK_SIZE
 * consecutive ports of 127.0.0.1: the first is its `SAGEMAKER_BIND_TO_PORT`, the others are its
 * `SAGEMAKER_SAFE_PORT_RANGE` (for a container that needs a second port). No two blocks overlap,
 * so no instance's port falls in another's safe range, nor its own bind port in its range.
 *
 * - Machine-wide: a block is held by a lock file `<tmpdir>/pipemode-ports/<first port>` created
 *   exclusively and holding the owner's pid, so pipemode processes running side by side do not
 *   share blocks. A lock whose owner is gone (a killed pipemode) is taken over. Where that folder
 *   cannot be written, blocks are kept apart within this process only.
 * - Blocks are aligned to PORT_BLOCK_SIZE and drawn below the kernel's ephemeral range
 *   (`net.ipv4.ip_local_port_range`) when there is room there, so ports the kernel picks on its
 *   own (`--port 0`, outgoing connections) never land in one. Every port of a candidate is bound
 *   once to check that nothing listens on it.
 * - `claimPort` keeps a fixed port (the front's `--port`) out of every block of this process.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';

/** Ports per block: the bind port and a safe range of PORT_BLOCK_SIZE - 1 ports after it. */
export const PORT_BLOCK_SIZE = 10;
const LOWEST = 10_000;
const CANDIDATES_TRIED = 200;

export interface PortBlock {
  /** SAGEMAKER_BIND_TO_PORT. */
  readonly port: number;
  /** SAGEMAKER_SAFE_PORT_RANGE, `first-last`. */
  readonly safeRange: string;
  /** Gives the block back (idempotent). */
  release(): void;
}

const claimed = new Set<number>();

/** Keeps `port` out of every block this process reserves (the front's own port). */
export function claimPort(port: number): void {
  if (port > 0) claimed.add(port);
}

function ephemeralRange(): [number, number] {
  try {
    const [lo, hi] = fs.readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/).map(Number);
    if (lo !== undefined && hi !== undefined && lo > 0 && hi >= lo) return [lo, hi];
  } catch { /* not Linux */ }
  return [49_152, 65_535];
}

/** The first ports of the blocks to draw from: below the ephemeral range, else above, else anywhere. */
function blockStarts(): [number, number] {
  const [lo, hi] = ephemeralRange();
  const align = (n: number): number => Math.ceil(n / PORT_BLOCK_SIZE) * PORT_BLOCK_SIZE;
  if (lo - LOWEST >= 100 * PORT_BLOCK_SIZE) return [align(LOWEST), lo - PORT_BLOCK_SIZE];
  if (65_535 - hi >= 100 * PORT_BLOCK_SIZE) return [align(hi + 1), 65_536 - PORT_BLOCK_SIZE];
  return [align(1024), 65_536 - PORT_BLOCK_SIZE];
}

/** Blocks of this process, so a lock folder that cannot be written still keeps its own apart. */
const mine = new Set<number>();

/** The shared lock folder (sticky and world-writable, like /tmp), or undefined when it cannot be used. */
function lockDir(): string | undefined {
  const dir = path.join(os.tmpdir(), 'pipemode-ports');
  try {
    fs.mkdirSync(dir, { recursive: true, mode: 0o1777 });
    const st = fs.statSync(dir);
    if (st.uid === process.getuid?.() && (st.mode & 0o7777) !== 0o1777) fs.chmodSync(dir, 0o1777);
    fs.accessSync(dir, fs.constants.W_OK);
    return dir;
  } catch {
    return undefined;
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Takes the lock of the block at `first`; false when another live process (or this one) holds it. */
function lock(dir: string | undefined, first: number): boolean {
  if (mine.has(first)) return false;
  if (dir === undefined) {
    mine.add(first);
    return true;
  }
  const file = path.join(dir, String(first));
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      fs.writeFileSync(file, String(process.pid), { flag: 'wx' });
      mine.add(first);
      return true;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') return false;
    }
    let owner = NaN;
    try {
      owner = Number(fs.readFileSync(file, 'utf8'));
    } catch { /* released meanwhile: try again */ }
    if (Number.isInteger(owner) && owner > 0 && alive(owner)) return false;
    fs.rmSync(file, { force: true }); // left by a process that is gone
  }
  return false;
}

function unlock(dir: string | undefined, first: number): void {
  mine.delete(first);
  if (dir !== undefined) fs.rmSync(path.join(dir, String(first)), { force: true });
}

function bindable(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.once('error', () => resolve(false));
    server.listen({ port, host: '127.0.0.1', exclusive: true }, () => server.close(() => resolve(true)));
  });
}

/** Reserves a block of free ports of 127.0.0.1 that no other block overlaps. */
export async function reservePortBlock(): Promise<PortBlock> {
  const dir = lockDir();
  const [from, to] = blockStarts();
  const count = Math.floor((to - from) / PORT_BLOCK_SIZE) + 1;
  const offset = crypto.randomInt(count); // no reproducibility needed: spreads processes over the blocks
  for (let k = 0; k < Math.min(count, CANDIDATES_TRIED); k++) {
    const first = from + ((offset + k) % count) * PORT_BLOCK_SIZE;
    const ports = Array.from({ length: PORT_BLOCK_SIZE }, (_, i) => first + i);
    if (ports.some((p) => claimed.has(p))) continue;
    if (!lock(dir, first)) continue;
    const free = await Promise.all(ports.map(bindable));
    if (!free.every(Boolean)) {
      unlock(dir, first);
      continue;
    }
    let released = false;
    return {
      port: first,
      safeRange: `${first + 1}-${first + PORT_BLOCK_SIZE - 1}`,
      release: () => {
        if (released) return;
        released = true;
        unlock(dir, first);
      },
    };
  }
  throw new Error(`no block of ${PORT_BLOCK_SIZE} free ports of 127.0.0.1 found among ${Math.min(count, CANDIDATES_TRIED)} tried`);
}
