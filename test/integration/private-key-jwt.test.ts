import { randomUUID } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { exportJWK, generateKeyPair, SignJWT, type CryptoKey, type JWK } from 'jose';
import { SYSTEM } from '../../src/audit/actor.ts';
import { JWT_BEARER_ASSERTION_TYPE } from '../../src/oauth/client-assertion.ts';
import { DIALECTS } from '../support/databases.ts';
import { basic, postForm, startTestServer, type TestServer } from '../support/server.ts';

/**
 * private_key_jwt (RFC 7523 §2.2/§3, OIDC Core §9) over HTTP on SQLite and PostgreSQL: keys
 * inline and by jwks_uri (fetched, cached, fetched again for an unknown kid), at the token,
 * introspection, revocation and device authorization endpoints; and every refusal
 * (replayed jti, wrong aud, expired or too long-lived, HS256 and none, a key not the app's, a
 * secret for an app that must sign) is invalid_client with 401, changing nothing.
 */
interface Signer {
  key: CryptoKey;
  alg: string;
  kid: string;
}

async function signer(alg: 'ES256' | 'RS256' | 'PS256' | 'EdDSA', kid: string = randomUUID()): Promise<Signer & { jwk: JWK }> {
  const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true });
  return { key: privateKey, alg, kid, jwk: { ...(await exportJWK(publicKey)), kid, alg, use: 'sig' } };
}

describe.each(DIALECTS)('private_key_jwt over HTTP (%s)', (dialect) => {
  let server: TestServer;
  let jwksServer: Server;
  let jwksUrl: string;
  let served: JWK[] = [];
  let fetches = 0;
  let inline: Signer & { jwk: JWK };
  let remote: Signer & { jwk: JWK };
  let inlineApp: string;
  let remoteApp: string;
  let secretApp: { id: string; secret: string };
  // The server's clock runs ahead by `skew` ms: the jwks_uri refetch cooldown can pass without waiting.
  let skew = 0;

  beforeAll(async () => {
    jwksServer = createServer((_req, res) => {
      fetches++;
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ keys: served }));
    });
    await new Promise<void>((resolve) => jwksServer.listen(0, '127.0.0.1', resolve));
    jwksUrl = `http://127.0.0.1:${(jwksServer.address() as AddressInfo).port}/jwks.json`;
    server = await startTestServer(dialect, { env: { TESSERA_REDIRECT_URI_POLICY: 'development' }, clock: { now: () => Date.now() + skew } });
    const { services } = server.tessera;
    await services.users.create({ username: 'svc-signed', password: 'correct horse battery', roles: ['developer'] }, SYSTEM);
    inline = await signer('ES256');
    remote = await signer('RS256');
    served = [remote.jwk];
    const a = await services.clients.create({
      name: 'Signed job',
      grantTypes: ['client_credentials', 'urn:ietf:params:oauth:grant-type:device_code'],
      onBehalfOf: 'svc-signed',
      tokenEndpointAuthMethod: 'private_key_jwt',
      jwks: { keys: [inline.jwk] },
    }, SYSTEM);
    expect(a.client_secret).toBeUndefined();
    inlineApp = a.client_id;
    const b = await services.clients.create({
      name: 'Signed by URL',
      grantTypes: ['client_credentials'],
      onBehalfOf: 'svc-signed',
      tokenEndpointAuthMethod: 'private_key_jwt',
      jwksUri: jwksUrl,
    }, SYSTEM);
    remoteApp = b.client_id;
    const c = await services.clients.create({ name: 'Secret job', grantTypes: ['client_credentials'], onBehalfOf: 'svc-signed' }, SYSTEM);
    secretApp = { id: c.client_id, secret: c.client_secret! };
  });
  afterAll(async () => {
    await server?.close();
    await new Promise((resolve) => jwksServer?.close(resolve));
  });

  function assertion(clientId: string, s: Signer, claims: Record<string, unknown> = {}, header: Record<string, unknown> = {}): Promise<string> {
    const now = Math.floor(Date.now() / 1000);
    return new SignJWT({ jti: randomUUID(), ...claims })
      .setProtectedHeader({ alg: s.alg, kid: s.kid, ...header })
      .setIssuer(String(claims.iss ?? clientId))
      .setSubject(String(claims.sub ?? clientId))
      .setAudience((claims.aud as string) ?? `${server.url}/connect/token`)
      .setIssuedAt(now)
      .setExpirationTime((claims.exp as number) ?? now + 60)
      .sign(s.key);
  }

  const token = (jwt: string, extra: Record<string, string> = {}) =>
    postForm(`${server.url}/connect/token`, { grant_type: 'client_credentials', client_assertion_type: JWT_BEARER_ASSERTION_TYPE, client_assertion: jwt, ...extra });

  async function refused(res: Response, says: RegExp): Promise<void> {
    expect(res.status).toBe(401);
    const body = (await res.json()) as { error: string; error_description: string };
    expect(body.error).toBe('invalid_client');
    expect(body.error_description).toMatch(says);
  }

  test('an assertion signed with the inline key gets a token; aud may be the token endpoint or the issuer', async () => {
    const res = await token(await assertion(inlineApp, inline));
    expect(res.status).toBe(200);
    expect(((await res.json()) as { access_token?: string }).access_token).toBeTruthy();
    expect((await token(await assertion(inlineApp, inline, { aud: server.url }))).status).toBe(200);
    // RFC 7521 §4.2: a client_id in the body is allowed when it names the same app.
    expect((await token(await assertion(inlineApp, inline), { client_id: inlineApp })).status).toBe(200);
  });

  test('a replayed assertion (same jti) is refused; the same jti from another app is not a replay of it', async () => {
    const jwt = await assertion(inlineApp, inline, { jti: 'fixed-jti' });
    expect((await token(jwt)).status).toBe(200);
    await refused(await token(jwt), /replay/);
    await refused(await token(await assertion(inlineApp, inline, { jti: 'fixed-jti' })), /replay/);
    expect((await token(await assertion(remoteApp, remote, { jti: 'fixed-jti' }))).status).toBe(200);
  });

  test('wrong audience, expired, too long-lived, iss ≠ sub, missing jti: invalid_client', async () => {
    const now = Math.floor(Date.now() / 1000);
    await refused(await token(await assertion(inlineApp, inline, { aud: 'https://elsewhere.example/connect/token' })), /aud/);
    await refused(await token(await assertion(inlineApp, inline, { exp: now - 120 })), /expired/);
    await refused(await token(await assertion(inlineApp, inline, { exp: now + 3600 })), /more than 300 seconds/);
    await refused(await token(await assertion(inlineApp, inline, { iss: secretApp.id })), /iss and sub/);
    const noJti = await new SignJWT({}).setProtectedHeader({ alg: 'ES256', kid: inline.kid }).setIssuer(inlineApp).setSubject(inlineApp)
      .setAudience(`${server.url}/connect/token`).setExpirationTime('1m').sign(inline.key);
    await refused(await token(noJti), /jti/);
  });

  test('HS256 (even keyed with a string), alg none and a key that is not the app’s are refused', async () => {
    const hs = await new SignJWT({ jti: randomUUID() }).setProtectedHeader({ alg: 'HS256' }).setIssuer(inlineApp).setSubject(inlineApp)
      .setAudience(`${server.url}/connect/token`).setExpirationTime('1m').sign(new TextEncoder().encode('a shared secret of some length!!'));
    await refused(await token(hs), /alg must be one of/);
    const head = Buffer.from(JSON.stringify({ alg: 'none' })).toString('base64url');
    const body = Buffer.from(JSON.stringify({ iss: inlineApp, sub: inlineApp, aud: `${server.url}/connect/token`, jti: randomUUID(), exp: Math.floor(Date.now() / 1000) + 60 })).toString('base64url');
    await refused(await token(`${head}.${body}.`), /alg must be one of|not a valid/);
    const stranger = await signer('ES256', inline.kid);
    await refused(await token(await assertion(inlineApp, stranger)), /signature/);
  });

  test('jwks_uri: keys fetched once and cached; an unknown kid fetches them again (rotation)', async () => {
    const before = fetches;
    expect((await token(await assertion(remoteApp, remote))).status).toBe(200);
    expect((await token(await assertion(remoteApp, remote))).status).toBe(200);
    expect(fetches - before).toBeLessThanOrEqual(1);
    const rotated = await signer('PS256');
    served = [remote.jwk, rotated.jwk];
    const afterRotation = fetches;
    // Within 30 s of the last fetch an unknown kid does not fetch again (a stream of forged kids cannot hammer the app).
    await refused(await token(await assertion(remoteApp, rotated)), /no registered key/);
    expect(fetches).toBe(afterRotation);
    skew += 31_000;
    expect((await token(await assertion(remoteApp, rotated))).status).toBe(200);
    expect(fetches).toBe(afterRotation + 1);
    // A kid the app never published: refused.
    await refused(await token(await assertion(remoteApp, await signer('ES256'))), /no registered key/);
  });

  test('the app that signs cannot use a secret, and a secret app cannot use an assertion', async () => {
    await refused(await postForm(`${server.url}/connect/token`, { grant_type: 'client_credentials', client_id: inlineApp, client_secret: 'guess' }), /private_key_jwt/);
    const s = await signer('ES256');
    await refused(await token(await assertion(secretApp.id, s)), /not registered for private_key_jwt/);
    expect((await postForm(`${server.url}/connect/token`, { grant_type: 'client_credentials' }, { authorization: basic(secretApp.id, secretApp.secret) })).status).toBe(200);
  });

  test('an assertion together with another method, or a foreign assertion type, is refused', async () => {
    const jwt = await assertion(inlineApp, inline);
    const both = await postForm(`${server.url}/connect/token`, { grant_type: 'client_credentials', client_assertion_type: JWT_BEARER_ASSERTION_TYPE, client_assertion: jwt }, { authorization: basic(secretApp.id, secretApp.secret) });
    expect(both.status).toBe(400);
    expect(((await both.json()) as { error: string }).error).toBe('invalid_request');
    await refused(await token(jwt, { client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:saml2-bearer' }), /client_assertion_type/);
    await refused(await token(jwt, { client_id: secretApp.id }), /differs/);
    await refused(await token('not.a.jwt'), /not a JWT/);
  });

  test('introspection, revocation and device authorization accept assertions (aud: that endpoint, the token endpoint or the issuer)', async () => {
    const got = (await (await token(await assertion(inlineApp, inline))).json()) as { access_token: string };
    const auth = async (aud: string) => ({ client_assertion_type: JWT_BEARER_ASSERTION_TYPE, client_assertion: await assertion(inlineApp, inline, { aud }) });
    const intro = await postForm(`${server.url}/connect/introspect`, { token: got.access_token, ...(await auth(`${server.url}/connect/introspect`)) });
    expect(intro.status).toBe(200);
    expect(await intro.json()).toMatchObject({ active: true, client_id: inlineApp });
    const device = await postForm(`${server.url}/connect/deviceauthorization`, { ...(await auth(server.url)) });
    expect(device.status).toBe(200);
    expect(await device.json()).toHaveProperty('device_code');
    const rev = await postForm(`${server.url}/connect/revocation`, { token: got.access_token, ...(await auth(`${server.url}/connect/token`)) });
    expect(rev.status).toBe(200);
    const after = await postForm(`${server.url}/connect/introspect`, { token: got.access_token, ...(await auth(server.url)) });
    expect(await after.json()).toEqual({ active: false });
    await refused(await postForm(`${server.url}/connect/introspect`, { token: got.access_token, ...(await auth(`${server.url}/connect/revocation`)) }), /aud/);
  });

  test('discovery lists private_key_jwt and the signing algorithms', async () => {
    const doc = (await (await fetch(`${server.url}/.well-known/openid-configuration`)).json()) as Record<string, string[]>;
    expect(doc.token_endpoint_auth_methods_supported).toContain('private_key_jwt');
    expect(doc.token_endpoint_auth_signing_alg_values_supported).toEqual(['RS256', 'PS256', 'ES256', 'EdDSA']);
    expect(doc.introspection_endpoint_auth_methods_supported).toContain('private_key_jwt');
  });

  test('registration refuses a private key, an HMAC key, both jwks and jwks_uri, and private_key_jwt without keys', async () => {
    const { services } = server.tessera;
    const { privateKey } = await generateKeyPair('ES256', { extractable: true });
    const base = { name: 'x', grantTypes: ['client_credentials'], onBehalfOf: 'svc-signed', tokenEndpointAuthMethod: 'private_key_jwt' };
    await expect(services.clients.create({ ...base, jwks: { keys: [await exportJWK(privateKey)] } }, SYSTEM)).rejects.toThrow(/private key/);
    await expect(services.clients.create({ ...base, jwks: { keys: [{ kty: 'oct', k: 'c2VjcmV0' }] } }, SYSTEM)).rejects.toThrow(/kty/);
    await expect(services.clients.create({ ...base, jwks: { keys: [inline.jwk] }, jwksUri: jwksUrl }, SYSTEM)).rejects.toThrow(/not both/);
    await expect(services.clients.create(base, SYSTEM)).rejects.toThrow(/give jwks or jwks_uri/);
    await expect(services.clients.create({ ...base, jwksUri: 'http://10.0.0.1/jwks' }, SYSTEM)).rejects.toThrow(/jwks_uri/);
    // Setting one clears the other; turning keys off while the app still signs is refused.
    const updated = await services.clients.update(inlineApp, { jwksUri: jwksUrl }, SYSTEM);
    expect(updated).toMatchObject({ jwks: null, jwks_uri: jwksUrl, token_endpoint_auth_method: 'private_key_jwt' });
    await expect(services.clients.update(inlineApp, { jwksUri: null }, SYSTEM)).rejects.toThrow(/give jwks or jwks_uri/);
    const back = await services.clients.update(inlineApp, { jwks: JSON.stringify({ keys: [inline.jwk] }) }, SYSTEM);
    expect(back).toMatchObject({ jwks_uri: null, jwks: { keys: [inline.jwk] } });
  });
});
