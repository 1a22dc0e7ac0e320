// The smallest Node relay in front of a container, for the `serve` bench part's third target: a
// node:http server that posts each request's body to the container's /invocations through an
// undici Pool and answers with the container's status, Content-Type and body. No routing, no
// checks, no metrics: the cost of one more HTTP hop in Node, which pipemode's front also pays.
//   node bench/bare_relay.mjs CONTAINER-URL   (prints "relay: listening on PORT")
import http from 'node:http';
import { Pool } from 'undici';

const pool = new Pool(process.argv[2], { connections: 64 });
http.createServer({ keepAliveTimeout: 60_000 }, (req, res) => {
  const parts = [];
  req.on('data', (c) => parts.push(c));
  req.on('end', () => {
    pool.request({ method: 'POST', path: '/invocations', body: Buffer.concat(parts), headers: { 'content-type': req.headers['content-type'] ?? 'application/octet-stream' } })
      .then(async (r) => {
        const body = Buffer.from(await r.body.arrayBuffer());
        res.writeHead(r.statusCode, { 'content-type': r.headers['content-type'] ?? 'application/octet-stream', 'content-length': body.length });
        res.end(body);
      })
      .catch(() => { res.writeHead(502, { 'content-length': 0 }); res.end(); });
  });
}).listen(0, '127.0.0.1', function () { console.log(`relay: listening on ${this.address().port}`); });
