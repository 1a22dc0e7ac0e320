// A TLS-terminating TCP proxy for the bench's HTTPS rows: node bench/tls-proxy.mjs CERT KEY UPSTREAM_URL
// listens on 127.0.0.1 (a free port), decrypts each connection and forwards its bytes to the plain-http
// S3 server at UPSTREAM_URL, and prints "https://127.0.0.1:PORT" once listening. The certificate is a
// throw-away one made by bench/run.sh with `openssl req -x509` for IP 127.0.0.1; clients trust it through
// NODE_EXTRA_CA_CERTS (pipemode) and --ca-cert (rclone). Both clients go through the same proxy, so its
// cost (one extra hop, TLS on this side) is the same for both.
import fs from 'node:fs';
import net from 'node:net';
import tls from 'node:tls';

const [cert, key, upstream] = process.argv.slice(2);
const target = new URL(upstream);
const server = tls.createServer({ cert: fs.readFileSync(cert), key: fs.readFileSync(key) }, (client) => {
  const up = net.connect(Number(target.port), target.hostname);
  client.pipe(up).pipe(client);
  const drop = () => { client.destroy(); up.destroy(); };
  client.on('error', drop);
  up.on('error', drop);
});
server.listen(0, '127.0.0.1', () => {
  process.stdout.write(`https://127.0.0.1:${server.address().port}\n`);
});
process.on('SIGTERM', () => process.exit(0));
