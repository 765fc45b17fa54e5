/**
 * A sample OData-style Accounts service to put behind the gateway: the demo's upstream, and
 * the one the README's gateway example starts with `npm run -s sample-upstream -- 127.0.0.1:9000`.
 * `GET /odata/Account`, `GET /odata/Account(1)`, `POST /odata/Account {"Name", "Balance"}`;
 * each answer also echoes the caller the gateway names (X-Tessera-Subject, -Client-Id, -Scope).
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { pathToFileURL } from 'node:url';

interface Account {
  Id: number;
  Name: string;
  Balance: number;
}

function send(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json; odata.metadata=minimal', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

function readJson(req: IncomingMessage): Promise<unknown> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      try {
        resolve(JSON.parse(Buffer.concat(chunks).toString() || 'null'));
      } catch {
        resolve(undefined);
      }
    });
  });
}

/** Listens on `host:port` (port 0 picks one); answers the server and its base URL (`…/odata`). */
export async function startSampleUpstream(host = '127.0.0.1', port = 0): Promise<{ server: Server; url: string }> {
  const accounts: Account[] = [
    { Id: 1, Name: 'Contoso Ltd', Balance: 1200.5 },
    { Id: 2, Name: 'Fabrikam Inc', Balance: -80 },
    { Id: 3, Name: 'Northwind Traders', Balance: 310 },
  ];
  const server = createServer(async (req, res) => {
    const url = new URL(req.url ?? '/', 'http://upstream');
    const context = '$metadata#Account';
    // Who the gateway says is calling (set by Tessera, never by the client).
    const caller = { subject: req.headers['x-tessera-subject'], client_id: req.headers['x-tessera-client-id'], scope: req.headers['x-tessera-scope'] };
    if (req.method === 'GET' && url.pathname === '/odata/Account') {
      return send(res, 200, { '@odata.context': context, value: accounts, caller });
    }
    const one = /^\/odata\/Account\((\d+)\)$/.exec(url.pathname);
    if (req.method === 'GET' && one) {
      const found = accounts.find((a) => a.Id === Number(one[1]));
      return found ? send(res, 200, { '@odata.context': `${context}/$entity`, ...found }) : send(res, 404, { error: { code: 'NotFound', message: 'no such account' } });
    }
    if (req.method === 'POST' && url.pathname === '/odata/Account') {
      const body = (await readJson(req)) as Partial<Account> | undefined;
      if (!body || typeof body.Name !== 'string') return send(res, 400, { error: { code: 'BadRequest', message: 'Name is required' } });
      const created = { Id: accounts.length + 1, Name: body.Name, Balance: Number(body.Balance ?? 0) };
      accounts.push(created);
      return send(res, 201, { '@odata.context': `${context}/$entity`, ...created });
    }
    return send(res, 404, { error: { code: 'NotFound', message: 'no such resource' } });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve());
  });
  const address = server.address() as AddressInfo;
  return { server, url: `http://${host}:${address.port}/odata` };
}

// `node scripts/sample-upstream.ts [HOST:]PORT` (default 127.0.0.1:9000); Ctrl-C stops it.
if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const arg = process.argv[2] ?? '127.0.0.1:9000';
  const m = /^(?:([^:]+):)?(\d+)$/.exec(arg);
  if (!m) {
    process.stderr.write(`sample-upstream: expected [HOST:]PORT, got "${arg}"\n`);
    process.exit(2);
  }
  try {
    const { url } = await startSampleUpstream(m[1] ?? '127.0.0.1', Number(m[2]));
    process.stdout.write(`sample Accounts upstream listening on ${url}\n`);
  } catch (error) {
    process.stderr.write(`sample-upstream: ${(error as Error).message}\n`);
    process.exit(1);
  }
  for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, () => process.exit(0));
}
