/**
 * The guardian process (started by fifo-guardian.ts; imports nothing of pipemode, starts in a few
 * tens of milliseconds): it outlives pipemode to make pipemode's death, SIGKILL and the OOM
 * killer included, never read as a complete epoch.
 *
 * While an epoch is written it holds a second write end of that FIFO, opened by path once
 * pipemode's own write end is open (a reader is attached, so a non-blocking open succeeds) and
 * checked to be the same FIFO (device and inode); pipemode releases it only once the epoch is
 * complete or its `.error` marker is written. So if pipemode dies mid-epoch, the reader sees no
 * EOF: it keeps waiting while this process, seeing its stdin close without "done",
 *   1. SIGKILLs the process groups it was given (the trainers, under `pipemode train`): once
 *      kill(2) returns, none of their processes runs user code again, so none can see the EOF;
 *   2. writes `<fifo>.error` (PM_ERR_WRITER_DIED) for every FIFO pipemode had announced (it does so
 *      before creating one) and not yet finished, opens each one O_RDWR (which releases a reader
 *      blocked in open(2)), removes it, and a moment later closes everything (now the readers see
 *      EOF, the marker already there);
 *   3. exits.
 * "done" on stdin: pipemode ended normally; exit without doing anything.
 *
 * Protocol: one JSON object per line on stdin: {op: "watch"|"unwatch", path} (a FIFO created /
 * removed), {op: "hold", id, path, dev, ino} (answered on stdout {id, held}), {op: "release",
 * path}, {op: "group"|"ungroup", pgid}. Lines are handled in order, so a release sent before
 * pipemode died is done before its death is noticed.
 */
import fs from 'node:fs';

const watched = new Set<string>();
const held = new Map<string, number>();
const groups = new Set<number>();

interface Message {
  readonly op: string;
  readonly path?: string;
  readonly id?: number;
  readonly dev?: number;
  readonly ino?: number;
  readonly pgid?: number;
}

function close(fd: number | undefined): void {
  if (fd === undefined) return;
  try {
    fs.closeSync(fd);
  } catch {
    // already closed
  }
}

function hold(m: Message): boolean {
  const path = m.path as string;
  close(held.get(path));
  held.delete(path);
  let fd: number;
  try {
    fd = fs.openSync(path, fs.constants.O_WRONLY | fs.constants.O_NONBLOCK);
  } catch {
    return false; // the reader already left (ENXIO), or the FIFO is gone
  }
  const st = fs.fstatSync(fd);
  if (!st.isFIFO() || st.dev !== m.dev || st.ino !== m.ino) {
    close(fd);
    return false;
  }
  held.set(path, fd);
  return true;
}

function handle(m: Message): void {
  switch (m.op) {
    case 'watch':
      watched.add(m.path as string);
      break;
    case 'unwatch':
      watched.delete(m.path as string);
      break;
    case 'hold':
      process.stdout.write(`${JSON.stringify({ id: m.id, held: hold(m) })}\n`);
      break;
    case 'release':
      close(held.get(m.path as string));
      held.delete(m.path as string);
      break;
    case 'group':
      groups.add(m.pgid as number);
      break;
    case 'ungroup':
      groups.delete(m.pgid as number);
      break;
    default:
      break;
  }
}

function pipemodeDied(): void {
  for (const pgid of groups) {
    try {
      process.kill(-pgid, 'SIGKILL');
    } catch {
      // the group is gone already
    }
  }
  const marker = `${JSON.stringify({ code: 'PM_ERR_WRITER_DIED', message: 'pipemode died before the epoch was complete' })}\n`;
  const open: number[] = [...held.values()];
  for (const path of new Set([...watched, ...held.keys()])) {
    try {
      fs.writeFileSync(`${path}.error`, marker, { mode: 0o600 });
    } catch {
      // the folder is gone: so is every reader that could be misled
    }
    // O_RDWR never blocks and counts as a writer: a reader blocked in open(2), or entering it as
    // the path goes, gets through, then reads EOF (and finds the marker) once this closes
    try {
      if (fs.lstatSync(path).isFIFO()) {
        open.push(fs.openSync(path, fs.constants.O_RDWR | fs.constants.O_NONBLOCK));
        fs.unlinkSync(path);
      }
    } catch {
      // removed already
    }
  }
  if (open.length > held.size) Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 100);
  for (const fd of open) close(fd);
  process.exit(0);
}

for (const s of ['SIGINT', 'SIGHUP', 'SIGPIPE'] as const) process.on(s, () => {});
process.stdout.on('error', () => {}); // pipemode is gone: its death shows on stdin
let buffered = '';
let done = false;
process.stdin.setEncoding('utf8');
process.stdin.on('data', (chunk: string) => {
  buffered += chunk;
  for (let nl = buffered.indexOf('\n'); nl !== -1; nl = buffered.indexOf('\n')) {
    const line = buffered.slice(0, nl);
    buffered = buffered.slice(nl + 1);
    if (line === 'done') {
      done = true;
      continue;
    }
    try {
      handle(JSON.parse(line) as Message);
    } catch {
      // not a message of ours
    }
  }
});
process.stdin.on('end', () => {
  if (done) process.exit(0);
  pipemodeDied();
});
process.stdin.on('error', () => pipemodeDied());
