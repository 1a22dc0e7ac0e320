/**
 * Mounting without root: FUSE's setuid helper, fusermount3 (Debian package fuse3) or fusermount
 * (fuse), opens /dev/fuse with the user's own rights, makes the mount and hands the open
 * /dev/fuse descriptor back over a Unix socket (SCM_RIGHTS; the socket's number is passed in the
 * environment as _FUSE_COMMFD, the helper's protocol). From then on the session is the same as
 * after pipemode's own mount(2): same requests, same replies. Unmounting is `fusermount -u -z`
 * (lazy, like umount2 with MNT_DETACH).
 *
 * The kernel sends its first request (INIT) only after mount(2) returns, and fusermount exits
 * right after handing the descriptor over, so waiting for it synchronously cannot deadlock.
 * PIPEMODE_FUSE_MOUNT=fusermount makes root use the helper too (the tests run the path that way).
 */
import { execFile, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { MountError } from '../core/errors.js';
import { closeFd, receiveFd, setNonBlocking, socketPair } from '../core/libc.js';

const HELPERS = ['fusermount3', 'fusermount'];
const HELPER_TIMEOUT_MS = 10_000;

/** Whether mounts go through fusermount: for every user but root, and for root when asked to. */
export function usesFusermount(): boolean {
  return process.geteuid?.() !== 0 || process.env.PIPEMODE_FUSE_MOUNT === 'fusermount';
}

/** The first fusermount3 or fusermount on PATH (or in /usr/bin, /bin), or undefined. */
export function fusermountPath(): string | undefined {
  const dirs = [...(process.env.PATH ?? '').split(':').filter((d) => d !== ''), '/usr/bin', '/bin'];
  for (const name of HELPERS) {
    for (const dir of dirs) {
      const file = path.join(dir, name);
      try {
        fs.accessSync(file, fs.constants.X_OK);
        return file;
      } catch {
        // not here
      }
    }
  }
  return undefined;
}

const MISSING = 'mounting FUSE as a user other than root needs fusermount3 (Debian package fuse3) or fusermount (fuse)';

/**
 * Mounts a FUSE file system at `dir` with `options` (comma-separated mount options the helper
 * accepts: ro, default_permissions, max_read=, fsname=, subtype=, allow_other) and returns the
 * /dev/fuse descriptor, non-blocking. MountError with the helper's own words if it refuses.
 */
export function mountWithFusermount(dir: string, options: string): number {
  const helper = fusermountPath();
  if (helper === undefined) throw new MountError(`cannot mount at ${dir}: ${MISSING}`, { reason: 'permission', dir });
  const [ours, theirs] = socketPair();
  try {
    const run = spawnSync(helper, ['-o', options, '--', dir], {
      stdio: ['ignore', 'ignore', 'pipe', theirs], // theirs becomes the helper's fd 3
      env: { ...process.env, _FUSE_COMMFD: '3' },
      timeout: HELPER_TIMEOUT_MS,
      encoding: 'utf8',
    });
    const said = (run.stderr ?? '').trim().split('\n').filter((l) => l !== '').join('; ');
    if (run.error !== undefined || run.status !== 0) {
      const why = run.error !== undefined ? run.error.message : said !== '' ? said : `exit status ${run.status ?? run.signal}`;
      throw new MountError(`cannot mount at ${dir}: ${path.basename(helper)} failed: ${why}`, { reason: /permission denied/i.test(why) ? 'permission' : 'mount-failed', dir });
    }
    const fd = receiveFd(ours);
    if (fd === undefined) {
      spawnSync(helper, ['-u', '-z', '--', dir], { stdio: 'ignore', timeout: HELPER_TIMEOUT_MS }); // a mount nobody can serve
      throw new MountError(`cannot mount at ${dir}: ${path.basename(helper)} handed over no /dev/fuse descriptor${said !== '' ? ` (${said})` : ''}`, { reason: 'mount-failed', dir });
    }
    setNonBlocking(fd);
    return fd;
  } finally {
    closeFd(ours);
    closeFd(theirs);
  }
}

/**
 * `fusermount -u -z dir`: resolves to undefined, 'EINVAL' when nothing is mounted there (as
 * umount2 says), or what the helper said when it failed.
 */
export function unmountWithFusermount(dir: string): Promise<string | undefined> {
  const helper = fusermountPath();
  if (helper === undefined) return Promise.resolve(MISSING);
  return new Promise((resolve) => {
    execFile(helper, ['-u', '-z', '--', dir], { timeout: HELPER_TIMEOUT_MS }, (err, _stdout, stderr) => {
      const said = stderr.trim();
      if (err === null) resolve(undefined);
      else if (/not found in|not mounted/i.test(said)) resolve('EINVAL');
      else resolve(said !== '' ? said : err.message);
    });
  });
}
