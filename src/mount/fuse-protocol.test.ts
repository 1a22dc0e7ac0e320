import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  attrReply, decodeHeader, decodeInit, decodeName, decodeRead, direntSize, direntsReply, entryReply, ENTRY_OUT_SIZE, INIT, INIT2,
  initReply, OUT_HEADER_SIZE, statusReply, type DirEntry, type NodeAttributes,
} from './fuse-protocol.js';

const file = (ino: number, size = 10): NodeAttributes => ({
  ino, mode: 0o100444, size, nlink: 1, uid: 1, gid: 2, mtime: 1_700_000_000_123, atime: 1_700_000_000_123, ctime: 1_700_000_000_123, blocks: 1, blksize: 4096,
});

/** Walks a READDIR(PLUS) reply: names, inos and the offsets each entry says come next. */
function parseDirents(reply: Buffer, plus: boolean): { name: string; ino: number; off: number; nodeid: number | undefined }[] {
  const out: { name: string; ino: number; off: number; nodeid: number | undefined }[] = [];
  let at = OUT_HEADER_SIZE;
  while (at < reply.length) {
    let nodeid: number | undefined;
    if (plus) {
      nodeid = Number(reply.readBigUInt64LE(at));
      at += ENTRY_OUT_SIZE;
    }
    const ino = Number(reply.readBigUInt64LE(at));
    const off = Number(reply.readBigUInt64LE(at + 8));
    const len = reply.readUInt32LE(at + 16);
    out.push({ name: reply.toString('utf8', at + 24, at + 24 + len), ino, off, nodeid });
    at += (24 + len + 7) & ~7;
  }
  assert.equal(at, reply.length, 'entries fill the reply exactly');
  return out;
}

test('a request header is read as the kernel lays it out, and a length that disagrees is refused', () => {
  const req = Buffer.alloc(48);
  req.writeUInt32LE(48, 0);
  req.writeUInt32LE(1, 4);
  req.writeBigUInt64LE(77n, 8);
  req.writeBigUInt64LE(5n, 16);
  req.writeUInt32LE(1000, 24);
  req.writeUInt32LE(1001, 28);
  req.writeUInt32LE(4242, 32);
  req.write('name\0', 40);
  const h = decodeHeader(req, 48);
  assert.deepEqual(h, { len: 48, opcode: 1, unique: 77n, nodeid: 5, uid: 1000, gid: 1001, pid: 4242 });
  assert.equal(decodeName(req.subarray(40)), 'name');
  assert.throws(() => decodeHeader(req, 47), /says it has 48/);
  assert.throws(() => decodeHeader(req, 20), /short/);
});

test('READDIR and READDIRPLUS replies: every entry once, in order, within the size asked, for any buffer size', () => {
  const entries: DirEntry[] = [
    { name: '.', attributes: { ...file(1), mode: 0o040555 }, dot: true },
    { name: '..', attributes: { ...file(1), mode: 0o040555 }, dot: true },
    ...Array.from({ length: 200 }, (_, i) => ({ name: `file-${i}-${'é'.repeat(i % 9)}`, attributes: file(i + 2) })),
  ];
  for (const plus of [false, true]) {
    for (const size of [direntSize(40, plus), 4096, 10_000, 1 << 20]) {
      const seen: string[] = [];
      let offset = 0;
      for (let calls = 0; calls < 1000; calls++) {
        const reply = direntsReply(9n, entries, offset, size, plus, 60);
        assert.equal(reply.readUInt32LE(0), reply.length);
        assert.ok(reply.length - OUT_HEADER_SIZE <= size, `reply of ${reply.length} for ${size}`);
        const got = parseDirents(reply, plus);
        if (got.length === 0) break;
        got.forEach((e, k) => {
          assert.equal(e.off, offset + k + 1, 'off names the next entry');
          assert.equal(e.ino, (entries[offset + k] as DirEntry).attributes.ino);
          if (plus) assert.equal(e.nodeid, e.name === '.' || e.name === '..' ? 0 : e.ino);
        });
        seen.push(...got.map((e) => e.name));
        offset = (got[got.length - 1] as { off: number }).off;
      }
      assert.deepEqual(seen, entries.map((e) => e.name), `plus=${String(plus)} size=${size}`);
    }
  }
});

test('entry, attr, status and init replies carry their header and fields at the protocol offsets', () => {
  const a = file(7, 123_456);
  const entry = entryReply(3n, a, 86_400);
  assert.equal(entry.length, OUT_HEADER_SIZE + ENTRY_OUT_SIZE);
  assert.equal(entry.readUInt32LE(0), entry.length);
  assert.equal(entry.readInt32LE(4), 0);
  assert.equal(entry.readBigUInt64LE(8), 3n);
  assert.equal(entry.readBigUInt64LE(16), 7n); // nodeid
  assert.equal(entry.readBigUInt64LE(32), 86_400n); // entry_valid
  assert.equal(entry.readBigUInt64LE(56 + 8), 123_456n); // attr.size
  assert.equal(entry.readBigUInt64LE(56 + 32), 1_700_000_000n); // attr.mtime
  assert.equal(entry.readUInt32LE(56 + 52), 123_000_000); // attr.mtimensec
  assert.equal(entry.readUInt32LE(56 + 60), 0o100444); // attr.mode
  const negative = entryReply(4n, undefined, 60);
  assert.equal(negative.readBigUInt64LE(16), 0n, 'a negative entry is node 0');
  const attr = attrReply(5n, a, 60);
  assert.equal(attr.readBigUInt64LE(OUT_HEADER_SIZE), 60n);
  assert.equal(attr.readBigUInt64LE(OUT_HEADER_SIZE + 16), 7n);
  const err = statusReply(6n, -2);
  assert.deepEqual([err.length, err.readUInt32LE(0), err.readInt32LE(4), err.readBigUInt64LE(8)], [16, 16, -2, 6n]);

  const initIn = Buffer.alloc(64);
  initIn.writeUInt32LE(7, 0);
  initIn.writeUInt32LE(44, 4);
  initIn.writeUInt32LE(131_072, 8);
  initIn.writeUInt32LE(INIT.MAX_PAGES | INIT.INIT_EXT, 12);
  initIn.writeUInt32LE(INIT2.DIRECT_IO_ALLOW_MMAP, 16);
  assert.deepEqual(decodeInit(initIn), { major: 7, minor: 44, maxReadahead: 131_072, flags: INIT.MAX_PAGES | INIT.INIT_EXT, flags2: INIT2.DIRECT_IO_ALLOW_MMAP });
  initIn.writeUInt32LE(INIT.MAX_PAGES, 12);
  assert.equal(decodeInit(initIn).flags2, 0, 'flags2 only counts with INIT_EXT');
  const init = initReply(1n, { minor: 39, maxReadahead: 1 << 20, flags: INIT.MAX_PAGES | INIT.INIT_EXT, flags2: INIT2.DIRECT_IO_ALLOW_MMAP, maxBackground: 64, congestionThreshold: 48, maxWrite: 131_072, maxPages: 256 });
  assert.equal(init.length, OUT_HEADER_SIZE + 64);
  const o = init.subarray(OUT_HEADER_SIZE);
  assert.deepEqual([o.readUInt32LE(0), o.readUInt32LE(4), o.readUInt32LE(8), o.readUInt32LE(12) >>> 0], [7, 39, 1 << 20, (INIT.MAX_PAGES | INIT.INIT_EXT) >>> 0]);
  assert.deepEqual([o.readUInt16LE(16), o.readUInt16LE(18), o.readUInt32LE(20), o.readUInt16LE(28), o.readUInt32LE(32)], [64, 48, 131_072, 256, INIT2.DIRECT_IO_ALLOW_MMAP]);
});

test('a read request gives its handle, offset and size', () => {
  const body = Buffer.alloc(40);
  body.writeBigUInt64LE(12n, 0);
  body.writeBigUInt64LE(5_000_000_000n, 8);
  body.writeUInt32LE(1 << 20, 16);
  assert.deepEqual(decodeRead(body), { fh: 12, offset: 5_000_000_000, size: 1 << 20 });
});
