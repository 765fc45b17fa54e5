/**
 * Gateway floor: a bare node:http reverse proxy (keep-alive agent, streamed both ways, no
 * token check, no routing) in front of the same upstream — what any Node.js gateway pays
 * for the extra hop on this machine. Environment: BENCH_UPSTREAM (origin URL).
 * Prints its URL as the first line.
 */
import { Agent, createServer, request } from 'node:http';
import type { AddressInfo } from 'node:net';

const upstream = new URL(process.env.BENCH_UPSTREAM ?? 'http://127.0.0.1:9');
const agent = new Agent({ keepAlive: true, maxSockets: 256 });
const prefix = '/bench-api';

const server = createServer((req, res) => {
  const path = req.url!.startsWith(prefix) ? req.url!.slice(prefix.length) : req.url!;
  const headers = { ...req.headers, host: upstream.host };
  delete headers.connection;
  const out = request({ agent, hostname: upstream.hostname, port: upstream.port, method: req.method, path, headers }, (answer) => {
    res.writeHead(answer.statusCode ?? 502, answer.headers);
    answer.pipe(res);
  });
  out.on('error', () => {
    res.writeHead(502);
    res.end();
  });
  req.pipe(out);
});
server.keepAliveTimeout = 60_000;
server.listen(0, '127.0.0.1', () => {
  process.stdout.write(`floor-proxy listening on http://127.0.0.1:${(server.address() as AddressInfo).port}\n`);
});
process.once('SIGTERM', () => server.close(() => process.exit(0)));
