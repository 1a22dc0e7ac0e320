/**
 * A fault-injecting HTTP proxy on 127.0.0.1 in front of the test S3 server. It forwards requests
 * unchanged (the Host header too, so SigV4 signatures stay valid) and, for object reads (GETs with
 * a Range header), lets a test decide per request: answer with an error status, stall before
 * answering, reset the connection or end it early after N body bytes, or run a hook (e.g.
 * overwrite the object) first.
 */
import http from 'node:http';
import type net from 'node:net';

export type Fault =
  | { readonly kind: 'status'; readonly status: number; readonly code: string }
  | { readonly kind: 'stall'; readonly ms: number }
  | { readonly kind: 'reset'; readonly afterBytes: number }
  | { readonly kind: 'truncate'; readonly afterBytes: number }
  /** Answers 206 with a Content-Range one byte off what was asked (same length): a wrong body. */
  | { readonly kind: 'bad-range' };

export interface ProxiedRead {
  /** Request path (bucket and encoded key). */
  readonly path: string;
  readonly range: string;
  /** 1 for the first read of this path, 2 for the next, … */
  readonly nth: number;
}

export interface FaultProxy {
  readonly url: string;
  /** Faults injected so far, by kind. */
  readonly injected: Record<string, number>;
  readonly reads: ProxiedRead[];
  /** The most ranged GETs that were outstanding (received, response not finished) at once. */
  readonly maxOutstanding: () => number;
  close(): Promise<void>;
}

export interface FaultProxyOptions {
  readonly decide?: (read: ProxiedRead) => Fault | undefined | Promise<Fault | undefined>;
  /** Close every connection after its response (stale keep-alive connections for the client). */
  readonly closeAfterEachResponse?: boolean;
}

export async function startFaultProxy(target: string, options: FaultProxyOptions = {}): Promise<FaultProxy> {
  const upstream = new URL(target);
  const agent = new http.Agent({ keepAlive: true });
  const counts = new Map<string, number>();
  const injected: Record<string, number> = {};
  const reads: ProxiedRead[] = [];
  const sockets = new Set<net.Socket>();
  let outstanding = 0;
  let maxOutstanding = 0;

  const server = http.createServer((req, res) => {
    void (async () => {
      const range = req.headers.range;
      let fault: Fault | undefined;
      if (req.method === 'GET' && range !== undefined) {
        const nth = (counts.get(req.url ?? '') ?? 0) + 1;
        counts.set(req.url ?? '', nth);
        const read = { path: req.url ?? '', range, nth };
        reads.push(read);
        maxOutstanding = Math.max(maxOutstanding, ++outstanding);
        res.once('close', () => outstanding--);
        fault = await options.decide?.(read);
      }
      if (fault !== undefined) injected[fault.kind] = (injected[fault.kind] ?? 0) + 1;
      if (fault?.kind === 'stall') {
        // hold the request, then serve it normally (if the client is still there)
        const ms = fault.ms;
        await new Promise((resolve) => setTimeout(resolve, ms));
        fault = undefined;
        if (req.destroyed || res.destroyed) return;
      }
      if (fault?.kind === 'bad-range') {
        const m = /bytes=(\d+)-(\d+)/.exec(range ?? '');
        const start = Number(m?.[1] ?? 0) + 1;
        const end = Number(m?.[2] ?? 0) + 1;
        res.writeHead(206, { 'content-range': `bytes ${start}-${end}/*`, 'content-length': end - start + 1 });
        res.end(Buffer.alloc(end - start + 1));
        return;
      }
      if (fault?.kind === 'status') {
        const body = `<?xml version="1.0" encoding="UTF-8"?><Error><Code>${fault.code}</Code><Message>injected</Message></Error>`;
        res.writeHead(fault.status, { 'content-type': 'application/xml', 'content-length': Buffer.byteLength(body) });
        res.end(body);
        return;
      }
      const forward = http.request({
        host: upstream.hostname, port: upstream.port, method: req.method, path: req.url, headers: req.headers, agent,
      }, (up) => {
        res.writeHead(up.statusCode ?? 502, up.headers);
        let sent = 0;
        up.on('data', (chunk: Buffer) => {
          if (fault === undefined) {
            res.write(chunk);
            return;
          }
          const take = Math.max(0, Math.min(chunk.length, fault.afterBytes - sent));
          if (take > 0) res.write(chunk.subarray(0, take));
          sent += take;
          if (sent >= fault.afterBytes) {
            up.destroy();
            if (fault.kind === 'reset') res.socket?.resetAndDestroy();
            else res.socket?.end();
          }
        });
        up.on('end', () => {
          res.end();
          if (options.closeAfterEachResponse === true) res.socket?.end();
        });
      });
      forward.on('error', () => res.destroy());
      req.pipe(forward);
    })();
  });
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    injected,
    reads,
    maxOutstanding: () => maxOutstanding,
    close: async () => {
      for (const s of sockets) s.destroy();
      agent.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
