/**
 * Ports for hosting instances. Each start of an instance gets a block of PORT_BLOCK_SIZE
 * consecutive ports of 127.0.0.1: the first is its `SAGEMAKER_BIND_TO_PORT`, the others are its
 * `SAGEMAKER_SAFE_PORT_RANGE` (for a container that needs a second port). No two blocks overlap,
 * so no instance's port falls in another's safe range, nor its own bind port in its range.
 *
 * - Machine-wide: a block is held by a flock on `<tmpdir>/pipemode-ports/<first port>`, so
 *   pipemode processes running side by side do not share blocks, and the kernel frees the block
 *   of a process that dies (SIGKILL included). Where that folder cannot be written, blocks are
 *   kept apart within this process only.
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
import { EndpointFailedError } from '../core/errors.js';
import { tryLockExclusive } from '../core/libc.js';

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

/** Blocks of this process, with the fd holding each one's lock (-1 when there is no lock folder). */
const mine = new Map<number, number>();

/** The shared lock folder (sticky and world-writable, like /tmp), or undefined when it cannot be used. */
function lockDir(): string | undefined {
  const dir = path.join(os.tmpdir(), 'pipemode-ports');
  try {
    fs.mkdirSync(dir, { recursive: true, mode: 0o1777 });
    const st = fs.lstatSync(dir);
    if (!st.isDirectory()) return undefined;
    if (st.uid === process.getuid?.() && (st.mode & 0o7777) !== 0o1777) fs.chmodSync(dir, 0o1777);
    fs.accessSync(dir, fs.constants.W_OK);
    return dir;
  } catch {
    return undefined;
  }
}

/**
 * Takes the lock of the block at `first`: a flock on `<dir>/<first>` (never followed if it is a
 * link), which the kernel drops when this process exits or dies, so a killed pipemode leaves no
 * block taken. False when another process (or this one) holds it. The files stay: removing one
 * could race with a process that has opened it and not yet locked it.
 */
function lock(dir: string | undefined, first: number): boolean {
  if (mine.has(first)) return false;
  if (dir === undefined) {
    mine.set(first, -1);
    return true;
  }
  let fd: number;
  try {
    fd = fs.openSync(path.join(dir, String(first)), fs.constants.O_RDONLY | fs.constants.O_CREAT | fs.constants.O_NOFOLLOW, 0o644);
  } catch {
    return false;
  }
  let locked = false;
  try {
    locked = tryLockExclusive(fd);
  } catch {
    // cannot lock: treat the block as taken
  }
  if (!locked) {
    fs.closeSync(fd);
    return false;
  }
  mine.set(first, fd);
  return true;
}

function unlock(first: number): void {
  const fd = mine.get(first);
  mine.delete(first);
  if (fd !== undefined && fd >= 0) fs.closeSync(fd);
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
      unlock(first);
      continue;
    }
    let released = false;
    return {
      port: first,
      safeRange: `${first + 1}-${first + PORT_BLOCK_SIZE - 1}`,
      release: () => {
        if (released) return;
        released = true;
        unlock(first);
      },
    };
  }
  throw new EndpointFailedError(`no block of ${PORT_BLOCK_SIZE} free ports of 127.0.0.1 found among ${Math.min(count, CANDIDATES_TRIED)} tried`, { reason: 'ports' });
}
