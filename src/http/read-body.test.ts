import { test } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { readBody } from './read-body.js';

const sha = (b: Buffer): string => crypto.createHash('sha256').update(b).digest('hex');

test('readBody: at the limit the bytes come back; one over (declared or chunked) is undefined and the connection still answers', async () => {
  const limit = 100_000;
  const server = http.createServer((req, res) => {
    void readBody(req, limit).then((body) => {
      const text = body === undefined ? 'over' : sha(body);
      res.writeHead(body === undefined ? 413 : 200, { 'content-length': Buffer.byteLength(text) });
      res.end(text);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
  try {
    const exact = crypto.randomBytes(limit);
    let r = await fetch(url, { method: 'POST', body: exact });
    assert.equal(r.status, 200);
    assert.equal(await r.text(), sha(exact));
    r = await fetch(url, { method: 'POST', body: crypto.randomBytes(limit + 1) });
    assert.equal(r.status, 413);
    assert.equal(await r.text(), 'over');
    // chunked, no Content-Length: seen while reading
    const chunks = [crypto.randomBytes(60_000), crypto.randomBytes(40_001)];
    const stream = new ReadableStream<Uint8Array>({ start(c) { for (const x of chunks) c.enqueue(x); c.close(); } });
    r = await fetch(url, { method: 'POST', body: stream, duplex: 'half' });
    assert.equal(r.status, 413);
    assert.equal(await r.text(), 'over');
  } finally {
    server.close();
  }
});
