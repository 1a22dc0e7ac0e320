/**
 * FastFile mode: `pipemode mount` of an S3 prefix (the test Ceph RGW) and of a local folder, read by
 * real tools — cat, sha256sum, find, random preads, a Python reader, mmap — which must see exactly the
 * source's bytes; unmounting on SIGTERM (also with a file held open), a stale mount left by a
 * killed pipemode, an object that changed after listing (EIO, never wrong bytes), and a clear
 * failure where FUSE cannot be used; `--page-cache` too. Skipped only where /dev/fuse does not exist.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes, randomInt } from 'node:crypto';
import { once } from 'node:events';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { MOUNT_SOURCE, mountAt } from '../../src/mount/fuse-binding.js';
import { fusermountPath } from '../../src/mount/fusermount.js';
import { BIN, sha256, startPipemode } from '../helpers/cli.js';
import { makeContents, writeLocal, writeS3 } from '../helpers/dataset.js';
import { put } from '../helpers/s3.js';

const FUSE = fs.existsSync('/dev/fuse');
const skip = FUSE ? false : 'no /dev/fuse on this machine: FUSE mounts cannot be tested here';

/** The dataset's awkward names plus a file that takes many read-ahead windows and many small files. */
function contents(): Map<string, Buffer> {
  const m = makeContents();
  m.set('large.bin', randomBytes(24 * 2 ** 20 + 4321));
  for (let i = 0; i < 150; i++) m.set(`many/${String(i).padStart(4, '0')}.bin`, randomBytes(randomInt(1, 20_000)));
  return m;
}

const CONTENTS = contents();
/** Relative path → sha256, as the mount must show it. */
const EXPECTED = new Map([...CONTENTS].map(([name, body]) => [name, sha256(body)]));

interface Mounted {
  readonly child: ChildProcess;
  readonly dir: string;
  stderr: string;
}

function isMounted(dir: string): boolean {
  return mountAt(dir) !== undefined;
}

async function startMount(source: string, dir: string, extra: string[] = [], env?: NodeJS.ProcessEnv, user?: { uid: number; gid: number }): Promise<Mounted> {
  const child = startPipemode(['mount', source, dir, ...extra], { ...(env !== undefined ? { env } : {}), ...user });
  const m: Mounted = { child, dir, stderr: '' };
  child.stderr?.on('data', (d: Buffer) => (m.stderr += d.toString()));
  for (let i = 0; i < 1500 && !m.stderr.includes('mounted read-only'); i++) {
    if (child.exitCode !== null) break;
    await sleep(20);
  }
  assert.ok(m.stderr.includes('mounted read-only'), `pipemode mount did not come up: ${m.stderr}`);
  const mount = mountAt(dir);
  assert.ok(mount !== undefined, `${dir} is not in the mount table`);
  assert.match(mount.type, /^fuse/, `${dir} is mounted, but not by FUSE: ${JSON.stringify(mount)}`);
  assert.equal(mount.source, MOUNT_SOURCE, `${dir}: mount source`);
  return m;
}

async function stopMount(m: Mounted, signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
  const closed = once(m.child, 'close');
  m.child.kill(signal);
  const [code] = await closed as [number | null];
  assert.equal(code, 0, m.stderr);
  assert.ok(!isMounted(m.dir), `${m.dir} is still mounted after ${signal}`);
}

function tmp(prefix: string): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}

/** Every file below `dir` (relative path → sha256) by running sha256sum over `find`'s output. */
function sha256sumTree(dir: string): Map<string, string> {
  const out = execFileSync('bash', ['-c', 'cd "$1" && find . -type f -print0 | sort -z | xargs -0 sha256sum', 'sums', dir], { maxBuffer: 64 << 20 }).toString();
  const sums = new Map<string, string>();
  for (const line of out.split('\n')) {
    if (line === '') continue;
    sums.set(line.slice(66).replace(/^\.\//, ''), line.slice(0, 64));
  }
  return sums;
}

const PYTHON_READER = `
import hashlib, json, os, sys
root = sys.argv[1]
out = {}
for dirpath, dirnames, filenames in os.walk(root):
    dirnames.sort()
    for name in sorted(filenames):
        p = os.path.join(dirpath, name)
        h = hashlib.sha256()
        with open(p, 'rb') as f:
            while True:
                b = f.read(1 << 16)
                if not b:
                    break
                h.update(b)
        out[os.path.relpath(p, root)] = h.hexdigest()
print(json.dumps(out))
`;

/** sha256 of each named file read through mmap(MAP_SHARED, PROT_READ), as numpy.memmap(mode='r') maps it. */
const PYTHON_MMAP = `
import hashlib, json, mmap, os, sys
out = {}
for p in sys.argv[2:]:
    with open(os.path.join(sys.argv[1], p), 'rb') as f:
        with mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as m:
            out[p] = hashlib.sha256(m).hexdigest()
print(json.dumps(out))
`;

function checkMmap(dir: string): void {
  // large.bin (24 MiB) is read with direct I/O, the others through the page cache: both must map
  const names = ['large.bin', 'big.bin', 'many/0007.bin'];
  const py = spawnSync('python3', ['-c', PYTHON_MMAP, dir, ...names], { maxBuffer: 64 << 20 });
  assert.equal(py.status, 0, py.stderr.toString());
  assert.deepEqual(JSON.parse(py.stdout.toString()), Object.fromEntries(names.map((n) => [n, EXPECTED.get(n)])));
}

async function checkReaders(dir: string): Promise<void> {
  // sha256sum (and find) over every file
  assert.deepEqual(sha256sumTree(dir), EXPECTED);
  // find: types, sizes and modes of the tree
  const listing = execFileSync('find', [dir, '-mindepth', '1', '-printf', '%y %m %s %P\\n']).toString().trim().split('\n').sort();
  const files = listing.filter((l) => l.startsWith('f '));
  assert.equal(files.length, CONTENTS.size);
  for (const line of files) {
    const [, mode, size, ...rest] = line.split(' ');
    const name = rest.join(' ');
    assert.equal(mode, '444', line);
    assert.equal(Number(size), CONTENTS.get(name)?.length, line);
  }
  assert.ok(listing.filter((l) => l.startsWith('d ')).every((l) => l.split(' ')[1] === '555'), 'folders are 0555');
  assert.ok(listing.includes('d 555 4096 deep/1/2/3/4/5/6/7/8/9'));
  // cat
  const catted = execFileSync('cat', [path.join(dir, 'large.bin')], { maxBuffer: 64 << 20 });
  assert.equal(sha256(catted), EXPECTED.get('large.bin'));
  // random preads
  const large = CONTENTS.get('large.bin') as Buffer;
  const fh = await fs.promises.open(path.join(dir, 'large.bin'), 'r');
  try {
    for (let i = 0; i < 200; i++) {
      const offset = randomInt(0, large.length);
      const length = randomInt(1, 300_000);
      const b = Buffer.alloc(length);
      const { bytesRead } = await fh.read(b, 0, length, offset);
      assert.equal(bytesRead, Math.min(length, large.length - offset));
      assert.ok(b.subarray(0, bytesRead).equals(large.subarray(offset, offset + bytesRead)), `pread ${length} at ${offset}`);
    }
  } finally {
    await fh.close();
  }
  // a Python reader walking the tree
  const py = spawnSync('python3', ['-c', PYTHON_READER, dir], { maxBuffer: 64 << 20 });
  assert.equal(py.status, 0, py.stderr.toString());
  assert.deepEqual(new Map(Object.entries(JSON.parse(py.stdout.toString()) as Record<string, string>)), EXPECTED);
  checkMmap(dir);
  // read-only
  assert.throws(() => fs.writeFileSync(path.join(dir, 'new.bin'), 'x'), /EROFS/);
  assert.throws(() => fs.appendFileSync(path.join(dir, 'large.bin'), 'x'), /EROFS/);
  assert.throws(() => fs.unlinkSync(path.join(dir, 'large.bin')), /EROFS/);
  assert.throws(() => fs.mkdirSync(path.join(dir, 'newdir')), /EROFS/);
  assert.throws(() => fs.readFileSync(path.join(dir, 'no-such-file')), /ENOENT/);
}

describe('FastFile: pipemode mount', { skip }, () => {
  for (const kind of ['s3', 'local'] as const) {
    test(`a ${kind === 's3' ? 'Ceph RGW prefix' : 'local folder'} reads exactly right through cat, sha256sum, find, preads and Python; SIGTERM unmounts`, async () => {
      const ds = kind === 's3' ? await writeS3(CONTENTS) : writeLocal(CONTENTS);
      const dir = path.join(tmp('pipemode-ff-'), 'mnt');
      const m = await startMount(ds.raw, dir, ['--memory-budget', '32MiB', '--part-size', '2MiB']);
      try {
        await checkReaders(dir);
      } finally {
        await stopMount(m);
      }
      assert.match(m.stderr, /SIGTERM: unmounted/);
      assert.doesNotMatch(m.stderr, /error/);
    });
  }

  test('a channel of small files only is read without OPEN/RELEASE requests: exact bytes in order, at once, by mmap, and again', async () => {
    const small = new Map<string, Buffer>();
    for (let i = 0; i < 400; i++) small.set(`s/${String(i).padStart(4, '0')}.bin`, randomBytes(randomInt(0, 40_000)));
    small.set('s/almost-4MiB.bin', randomBytes(4 * 2 ** 20 - 1)); // the largest a small-file mount may hold
    const want = new Map([...small].map(([name, body]) => [name, sha256(body)]));
    const ds = writeLocal(small);
    const dir = path.join(tmp('pipemode-ff-'), 'mnt');
    const m = await startMount(ds.raw, dir);
    try {
      assert.deepEqual(sha256sumTree(dir), want);
      // two readers at once, through the page cache the first pass filled and afresh after dropping it
      try {
        fs.writeFileSync('/proc/sys/vm/drop_caches', '1');
      } catch {
        // not root: the second pass reads from the page cache only
      }
      const py = spawn('python3', ['-c', PYTHON_READER, dir]);
      let out = '';
      py.stdout.on('data', (d: Buffer) => (out += d.toString()));
      assert.deepEqual(sha256sumTree(dir), want);
      const [code] = await once(py, 'close') as [number];
      assert.equal(code, 0);
      assert.deepEqual(new Map(Object.entries(JSON.parse(out) as Record<string, string>)), want);
      const names = ['s/almost-4MiB.bin', 's/0007.bin'];
      const mm = spawnSync('python3', ['-c', PYTHON_MMAP, dir, ...names], { maxBuffer: 64 << 20 });
      assert.equal(mm.status, 0, mm.stderr.toString());
      assert.deepEqual(JSON.parse(mm.stdout.toString()), Object.fromEntries(names.map((n) => [n, want.get(n)])));
      assert.throws(() => fs.writeFileSync(path.join(dir, 's', '0001.bin'), 'x'), /EROFS/);
    } finally {
      await stopMount(m);
    }
    assert.match(m.stderr, /in \d+ reads of 0 opens and \d+ files read without an open/);
    assert.doesNotMatch(m.stderr, /error/);
  });

  test('--page-cache: every file through the page cache reads the same, by sha256sum, mmap and a second pass', async () => {
    const ds = writeLocal(CONTENTS);
    const dir = path.join(tmp('pipemode-ff-'), 'mnt');
    const m = await startMount(ds.raw, dir, ['--page-cache']);
    try {
      assert.deepEqual(sha256sumTree(dir), EXPECTED);
      checkMmap(dir);
      assert.deepEqual(sha256sumTree(dir), EXPECTED);
    } finally {
      await stopMount(m);
    }
  });

  test('an object that changed after listing reads as EIO, with PM_ERR_OBJECT_CHANGED on stderr', async () => {
    for (const kind of ['s3', 'local'] as const) {
      const ds = kind === 's3' ? await writeS3(CONTENTS) : writeLocal(CONTENTS);
      const dir = path.join(tmp('pipemode-ff-'), 'mnt');
      const m = await startMount(ds.raw, dir);
      try {
        const changed = randomBytes(CONTENTS.get('big.bin')?.length ?? 0);
        if (kind === 's3') {
          const [, bucket] = /^s3:\/\/([^/]+)\//.exec(ds.raw) ?? [];
          await put(bucket as string, 'raw/big.bin', changed);
        } else {
          fs.writeFileSync(path.join(ds.raw, 'big.bin'), changed);
        }
        assert.throws(() => fs.readFileSync(path.join(dir, 'big.bin')), /EIO/, kind);
        const cat = spawnSync('cat', [path.join(dir, 'big.bin')]);
        assert.notEqual(cat.status, 0);
        assert.match(cat.stderr.toString(), /Input\/output error/);
        // the other files are unaffected
        assert.equal(sha256(fs.readFileSync(path.join(dir, 'plain a.bin'))), EXPECTED.get('plain a.bin'));
      } finally {
        await stopMount(m);
      }
      assert.match(m.stderr, /big\.bin: read failed.*\[PM_ERR_OBJECT_CHANGED\]/);
      assert.equal(m.stderr.match(/read failed/g)?.length, 1, `logged once: ${m.stderr}`);
    }
  });

  test('SIGTERM unmounts at once even while a reader holds a file open; SIGINT too', async () => {
    const ds = writeLocal(CONTENTS);
    const dir = path.join(tmp('pipemode-ff-'), 'mnt');
    const m = await startMount(ds.raw, dir);
    // a "trainer" that opens a file, reads a little and hangs on to it
    const holder = spawn('python3', ['-c', 'import sys,time; f=open(sys.argv[1],"rb"); f.read(1000); print("open", flush=True); time.sleep(60)', path.join(dir, 'large.bin')], { stdio: ['ignore', 'pipe', 'inherit'] });
    await once(holder.stdout, 'data');
    await stopMount(m, 'SIGTERM');
    holder.kill('SIGKILL');
    await once(holder, 'close');
    const again = await startMount(ds.raw, dir);
    assert.equal(sha256(fs.readFileSync(path.join(dir, 'many/0007.bin'))), EXPECTED.get('many/0007.bin'));
    await stopMount(again, 'SIGINT');
  });

  test('a reader killed mid-read leaves the mount working; the mount unmounts cleanly after', async () => {
    const ds = await writeS3(CONTENTS);
    const dir = path.join(tmp('pipemode-ff-'), 'mnt');
    const m = await startMount(ds.raw, dir, ['--memory-budget', '16MiB', '--part-size', '1MiB']);
    const reader = spawn('bash', ['-c', `while true; do cat "${path.join(dir, 'large.bin')}" > /dev/null; done`], { stdio: 'ignore' });
    await sleep(300);
    reader.kill('SIGKILL');
    await once(reader, 'close');
    assert.deepEqual(sha256sumTree(dir), EXPECTED);
    await stopMount(m);
  });

  test('a mount left by a killed pipemode is cleaned up: by the next mount there, or by pipemode unmount', async () => {
    const ds = writeLocal(CONTENTS);
    const dir = path.join(tmp('pipemode-ff-'), 'mnt');
    const killed = await startMount(ds.raw, dir);
    killed.child.kill('SIGKILL');
    await once(killed.child, 'close');
    assert.ok(isMounted(dir), 'a killed pipemode leaves its mount behind');
    assert.throws(() => fs.statSync(dir), /ENOTCONN/);
    const next = await startMount(ds.raw, dir);
    assert.equal(sha256(fs.readFileSync(path.join(dir, 'zero.bin'))), EXPECTED.get('zero.bin'));
    // non-empty files too: the new mount serves real bytes, not just names and sizes
    for (const name of ['plain a.bin', 'many/0042.bin', 'large.bin']) {
      assert.ok(fs.readFileSync(path.join(dir, name)).equals(CONTENTS.get(name) as Buffer), `${name} through the recovered mount`);
    }
    next.child.kill('SIGKILL');
    await once(next.child, 'close');
    const unmount = spawnSync(process.execPath, [BIN, 'unmount', dir]);
    assert.equal(unmount.status, 0, unmount.stderr.toString());
    assert.match(unmount.stderr.toString(), /removed the stale mount/);
    assert.ok(!isMounted(dir));
    assert.ok(fs.statSync(dir).isDirectory());
  });

  test('through fusermount, as for a user who is not root: exact bytes, SIGTERM unmounts, a stale mount is removed by pipemode unmount', { skip: fusermountPath() === undefined ? 'no fusermount3 or fusermount installed' : false }, async () => {
    const env = { ...process.env, PIPEMODE_FUSE_MOUNT: 'fusermount' };
    const ds = writeLocal(CONTENTS);
    const dir = path.join(tmp('pipemode-ff-'), 'mnt');
    const m = await startMount(ds.raw, dir, [], env);
    try {
      assert.deepEqual(sha256sumTree(dir), EXPECTED);
      checkMmap(dir);
    } finally {
      await stopMount(m);
    }
    assert.match(m.stderr, /SIGTERM: unmounted/);
    const killed = await startMount(ds.raw, dir, [], env);
    killed.child.kill('SIGKILL');
    await once(killed.child, 'close');
    assert.ok(isMounted(dir), 'a killed pipemode leaves its mount behind');
    const unmount = spawnSync(process.execPath, [BIN, 'unmount', dir], { env });
    assert.equal(unmount.status, 0, unmount.stderr.toString());
    assert.match(unmount.stderr.toString(), /removed the stale mount/);
    assert.ok(!isMounted(dir));
  });

  test('as a user who is not root: mounts through fusermount where that user may open /dev/fuse, else fails at once with PM_ERR_MOUNT saying why (exit 6)', { skip: process.getuid?.() !== 0 ? 'needs root to run a command as another user' : false }, async () => {
    const nobody = { uid: 65534, gid: 65534 };
    const base = tmp('pipemode-ff-');
    fs.chmodSync(base, 0o755);
    const dir = path.join(base, 'mnt');
    fs.mkdirSync(dir);
    fs.chownSync(dir, nobody.uid, nobody.gid); // fusermount wants a mount point its user may write
    const ds = writeLocal(CONTENTS);
    const env = { ...process.env, HOME: '/tmp' };
    // the folder the test data lives in is root's; nobody needs to read it
    fs.chmodSync(path.dirname(ds.raw.replace(/\/$/, '')), 0o755);
    const mayOpen = (fs.statSync('/dev/fuse').mode & 0o006) === 0o006 && fusermountPath() !== undefined;
    if (!mayOpen) {
      const r = spawnSync(process.execPath, [BIN, 'mount', ds.raw, dir], { ...nobody, env });
      assert.equal(r.status, 6, r.stderr.toString());
      assert.match(r.stderr.toString(), /FUSE is unavailable: .*\[PM_ERR_MOUNT\]/);
      return;
    }
    const m = await startMount(ds.raw, dir, [], env, nobody);
    try {
      // only the mounting user gets in (no allow_other): read as nobody
      const sums = spawnSync('sha256sum', [path.join(dir, 'large.bin'), path.join(dir, 'many/0042.bin')], { ...nobody, encoding: 'utf8' });
      assert.equal(sums.status, 0, `${sums.stderr} ${String(sums.error)}`);
      assert.deepEqual(sums.stdout.trim().split('\n').map((l) => l.split(/\s+/)[0]), [EXPECTED.get('large.bin'), EXPECTED.get('many/0042.bin')]);
    } finally {
      await stopMount(m);
    }
  });
});
