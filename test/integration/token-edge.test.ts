import { request as httpRequest } from 'node:http';
import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { SYSTEM } from '../../src/audit/actor.ts';
import { createLogger } from '../../src/observability/logging.ts';
import { createLocalJWKSet, jwtVerify } from 'jose';
import { DIALECTS } from '../support/databases.ts';
import { basic, declareScopes, startTestServer, type TestServer } from '../support/server.ts';

/**
 * POST /connect/token is answered in front of Fastify (src/http/gateway-edge.ts, issue 16)
 * when it is a plain form request; every other one still goes through the Fastify route.
 * Both must answer alike: the same status, headers (in the same order) and body, the same
 * log lines and metrics.
 */
const FORM = 'application/x-www-form-urlencoded';

interface Answer {
  status: number;
  /** Header names and values in the order sent; the request id and Date left out. */
  headers: string[];
  body: Record<string, unknown>;
}

/** Over a socket (the edge), with exactly these headers. */
function post(url: string, body: string, headers: Record<string, string>): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(`${url}/connect/token`, { method: 'POST', headers: { 'content-length': String(Buffer.byteLength(body)), ...headers } }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (text += chunk));
      res.on('end', () => resolve({ status: res.statusCode!, headers: pairs(res.rawHeaders), body: JSON.parse(text) as Record<string, unknown> }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

function pairs(raw: string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!.toLowerCase();
    if (name !== 'x-request-id' && name !== 'date' && name !== 'connection' && name !== 'keep-alive') out.push(`${name}: ${raw[i + 1]}`);
  }
  return out;
}

/** Through Fastify's route (inject never reaches the edge). */
async function inject(server: TestServer, body: string, headers: Record<string, string>): Promise<Answer> {
  const res = await server.app.inject({ method: 'POST', url: '/connect/token', headers, payload: body });
  const raw = Object.entries(res.headers).flatMap(([name, value]) => [name, String(value)]);
  return { status: res.statusCode, headers: pairs(raw), body: res.json() };
}

/** A token's answer with the token itself replaced by the names of its header and claims. */
function shape(answer: Answer): Answer {
  const token = answer.body.access_token;
  if (typeof token !== 'string') return answer;
  const [header, payload] = token.split('.').slice(0, 2).map((part) => JSON.parse(Buffer.from(part, 'base64url').toString('utf8')) as Record<string, unknown>);
  const headers = answer.headers.map((h) => (h.startsWith('content-length: ') ? 'content-length: (token)' : h));
  return { ...answer, headers, body: { ...answer.body, access_token: { header, claims: Object.keys(payload!) } } };
}

describe.each(DIALECTS)('the token endpoint in front of Fastify (%s)', (dialect) => {
  let server: TestServer;
  const lines: Array<Record<string, unknown>> = [];
  let service: { id: string; secret: string };

  beforeAll(async () => {
    const stream = new Writable({
      write(chunk, _encoding, callback) {
        lines.push(...String(chunk).split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>));
        callback();
      },
    });
    server = await startTestServer(dialect, { logger: createLogger('info', stream), metrics: true, env: { TESSERA_LOG_LEVEL: 'info' } });
    await declareScopes(server.tessera, ['edge.read']);
    const created = await server.tessera.services.clients.create({ name: 'edge', grantTypes: ['client_credentials'], scopes: ['edge.read'] }, SYSTEM);
    service = { id: created.client_id, secret: created.client_secret! };
  });
  afterAll(async () => {
    await server?.close();
  });

  test('answers as the Fastify route does: tokens, refusals, malformed requests', async () => {
    const auth = basic(service.id, service.secret);
    const cases: Array<[string, Record<string, string>]> = [
      ['grant_type=client_credentials&scope=edge.read', { authorization: auth }],
      ['grant_type=client_credentials', { authorization: auth }],
      [`grant_type=client_credentials&client_id=${service.id}&client_secret=${service.secret}`, {}],
      ['grant_type=client_credentials&scope=nope', { authorization: auth }],
      ['grant_type=client_credentials', { authorization: basic(service.id, 'wrong') }],
      ['grant_type=client_credentials', {}],
      ['grant_type=client_credentials&grant_type=password', { authorization: auth }],
      ['scope=edge.read', { authorization: auth }],
      ['grant_type=password&username=a&password=b', { authorization: auth }],
      ['grant_type=client_credentials', { authorization: 'Bearer abc' }],
      ['', { authorization: auth }],
      ['grant_type=client_credentials&scope=%E2%82%AC', { authorization: auth }],
    ];
    for (const [body, headers] of cases) {
      const all = { 'content-type': FORM, ...headers };
      const viaEdge = shape(await post(server.url, body, all));
      const viaFastify = shape(await inject(server, body, all));
      expect(viaEdge, body).toEqual(viaFastify);
    }
  });

  test('a token from the edge verifies, and carries the same claims as one from the route', async () => {
    const auth = basic(service.id, service.secret);
    const answer = await post(server.url, 'grant_type=client_credentials&scope=edge.read', { 'content-type': FORM, authorization: auth });
    expect(answer.status).toBe(200);
    const jwks = createLocalJWKSet((await (await fetch(`${server.url}/.well-known/jwks.json`)).json()) as Parameters<typeof createLocalJWKSet>[0]);
    const { payload, protectedHeader } = await jwtVerify(answer.body.access_token as string, jwks, { issuer: server.tessera.issuer, typ: 'at+jwt' });
    expect(protectedHeader.alg).toBe('ES256');
    expect(payload).toMatchObject({ sub: service.id, client_id: service.id, scope: 'edge.read' });
  });

  test('logs and counts like the route: incoming, token issued, completed, under one request id', async () => {
    lines.length = 0;
    const answer = await post(server.url, 'grant_type=client_credentials', { 'content-type': FORM, authorization: basic(service.id, service.secret), 'x-request-id': 'edge-req-1' });
    expect(answer.status).toBe(200);
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(lines.filter((l) => l.reqId === 'edge-req-1').map((l) => l.msg)).toEqual(['incoming request', 'token issued', 'request completed']);
    const incoming = lines.find((l) => l.msg === 'incoming request')!;
    expect(incoming.req).toEqual({ method: 'POST', path: '/connect/token', ip: '127.0.0.1' });
    expect(lines.find((l) => l.msg === 'request completed')!.res).toEqual({ statusCode: 200 });
    const refused = await post(server.url, 'grant_type=client_credentials', { 'content-type': FORM, authorization: basic(service.id, 'wrong'), 'x-request-id': 'edge-req-2' });
    expect(refused.status).toBe(401);
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(lines.filter((l) => l.reqId === 'edge-req-2').map((l) => [l.msg, l.error])).toEqual([
      ['incoming request', undefined],
      ['token request refused', 'invalid_client'],
      ['request completed', undefined],
    ]);
    const metrics = await server.metrics!.render();
    expect(metrics).toMatch(/route="\/connect\/token"[^\n]*status="200"|status="200"[^\n]*route="\/connect\/token"/);
  });
});
