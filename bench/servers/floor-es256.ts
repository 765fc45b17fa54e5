/**
 * Floor 2: bare Fastify that signs one ES256 JWT per request with node:crypto and a
 * KeyObject created once — the physical limit of "HTTP + one signature" on this machine.
 * No client authentication, no storage: anything Tessera does costs on top of this.
 *
 * BENCH_WORKERS=N runs N such processes on one port through node:cluster, as
 * `tessera serve --workers N` does (the primary accepts and hands connections round-robin):
 * the speed-up from 1 to 2 processes that this machine and its load generator allow a server
 * that does nothing else, beside Tessera's own.
 */
import cluster from 'node:cluster';
import { generateKeyPairSync, randomUUID, sign } from 'node:crypto';
import Fastify from 'fastify';

const workers = Number(process.env.BENCH_WORKERS ?? '1');
if (workers > 1 && cluster.isPrimary) {
  // The URL only once every worker listens: connections opened before would all go to the first.
  const ports: number[] = [];
  cluster.on('listening', (_worker, address) => {
    ports.push(address.port);
    if (ports.length === workers) process.stdout.write(`floor-es256 (${workers} processes) listening on http://127.0.0.1:${ports[0]}\n`);
  });
  cluster.on('exit', (_worker, code, signal) => {
    process.stderr.write(`floor-es256: a worker exited (${signal ?? `code ${code}`})\n`);
    process.exit(1);
  });
  for (let i = 0; i < workers; i++) cluster.fork();
  process.once('SIGTERM', () => {
    cluster.removeAllListeners('exit');
    for (const w of Object.values(cluster.workers ?? {})) w?.kill('SIGTERM');
    process.exit(0);
  });
} else {
  await serve();
}

async function serve(): Promise<void> {
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

  // Port 0 in a cluster worker: every worker shares the one port the primary picked.
  const address = await app.listen({ port: 0, host: '127.0.0.1' });
  if (!cluster.isWorker) process.stdout.write(`floor-es256 listening on ${address}\n`);
  process.once('SIGTERM', () => void app.close().then(() => process.exit(0)));
}
