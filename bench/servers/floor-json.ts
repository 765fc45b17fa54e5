/**
 * Floor 1: bare Fastify answering a fixed JSON body to POST /connect/token — the cost of
 * HTTP alone on this machine. Prints its URL as the first line.
 */
import Fastify from 'fastify';

const app = Fastify({ logger: false });
app.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'string' }, (_req, body, done) => done(null, body));
const body = JSON.stringify({ access_token: 'x'.repeat(600), token_type: 'Bearer', expires_in: 3600 });
app.post('/connect/token', async (_req, reply) => reply.header('content-type', 'application/json').header('cache-control', 'no-store').send(body));
app.get('/health', async () => ({ ok: true }));

const address = await app.listen({ port: 0, host: '127.0.0.1' });
process.stdout.write(`floor-json listening on ${address}\n`);
process.once('SIGTERM', () => void app.close().then(() => process.exit(0)));
