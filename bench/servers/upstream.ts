/**
 * The gateway scenario's upstream: node:http answering every GET with a small fixed JSON
 * body (an OData-like collection). Runs in its own process so neither Tessera nor the load
 * generator shares its event loop.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';

const body = JSON.stringify({ '@odata.context': '$metadata#Items', value: [{ Id: 1, Name: 'Contoso' }, { Id: 2, Name: 'Fabrikam' }] });
const server = createServer((req, res) => {
  req.resume();
  req.on('end', () => {
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
    res.end(body);
  });
});
server.keepAliveTimeout = 60_000;
server.listen(0, '127.0.0.1', () => {
  process.stdout.write(`upstream listening on http://127.0.0.1:${(server.address() as AddressInfo).port}\n`);
});
process.once('SIGTERM', () => server.close(() => process.exit(0)));
