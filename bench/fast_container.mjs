// A fast model container for the transform and serve benches: node:http, one process, answers each
// request with one short line per input line ("<bytes>\n"), so answers are small and the
// container's own cost per byte is low; GET /ping answers 200. `node bench/fast_container.mjs
// serve`, port from SAGEMAKER_BIND_TO_PORT; prints "listening on PORT" once it listens.
import http from 'node:http';

const port = Number(process.env.SAGEMAKER_BIND_TO_PORT ?? 8080);
http.createServer({ keepAliveTimeout: 60_000 }, (req, res) => {
  if (req.method === 'GET') {
    res.writeHead(req.url === '/ping' ? 200 : 404, { 'content-length': 0 });
    res.end();
    return;
  }
  let run = 0;
  const out = [];
  req.on('data', (chunk) => {
    for (let i = chunk.indexOf(10), from = 0; ; i = chunk.indexOf(10, from)) {
      if (i === -1) { run += chunk.length - from; break; }
      out.push(`${run + i - from}\n`);
      run = 0;
      from = i + 1;
    }
  });
  req.on('end', () => {
    if (run > 0) out.push(`${run}\n`);
    const body = out.join('');
    res.writeHead(200, { 'content-type': 'text/csv', 'content-length': Buffer.byteLength(body) });
    res.end(body);
  });
}).listen(port, '127.0.0.1', () => console.log(`fast container: listening on ${port}`));
process.on('SIGTERM', () => process.exit(0));
