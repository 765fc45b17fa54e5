import { describe, expect, test } from 'vitest';
import { compileTemplate, matchTemplate, TemplateError } from '../../src/gateway/route-template.ts';
import { downstreamHeaders, upstreamHeaders } from '../../src/gateway/proxy.ts';

describe('route templates', () => {
  const cases: Array<[template: string, path: string, matches: boolean]> = [
    ['/Account', '/Account', true],
    ['/Account', '/Account/', false],
    ['/Account', '/account', false],
    ['/Account', '/Accounts', false],
    ['/Account', '', false],
    ['/Account/{id}', '/Account/42', true],
    ['/Account/{id}', '/Account/', false],
    ['/Account/{id}', '/Account/42/lines', false],
    ['/Account({id})', '/Account(42)', true],
    ['/Account({id})', "/Account('a%20b')", true],
    ['/Account({id})', '/Account()', false],
    ['/Account({id})', '/Account(42)/x', false],
    ['/Account({id})/Lines', '/Account(7)/Lines', true],
    ['/a/{x}/b/{y}', '/a/1/b/2', true],
    ['/a/{x}/b/{y}', '/a/1/c/2', false],
    ['/files/**', '/files', true],
    ['/files/**', '/files/a', true],
    ['/files/**', '/files/a/b/c', true],
    ['/files/**', '/filesystem', false],
    ['/**', '', true],
    ['/**', '/anything/at/all', true],
    ['/', '', true],
    ['/', '/', true],
    ['/', '/x', false],
    ['/v1.0/$metadata', '/v1.0/$metadata', true],
    ['/v1.0/$metadata', '/v1x0/$metadata', false],
    ['/Account/{id}', '/Account/a%2Fb', true], // one raw segment; the gateway refuses encoded slashes before matching
  ];
  test.each(cases)('%s vs %s → %s', (template, path, expected) => {
    expect(matchTemplate(compileTemplate(template), path)).toBe(expected);
  });

  test.each([['Account'], ['/a//b'], ['/a/**/b'], ['/a/*'], ['/a b'], ['/a/<x>'], [`/${'a'.repeat(600)}`]])('invalid template %s', (template) => {
    expect(() => compileTemplate(template)).toThrow(TemplateError);
  });
});

describe('proxy headers', () => {
  const identity = { subject: 'user-1', clientId: 'client-1', scope: 'accounts.read' };
  const o = { origin: 'http://u', path: '/x', timeoutMs: 1000, identity, forwardedFor: ['198.51.100.1', '203.0.113.9'], protocol: 'https', forwardAuthorization: true, maxBodyBytes: null, bodyTimeoutMs: 60_000, idleTimeoutMs: 15_000 };

  test('hop-by-hop, Host and spoofed X-Tessera-* are dropped; identity and X-Forwarded-* are set', () => {
    const out = upstreamHeaders(
      {
        host: 'api.example.com',
        connection: 'keep-alive, x-secret-hop',
        'keep-alive': 'timeout=5',
        'x-secret-hop': '1',
        'transfer-encoding': 'chunked',
        te: 'trailers',
        upgrade: 'websocket',
        'proxy-authorization': 'Basic x',
        'x-tessera-subject': 'admin',
        'X-Tessera-Scope': 'everything',
        'x-forwarded-for': '198.51.100.1',
        'content-type': 'application/json',
        accept: 'application/json',
        authorization: 'Bearer abc',
      } as Record<string, string>,
      o,
    );
    for (const h of ['host', 'connection', 'keep-alive', 'x-secret-hop', 'transfer-encoding', 'te', 'upgrade', 'proxy-authorization']) expect(out[h], h).toBeUndefined();
    expect(out['x-tessera-subject']).toBe('user-1');
    expect(out['x-tessera-client-id']).toBe('client-1');
    expect(out['x-tessera-scope']).toBe('accounts.read');
    // The chain Tessera trusted, not the client's own header (198.51.100.1 there is a coincidence).
    expect(out['x-forwarded-for']).toBe('198.51.100.1, 203.0.113.9');
    expect(upstreamHeaders({ 'x-forwarded-for': '6.6.6.6' }, { ...o, forwardedFor: ['203.0.113.9'] })['x-forwarded-for']).toBe('203.0.113.9');
    expect(out['x-forwarded-proto']).toBe('https');
    expect(out['x-forwarded-host']).toBe('api.example.com');
    expect(out['content-type']).toBe('application/json');
    expect(out.authorization).toBe('Bearer abc');
  });

  test('response hop-by-hop headers are dropped, the rest kept', () => {
    const out = downstreamHeaders({ connection: 'close, x-hop', 'x-hop': '1', 'transfer-encoding': 'chunked', 'content-type': 'text/plain', etag: '"1"' });
    expect(out).toEqual({ 'content-type': 'text/plain', etag: '"1"' });
  });

  test('Expect is dropped (Node answers 100 Continue itself; undici refuses the header)', () => {
    expect(upstreamHeaders({ expect: '100-continue', 'content-length': '5' }, o).expect).toBeUndefined();
  });

  test("Tessera's own cookies are removed from Cookie, other cookies kept; no Cookie header when none is left", () => {
    const out = upstreamHeaders({ cookie: 'a=1; tessera_session=s.sig; tessera_csrf=c; b=2; tessera_upstream=u; Tessera_Future=x' }, o);
    expect(out.cookie).toBe('a=1; b=2');
    expect(upstreamHeaders({ cookie: 'tessera_session=s; tessera_csrf=c' }, o).cookie).toBeUndefined();
  });

  test("an upstream's Set-Cookie for Tessera's own names does not pass back; others do", () => {
    const out = downstreamHeaders({ 'set-cookie': ['tessera_session=evil; Path=/', 'app=1; Path=/', 'tessera_csrf=x', ' tessera_upstream=y'], 'content-type': 'text/plain' });
    expect(out['set-cookie']).toEqual(['app=1; Path=/']);
    expect(downstreamHeaders({ 'set-cookie': 'tessera_session=evil' })).toEqual({});
  });

  test('Authorization is forwarded only when the API says so', () => {
    expect(upstreamHeaders({ authorization: 'Bearer abc' }, o).authorization).toBe('Bearer abc');
    expect(upstreamHeaders({ authorization: 'Bearer abc' }, { ...o, forwardAuthorization: false }).authorization).toBeUndefined();
  });

  test('exchange: the minted token replaces the client’s, whatever case the client wrote the header in', () => {
    const minted = { ...o, forwardAuthorization: false, upstreamAuthorization: 'Bearer minted' };
    expect(upstreamHeaders({ authorization: 'Bearer abc' }, minted).authorization).toBe('Bearer minted');
    expect(upstreamHeaders({ Authorization: 'Bearer abc' } as never, minted)).not.toHaveProperty('Authorization');
    expect(JSON.stringify(upstreamHeaders({ authorization: 'Bearer abc' }, { ...minted, forwardAuthorization: true }))).not.toContain('abc');
    expect(upstreamHeaders({}, minted).authorization).toBe('Bearer minted');
  });
});
