/**
 * Floor 2: bare Fastify that signs one ES256 JWT per request with node:crypto and a
 * KeyObject created once — the physical limit of "HTTP + one signature" on this machine.
 * No client authentication, no storage: anything Tessera does costs on top of this.
 */
import { generateKeyPairSync, randomUUID, sign } from 'node:crypto';
import Fastify from 'fastify';

const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const header = Buffer.from(JSON.stringify({ alg: 'ES256', typ: 'at+jwt', kid: 'floor' })).toString('base64url');

const app = Fastify({ logger: false });
app.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'string' }, (_req, body, done) => done(null, body));
app.post('/connect/token', async (_req, reply) => {
  const now = Math.floor(Date.now() / 1000);
  const claims = { iss: 'http://127.0.0.1', sub: 'floor-client', aud: 'bench', client_id: 'floor-client', scope: 'bench.read', iat: now, exp: now + 3600, jti: randomUUID() };
  const input = `${header}.${Buffer.from(JSON.stringify(claims)).toString('base64url')}`;
  const signature = sign('sha256', Buffer.from(input), { key: privateKey, dsaEncoding: 'ieee-p1363' }).toString('base64url');
  return reply.header('cache-control', 'no-store').send({ access_token: `${input}.${signature}`, token_type: 'Bearer', expires_in: 3600, scope: 'bench.read' });
});

const address = await app.listen({ port: 0, host: '127.0.0.1' });
process.stdout.write(`floor-es256 listening on ${address}\n`);
process.once('SIGTERM', () => void app.close().then(() => process.exit(0)));
