/**
 * The access keys pipemode's servers accept, kept in the AWS shared-credentials format
 * (`~/.aws/credentials`), so the same file can also configure the SDKs and the CLI that call them:
 *
 *   [pipemode]
 *   aws_access_key_id = PM...
 *   aws_secret_access_key = ...
 *
 * Reading follows what botocore's INI parser accepts: `#` / `;` comment lines, blank lines, `[name]`
 * sections, `key = value` (or `key: value`) pairs with case-insensitive keys and no inline
 * comments, indented lines continuing the previous value (nested settings such as `s3 =`; an indented
 * line right after a section header is a key of its own, as in Python's configparser). Keys
 * other than the two are ignored. Everything else is a CredentialsFileError naming the file and
 * line; messages never quote a line, since it may hold a secret.
 *
 * Writing makes a new key pair and publishes the file atomically: the bytes go to a temp file
 * (O_EXCL, mode 0600) in the same folder, are fsynced, and are then linked into place (refusing an
 * existing file) or renamed over it (`overwrite`). A symlink at the path is refused either way, so
 * the secret never lands somewhere the path does not name.
 */
import crypto from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import { CredentialsFileError } from '../core/errors.js';

export interface AccessKeyPair {
  readonly profile: string;
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
}

export interface CreateCredentialsFileOptions {
  /** Replace an existing regular file instead of failing. @default false */
  readonly overwrite?: boolean | undefined;
}

const ACCESS_KEY_PREFIX = 'PM';
/** 18 characters of [A-Z0-9] after the prefix: 20 in all, the length of an AWS access key id. */
const ACCESS_KEY_RANDOM_CHARS = 18;
const ACCESS_KEY_ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789';
/** 30 random bytes are exactly 40 base64url characters, the length of an AWS secret key. */
const SECRET_BYTES = 30;
const KEY_ID = 'aws_access_key_id';
const SECRET_KEY = 'aws_secret_access_key';

interface Section {
  readonly name: string;
  readonly line: number;
  accessKeyId?: string;
  secret?: string;
}

function fail(file: string, line: number | undefined, message: string, cause?: unknown): never {
  const where = line === undefined ? file : `${file}:${line}`;
  throw new CredentialsFileError(`credentials file ${where}: ${message}`, { file, ...(line !== undefined ? { line } : {}) },
    cause !== undefined ? { cause } : undefined);
}

/** Parses credentials-file text; `file` only names the source in errors. Returns access key → secret. */
export function parseCredentials(text: string, file: string): Map<string, string> {
  const sections: Section[] = [];
  const seenNames = new Set<string>();
  let current: Section | undefined;
  let lastKey: string | undefined;
  const lines = text.replace(/^\uFEFF/, '').split(/\r?\n/);
  lines.forEach((raw, i) => {
    const line = i + 1;
    if (raw.trim() === '' || /^\s*[#;]/.test(raw)) return;
    if (/^\s/.test(raw) && lastKey !== undefined) {
      if (lastKey === KEY_ID || lastKey === SECRET_KEY) fail(file, line, `${lastKey} cannot span several lines`);
      return;
    }
    const section = /^\s*\[([^\]]*)\]\s*$/.exec(raw);
    if (section) {
      const name = (section[1] ?? '').trim();
      if (name === '') fail(file, line, 'a section needs a name, as in [pipemode]');
      if (seenNames.has(name)) fail(file, line, `section [${name}] appears a second time`);
      seenNames.add(name);
      current = { name, line };
      sections.push(current);
      lastKey = undefined;
      return;
    }
    const pair = /^\s*([^=:]+)[=:](.*)$/.exec(raw);
    if (!pair) fail(file, line, 'the line is neither a [section], a key = value pair nor a comment');
    const key = (pair[1] ?? '').trim().toLowerCase();
    const value = (pair[2] ?? '').trim();
    if (current === undefined) fail(file, line, `${key} appears before any [section]`);
    if (key === KEY_ID || key === SECRET_KEY) {
      const has = key === KEY_ID ? current.accessKeyId : current.secret;
      if (has !== undefined) fail(file, line, `${key} appears twice in [${current.name}]`);
      if (value === '') fail(file, line, `${key} in [${current.name}] is empty`);
      if (key === KEY_ID) current.accessKeyId = value;
      else current.secret = value;
    }
    lastKey = key;
  });

  const out = new Map<string, string>();
  for (const s of sections) {
    if (s.accessKeyId === undefined && s.secret === undefined) continue;
    if (s.accessKeyId === undefined || s.secret === undefined) {
      fail(file, s.line, `[${s.name}] has ${s.accessKeyId === undefined ? SECRET_KEY : KEY_ID} but no ${s.accessKeyId === undefined ? KEY_ID : SECRET_KEY}`);
    }
    const known = out.get(s.accessKeyId);
    if (known !== undefined && known !== s.secret) {
      fail(file, s.line, `access key ${s.accessKeyId} in [${s.name}] has a different secret in an earlier section`);
    }
    out.set(s.accessKeyId, s.secret);
  }
  return out;
}

/** Reads an AWS shared-credentials file: access key id → secret, across every profile. */
export async function readCredentialsFile(file: string): Promise<Map<string, string>> {
  let text: string;
  try {
    text = await fs.readFile(file, 'utf8');
  } catch (err) {
    fail(file, undefined, `cannot be read (${(err as NodeJS.ErrnoException).code ?? String(err)})`, err);
  }
  return parseCredentials(text, file);
}

/** A fresh key pair: `PM` + 18 of [A-Z0-9], and 40 base64url characters. */
export function generateAccessKeyPair(profile = 'pipemode'): AccessKeyPair {
  let id = ACCESS_KEY_PREFIX;
  for (let i = 0; i < ACCESS_KEY_RANDOM_CHARS; i++) id += ACCESS_KEY_ALPHABET[crypto.randomInt(ACCESS_KEY_ALPHABET.length)];
  return { profile, accessKeyId: id, secretAccessKey: crypto.randomBytes(SECRET_BYTES).toString('base64url') };
}

async function isSymlink(file: string): Promise<boolean> {
  try {
    return (await fs.lstat(file)).isSymbolicLink();
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw err;
  }
}

/**
 * Writes a new credentials file holding one profile with a fresh key pair, readable by its owner
 * only (0600), and returns the pair. Fails if the path exists (unless `overwrite`) or is a symlink.
 */
export async function createCredentialsFile(file: string, profile = 'pipemode',
  options: CreateCredentialsFileOptions = {}): Promise<AccessKeyPair> {
  if (!/^[^\]\r\n]+$/.test(profile) || profile.trim() !== profile) {
    throw new CredentialsFileError(`profile name "${profile}" cannot be a section name (no ']', line breaks or edge spaces)`, { file });
  }
  const pair = generateAccessKeyPair(profile);
  const text = `[${profile}]\n${KEY_ID} = ${pair.accessKeyId}\n${SECRET_KEY} = ${pair.secretAccessKey}\n`;
  const dir = path.dirname(path.resolve(file));
  const temp = path.join(dir, `.${path.basename(file)}.${process.pid}.${crypto.randomBytes(6).toString('hex')}.tmp`);
  try {
    await fs.mkdir(dir, { recursive: true, mode: 0o700 });
    if (await isSymlink(file)) fail(file, undefined, 'is a symlink; refusing to write credentials through it');
    const handle = await fs.open(temp, 'wx', 0o600);
    try {
      await handle.chmod(0o600);
      await handle.writeFile(text, 'utf8');
      await handle.sync();
    } finally {
      await handle.close();
    }
    if (options.overwrite === true) {
      if (await isSymlink(file)) fail(file, undefined, 'is a symlink; refusing to write credentials through it');
      await fs.rename(temp, file);
    } else {
      // link() fails with EEXIST for any existing entry, symlinks included, with no window.
      // Filesystems without hard links get an lstat check and a rename instead.
      try {
        await fs.link(temp, file);
        await fs.unlink(temp);
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        if (code !== 'EPERM' && code !== 'ENOTSUP' && code !== 'EOPNOTSUPP') throw err;
        if (await fs.lstat(file).then(() => true, () => false)) fail(file, undefined, 'already exists; pass overwrite to replace it');
        await fs.rename(temp, file);
      }
    }
    const dirHandle = await fs.open(dir, 'r');
    try {
      await dirHandle.sync();
    } finally {
      await dirHandle.close();
    }
  } catch (err) {
    await fs.rm(temp, { force: true });
    if (err instanceof CredentialsFileError) throw err;
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'EEXIST') fail(file, undefined, 'already exists; pass overwrite to replace it', err);
    fail(file, undefined, `cannot be written (${code ?? String(err)})`, err);
  }
  return pair;
}
