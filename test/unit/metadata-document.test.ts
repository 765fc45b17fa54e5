import { describe, expect, test } from 'vitest';
import { clientIdUrlProblem, freshnessSeconds, parseClientMetadata } from '../../src/clients/metadata-document.ts';

const D = { defaultSeconds: 300, maxSeconds: 86_400 };
const h = (cacheControl: string | null, expires: string | null = null, date: string | null = null) => ({ cacheControl, expires, date });

describe('client metadata documents: caching (RFC 9111)', () => {
  test.each([
    ['no headers: the default', h(null), 300],
    ['max-age', h('public, max-age=60'), 60],
    ['max-age capped at a day', h('max-age=9999999'), 86_400],
    ['no-store', h('no-store'), 0],
    ['no-cache', h('max-age=60, no-cache'), 0],
    ['max-age=0', h('max-age=0'), 0],
    ['Expires minus Date', h(null, 'Sun, 06 Dec 2026 12:10:00 GMT', 'Sun, 06 Dec 2026 12:00:00 GMT'), 600],
    ['invalid Expires: already expired', h(null, '0', 'Sun, 06 Dec 2026 12:00:00 GMT'), 0],
    ['max-age wins over Expires', h('max-age=5', 'Sun, 06 Dec 2026 12:10:00 GMT', 'Sun, 06 Dec 2026 12:00:00 GMT'), 5],
  ])('%s', (_name, headers, seconds) => {
    expect(freshnessSeconds(headers, D)).toBe(seconds);
  });
});

describe('client metadata documents: the client_id URL and the document', () => {
  test.each([
    ['https://agent.example/client.json', undefined],
    ['https://agent.example', 'path'],
    ['https://agent.example/', 'path'],
    ['https://agent.example/a/./b', '. or ..'],
    ['https://agent.example/c.json#x', 'fragment'],
    ['https://agent.example/c.json?v=1', 'query'],
    ['https://u@agent.example/c.json', 'username'],
    ['ftp://agent.example/c.json', 'https'],
    ['https://AGENT.example/c.json', 'normal form'],
  ])('%s', (url, problem) => {
    const found = clientIdUrlProblem(url);
    if (problem === undefined) expect(found).toBeUndefined();
    else expect(found).toContain(problem);
  });

  const url = 'https://agent.example/client.json';
  test.each([
    ['not an object', [], 'not a JSON object'],
    ['client_id differs', { client_id: 'https://agent.example/other.json', redirect_uris: ['https://a.example/cb'] }, 'client_id'],
    ['a secret', { client_id: url, redirect_uris: ['https://a.example/cb'], client_secret: 's' }, 'secret'],
    ['client_secret_post', { client_id: url, redirect_uris: ['https://a.example/cb'], token_endpoint_auth_method: 'client_secret_post' }, 'none'],
    ['private_key_jwt without keys', { client_id: url, redirect_uris: ['https://a.example/cb'], token_endpoint_auth_method: 'private_key_jwt' }, 'jwks_uri or jwks'],
    ['private_key_jwt with both', { client_id: url, redirect_uris: ['https://a.example/cb'], token_endpoint_auth_method: 'private_key_jwt', jwks_uri: 'https://agent.example/jwks', jwks: { keys: [] } }, 'not both'],
    ['private_key_jwt, jwks not a set', { client_id: url, redirect_uris: ['https://a.example/cb'], token_endpoint_auth_method: 'private_key_jwt', jwks: [] }, 'JWK set'],
    ['no redirect_uris', { client_id: url }, 'redirect_uris'],
    ['client_credentials', { client_id: url, redirect_uris: ['https://a.example/cb'], grant_types: ['client_credentials'] }, 'grant_types'],
  ])('refused: %s', (_name, doc, reason) => {
    const result = parseClientMetadata(url, doc);
    expect(result.ok).toBe(false);
    if (!result.ok) expect(result.reason).toContain(reason);
  });

  test('accepted: the name falls back to the host; control characters dropped', () => {
    const a = parseClientMetadata(url, { client_id: url, redirect_uris: ['https://a.example/cb'] });
    expect(a).toEqual({ ok: true, metadata: { clientId: url, name: 'agent.example', redirectUris: ['https://a.example/cb'], postLogoutRedirectUris: [], scope: undefined, authMethod: 'none' } });
    const b = parseClientMetadata(url, { client_id: url, client_name: 'Bot\u0007 One', redirect_uris: ['https://a.example/cb'], scope: 'openid notes.read' });
    expect(b.ok && b.metadata.name).toBe('Bot One');
    expect(b.ok && b.metadata.scope).toEqual(['openid', 'notes.read']);
  });

  test('accepted: private_key_jwt with the keys at a jwks_uri, or inline', () => {
    const byUri = parseClientMetadata(url, { client_id: url, redirect_uris: ['https://a.example/cb'], token_endpoint_auth_method: 'private_key_jwt', jwks_uri: 'https://agent.example/jwks' });
    expect(byUri.ok && byUri.metadata).toMatchObject({ authMethod: 'private_key_jwt', jwksUri: 'https://agent.example/jwks' });
    const inline = parseClientMetadata(url, { client_id: url, redirect_uris: ['https://a.example/cb'], token_endpoint_auth_method: 'private_key_jwt', jwks: { keys: [{ kty: 'EC' }] } });
    expect(inline.ok && inline.metadata).toMatchObject({ authMethod: 'private_key_jwt', jwks: { keys: [{ kty: 'EC' }] } });
    // A public client's keys are not taken.
    const ignored = parseClientMetadata(url, { client_id: url, redirect_uris: ['https://a.example/cb'], jwks_uri: 'https://agent.example/jwks' });
    expect(ignored.ok && ignored.metadata.jwksUri).toBeUndefined();
  });
});
