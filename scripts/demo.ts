/**
 * `npm run demo`: Tessera on a fresh SQLite database with a sample OData-style Accounts API
 * behind the gateway, a demo user and two apps, and a copy-paste walkthrough.
 * Everything listens on 127.0.0.1; Ctrl-C stops it all.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { openTessera } from '../src/app/tessera.ts';
import { loadConfig } from '../src/config/config.ts';
import { buildHttpApp } from '../src/http/app.ts';
import { stderrLogger } from '../src/lib/logger.ts';
import { SYSTEM } from '../src/audit/actor.ts';
import { startSampleUpstream } from './sample-upstream.ts';

const PORT = Number(process.env.TESSERA_PORT ?? 8080);
const dir = process.env.TESSERA_DEMO_DIR ?? join(process.cwd(), 'data', 'demo');
rmSync(dir, { recursive: true, force: true });
mkdirSync(dir, { recursive: true });

// ---- the sample upstream: an OData-style Accounts service (scripts/sample-upstream.ts) ----
const { server: upstream, url: upstreamUrl } = await startSampleUpstream();

// ---- Tessera ----------------------------------------------------------------------------
const config = loadConfig(
  { ...process.env, TESSERA_REDIRECT_URI_POLICY: 'development', TESSERA_KEY_ENCRYPTION_KEY_FILE: join(dir, 'kek'), TESSERA_LOG_LEVEL: process.env.TESSERA_LOG_LEVEL ?? 'warn' },
  { databaseUrl: `sqlite:${join(dir, 'tessera.db')}`, port: PORT },
);
const tessera = await openTessera(config, { log: stderrLogger('tessera demo') });
// Loopback redirect URIs (the partner app below): the development policy, saved like `serve` does.
await tessera.applyEnvironmentSettings();
const { services } = tessera;
// The console's admin, first on the empty database (TESSERA_ADMIN_PASSWORD, else a random
// password printed in the walkthrough).
const admin = await tessera.bootstrapAdmin(config.adminPassword);
if (!admin) throw new Error(`the demo database in ${dir} is not empty`);
await services.apis.create({
  name: 'Accounts',
  basePath: '/0/odata',
  upstream: upstreamUrl,
  scopes: [
    { name: 'accounts.read', description: 'Read your accounts' },
    { name: 'accounts.write', description: 'Create accounts' },
  ],
  routes: [
    { methods: ['GET', 'HEAD'], path: '/Account', scopes: ['accounts.read', 'accounts.write'] },
    { methods: ['GET', 'HEAD'], path: '/Account({id})', scopes: ['accounts.read', 'accounts.write'] },
    { methods: ['POST'], path: '/Account', scopes: ['accounts.write'] },
  ],
}, SYSTEM);
const password = 'demo-password-123';
await services.users.create({ username: 'demo', password, email: 'demo@example.com', name: 'Demo User', roles: ['developer'] }, SYSTEM);
const machine = await services.clients.create({
  name: 'Nightly sync',
  description: 'Acts for the demo user with client credentials',
  grantTypes: ['client_credentials'],
  onBehalfOf: 'demo',
  scopes: ['accounts.read', 'accounts.write'],
}, SYSTEM);

await tessera.startBackground();
const app = buildHttpApp(tessera);
await app.listen({ port: PORT, host: '127.0.0.1' });
const base = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;
tessera.setIssuer(base);
await tessera.ensureConsoleClient();
// The partner app's side of the code flow: a page that receives the code, exchanges it and
// calls the API with the token, so the whole flow is visible in the browser.
const partner = createServer((req, res) => void partnerPage(req, res));
await new Promise<void>((r) => partner.listen(0, '127.0.0.1', r));
const callback = `http://127.0.0.1:${(partner.address() as AddressInfo).port}/callback`;
const web = await services.clients.create({
  name: 'Accounts Explorer',
  description: 'A partner app that reads your accounts',
  grantTypes: ['authorization_code'],
  redirectUris: [callback],
  scopes: ['openid', 'profile', 'offline_access', 'accounts.read'],
}, SYSTEM);

async function partnerPage(req: IncomingMessage, res: ServerResponse): Promise<void> {
  const url = new URL(req.url ?? '/', callback);
  const esc = (v: unknown) => String(JSON.stringify(v, null, 2)).replace(/[&<>]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;' })[c]!);
  const page = (title: string, body: string) => {
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
    res.end(`<!doctype html><meta charset="utf-8"><title>${title}</title><body style="font:15px system-ui;margin:2em;max-width:60em"><h1>${title}</h1>${body}</body>`);
  };
  if (url.pathname !== '/callback') return page('Accounts Explorer', `<p><a href="${authorize.replaceAll('&', '&amp;')}">Connect your accounts</a></p>`);
  if (url.searchParams.get('error')) return page('Not connected', `<pre>${esc(Object.fromEntries(url.searchParams))}</pre>`);
  const tokens = (await (
    await fetch(`${base}/connect/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: `Basic ${Buffer.from(`${web.client_id}:${web.client_secret}`).toString('base64')}` },
      body: new URLSearchParams({ grant_type: 'authorization_code', code: url.searchParams.get('code') ?? '', redirect_uri: callback, code_verifier: verifier }),
    })
  ).json()) as { access_token?: string };
  const data = tokens.access_token ? await (await fetch(`${base}/0/odata/Account`, { headers: { authorization: `Bearer ${tokens.access_token}` } })).json() : null;
  page('Connected', `<p>The authorization response: <code>${esc(Object.fromEntries(url.searchParams))}</code></p><h2>Token response</h2><pre>${esc(tokens)}</pre><h2>GET /0/odata/Account with the access token</h2><pre>${esc(data)}</pre>`);
}

const verifier = 'demo-verifier-0123456789-abcdefghijklmnopqrstuvwxyz';
const { createHash } = await import('node:crypto');
const challenge = createHash('sha256').update(verifier).digest('base64url');
const authorize = `${base}/connect/authorize?${new URLSearchParams({
  client_id: web.client_id,
  response_type: 'code',
  redirect_uri: callback,
  scope: 'openid profile offline_access accounts.read',
  state: 'demo-state',
  code_challenge: challenge,
  code_challenge_method: 'S256',
})}`;

process.stdout.write(`
Tessera demo listening on ${base} (database ${join(dir, 'tessera.db')})
Sample Accounts API (upstream ${upstreamUrl}) behind the gateway at ${base}/0/odata

1. Client credentials: an app acting for the user "demo"

   CLIENT_ID=${machine.client_id}
   CLIENT_SECRET=${machine.client_secret}
   TOKEN=$(curl -s -u "$CLIENT_ID:$CLIENT_SECRET" -d grant_type=client_credentials -d "scope=accounts.read accounts.write" \\
     ${base}/connect/token | sed -E 's/.*"access_token":"([^"]+)".*/\\1/')

2. Call the API through the gateway

   curl -s -H "Authorization: Bearer $TOKEN" ${base}/0/odata/Account
   curl -s -H "Authorization: Bearer $TOKEN" "${base}/0/odata/Account(1)"
   curl -s -H "Authorization: Bearer $TOKEN" -H 'content-type: application/json' -d '{"Name":"Tailspin Toys","Balance":42}' ${base}/0/odata/Account
   curl -si ${base}/0/odata/Account            # 401: no token
   curl -si -X DELETE -H "Authorization: Bearer $TOKEN" "${base}/0/odata/Account(1)"   # 405: no such route

3. Authorization code flow in a browser: open this URL, sign in as demo / ${password},
   approve "Accounts Explorer"; its callback page exchanges the code (PKCE) and shows the
   tokens and the accounts it read through the gateway.

   ${authorize}

4. The web console: open ${base}/admin/ and sign in as ${admin.username} / ${admin.password}
   (apps, users, APIs, settings, keys and the audit log of this demo).

Ctrl-C stops the demo.
`);

const stop = async () => {
  await app.close();
  await tessera.close();
  upstream.close();
  partner.close();
  process.exit(0);
};
process.once('SIGINT', () => void stop());
process.once('SIGTERM', () => void stop());
