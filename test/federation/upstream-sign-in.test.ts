import { randomBytes, randomUUID } from 'node:crypto';
import { createServer } from 'node:net';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, beforeEach, describe, expect, test } from 'vitest';
import type { Clock } from '../../src/clock.ts';
import { discoverProvider } from '../../src/federation/discovery.ts';
import type { FailureKind } from '../../src/federation/failures.ts';
import { JwksCache } from '../../src/federation/jwks-cache.ts';
import { outboundHttp } from '../../src/federation/outbound.ts';
import { KyselyPendingSignInStore } from '../../src/federation/pending-sign-in-store.ts';
import { providerRedirectUri, type IdentityProvider, type ProviderEndpoints } from '../../src/federation/provider.ts';
import { KyselyProviderStore } from '../../src/federation/provider-store.ts';
import { PENDING_SIGN_IN_TTL_S, UpstreamSignIn, type CallbackResult } from '../../src/federation/upstream-sign-in.ts';
import { KeyEncrypter } from '../../src/keys/encryption.ts';
import { sha256 } from '../../src/lib/crypto.ts';
import { migrateToLatest, openDatabase, type DatabaseHandle } from '../../src/storage/database.ts';
import { createTestDatabase, DIALECTS, type TestDatabase } from '../support/databases.ts';
import { startOidcUpstream, type OidcUpstream } from '../support/oidc-upstream.ts';
import { publicResolver } from '../support/server.ts';
import { startTestUpstream, type TestUpstream } from '../support/test-upstream.ts';

/**
 * Signing in through upstream providers (issue #11), protocol core against real servers:
 * node-oidc-provider (its own login and consent pages), a small OIDC provider and a
 * GitHub-style OAuth 2.0 provider written for the tests. Every failure is a typed outcome.
 */

/** Tessera's issuer in these tests; its callback is never contacted (the tests read the redirect). */
const TESSERA = 'http://127.0.0.1:9';
const RETURN_TO = '/connect/authorize?client_id=app&state=xyz';
const devPolicy = { mode: 'development' as const, resolve: publicResolver };
const strictPolicy = { mode: 'strict' as const, resolve: publicResolver };
const http = outboundHttp({ timeoutMs: 1500, maxBytes: 64 * 1024 });
const encrypter = new KeyEncrypter(randomBytes(32));

let oidcProvider: OidcUpstream;
let smallOidc: TestUpstream;
let github: TestUpstream;
/** A port nothing listens on. */
let closedPort: number;

beforeAll(async () => {
  oidcProvider = await startOidcUpstream(providerRedirectUri(TESSERA, 'acme'));
  smallOidc = await startTestUpstream('oidc');
  github = await startTestUpstream('oauth2');
  const probe = createServer();
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
  closedPort = (probe.address() as AddressInfo).port;
  await new Promise<void>((resolve) => probe.close(() => resolve()));
});

afterAll(async () => {
  await oidcProvider?.close();
  await smallOidc?.close();
  await github?.close();
});

async function discovered(issuer: string): Promise<ProviderEndpoints> {
  const result = await discoverProvider(issuer, http, devPolicy);
  if (!result.ok) throw new Error(result.reason);
  return result.endpoints;
}

function makeProvider(slug: string, fields: Pick<IdentityProvider, 'kind' | 'issuer' | 'endpoints' | 'clientId'> & { secret: string } & Partial<IdentityProvider>): IdentityProvider {
  const { secret, ...rest } = fields;
  return {
    id: randomUUID(),
    slug,
    name: slug,
    claimMapping: null,
    clientSecretSealed: encrypter.encrypt(secret),
    scopes: ['openid', 'email', 'profile'],
    defaultRoles: [],
    trustEmail: false,
    enabled: true,
    createdAt: 0,
    updatedAt: 0,
    ...rest,
  };
}

describe('discovery', () => {
  test('node-oidc-provider’s document: endpoints, Basic client auth, RFC 9207 iss, RS256', async () => {
    const endpoints = await discovered(oidcProvider.issuer);
    expect(endpoints).toEqual({
      authorizationEndpoint: `${oidcProvider.issuer}/auth`,
      tokenEndpoint: `${oidcProvider.issuer}/token`,
      userinfoEndpoint: `${oidcProvider.issuer}/me`,
      jwksUri: `${oidcProvider.issuer}/jwks`,
      tokenEndpointAuthMethod: 'client_secret_basic',
      idTokenSigningAlgs: expect.arrayContaining(['RS256']),
      issParameterSupported: true,
    });
    expect(endpoints.idTokenSigningAlgs).not.toContain('HS256');
  });

  test('an issuer with a trailing slash is not the issuer the document names', async () => {
    const result = await discoverProvider(`${oidcProvider.issuer}/`, http, devPolicy);
    expect(result).toMatchObject({ ok: false, reason: expect.stringContaining('names the issuer') });
  });

  test('strict mode refuses an http loopback issuer; development mode takes it', async () => {
    expect(await discoverProvider(oidcProvider.issuer, http, strictPolicy)).toMatchObject({ ok: false, reason: expect.stringMatching(/^issuer must use https/) });
    expect((await discoverProvider(oidcProvider.issuer, http, devPolicy)).ok).toBe(true);
    expect(await discoverProvider('http://10.0.0.5', http, devPolicy)).toMatchObject({ ok: false, reason: expect.stringMatching(/^issuer must use https/) });
    expect(await discoverProvider('https://sso.example.com/?tenant=1', http, strictPolicy)).toMatchObject({ ok: false, reason: 'issuer must not have a query or fragment' });
  });

  test.each([
    ['another issuer', { body: JSON.stringify({ issuer: 'https://evil.example' }) }, 'names the issuer'],
    ['an HTML page', { body: '<html></html>', contentType: 'text/html' }, 'did not answer a JSON object'],
    ['a 404', { status: 404, body: '{}' }, 'answered HTTP 404'],
    ['more than the size limit', { body: JSON.stringify({ padding: 'x'.repeat(100_000) }) }, 'larger than'],
  ])('a discovery document that is %s is refused', async (_name, override, reason) => {
    smallOidc.behaviour = { override: { discovery: override } };
    try {
      expect(await discoverProvider(smallOidc.issuer, http, devPolicy)).toMatchObject({ ok: false, reason: expect.stringContaining(reason) });
    } finally {
      smallOidc.behaviour = {};
    }
  });

  test('a document whose endpoints break the policy, or that lacks one, is refused', async () => {
    const doc = (extra: Record<string, unknown>) => ({ body: JSON.stringify({ issuer: smallOidc.issuer, authorization_endpoint: `${smallOidc.issuer}/a`, token_endpoint: `${smallOidc.issuer}/t`, jwks_uri: `${smallOidc.issuer}/j`, ...extra }) });
    const cases: [Record<string, unknown>, string][] = [
      [{ token_endpoint: 'http://192.168.1.10/token' }, 'token_endpoint must use https'],
      [{ jwks_uri: undefined }, 'has no jwks_uri'],
      [{ userinfo_endpoint: 'file:///etc/passwd' }, 'userinfo_endpoint must use https'],
      [{ id_token_signing_alg_values_supported: ['HS256', 'none'] }, 'no algorithm Tessera accepts'],
      [{ token_endpoint_auth_methods_supported: ['private_key_jwt'] }, 'neither client_secret_basic nor client_secret_post'],
      [{ response_types_supported: ['id_token'] }, 'authorization code flow'],
    ];
    try {
      for (const [extra, reason] of cases) {
        smallOidc.behaviour = { override: { discovery: doc(extra) } };
        expect(await discoverProvider(smallOidc.issuer, http, devPolicy), reason).toMatchObject({ ok: false, reason: expect.stringContaining(reason) });
      }
    } finally {
      smallOidc.behaviour = {};
    }
  });

  test('a provider that is down: connection refused, or no answer in time', async () => {
    expect(await discoverProvider(`http://127.0.0.1:${closedPort}`, http, devPolicy)).toMatchObject({ ok: false, reason: expect.stringContaining('connection refused') });
    smallOidc.behaviour = { hang: 'discovery' };
    try {
      expect(await discoverProvider(smallOidc.issuer, outboundHttp({ timeoutMs: 300, maxBytes: 1024 }), devPolicy)).toMatchObject({ ok: false, reason: expect.stringContaining('timed out') });
    } finally {
      smallOidc.behaviour = {};
    }
  });
});

describe.each(DIALECTS)('upstream sign-in on %s', (dialect) => {
  let database: TestDatabase;
  let handle: DatabaseHandle;
  let providers: KyselyProviderStore;
  let offsetMs = 0;
  const clock: Clock = { now: () => Date.now() + offsetMs };
  let jwks: JwksCache;
  let flow: UpstreamSignIn;
  let acme: IdentityProvider;
  let small: IdentityProvider;
  let gh: IdentityProvider;

  beforeAll(async () => {
    database = await createTestDatabase(dialect);
    handle = openDatabase(database.url);
    await migrateToLatest(handle);
    providers = new KyselyProviderStore(handle.db);
    acme = makeProvider('acme', { kind: 'oidc', issuer: oidcProvider.issuer, endpoints: await discovered(oidcProvider.issuer), clientId: oidcProvider.clientId, secret: oidcProvider.clientSecret });
    small = makeProvider('small', { kind: 'oidc', issuer: smallOidc.issuer, endpoints: await discovered(smallOidc.issuer), clientId: smallOidc.clientId, secret: smallOidc.clientSecret });
    gh = makeProvider('github', {
      kind: 'oauth2',
      issuer: null,
      endpoints: {
        authorizationEndpoint: `${github.issuer}/authorize`,
        tokenEndpoint: `${github.issuer}/token`,
        userinfoEndpoint: `${github.issuer}/user`,
        jwksUri: null,
        tokenEndpointAuthMethod: 'client_secret_basic',
        idTokenSigningAlgs: [],
        issParameterSupported: false,
      },
      claimMapping: { subject: 'id', email: 'email', name: 'name', preferredUsername: 'login' },
      clientId: github.clientId,
      secret: github.clientSecret,
      scopes: ['read:user', 'user:email'],
    });
    for (const p of [acme, small, gh]) expect(await providers.insert(p)).toBe(true);
  });

  afterAll(async () => {
    await handle?.close();
    await database?.drop();
  });

  beforeEach(() => {
    offsetMs = 0;
    smallOidc.behaviour = {};
    github.behaviour = {};
    jwks = new JwksCache(http, clock);
    flow = new UpstreamSignIn({ pending: new KyselyPendingSignInStore(handle.db), http, jwks, secrets: encrypter, clock });
  });

  /** Starts a sign-in as a fresh browser; answers the URL to follow and the browser's cookie value. */
  async function begin(provider: IdentityProvider, browserValue?: string): Promise<{ url: string; browser: string }> {
    const started = await flow.start({ provider, redirectUri: providerRedirectUri(TESSERA, provider.slug), returnTo: RETURN_TO, browserValue });
    if (!started.ok) throw new Error(started.failure.reason);
    return { url: started.authorizationUrl, browser: started.browserValue };
  }

  function expectFailure(result: CallbackResult, kind: FailureKind, reason?: string | RegExp): void {
    expect(result.ok, JSON.stringify(result)).toBe(false);
    if (result.ok) return;
    expect(result.failure.kind, result.failure.reason).toBe(kind);
    if (reason !== undefined) expect(result.failure.reason).toMatch(reason);
  }

  describe('node-oidc-provider upstream', () => {
    test('sign-in through its login and consent pages ends with the profile, and where to resume', async () => {
      const { url, browser } = await begin(acme);
      const q = new URL(url).searchParams;
      expect(Object.fromEntries(q)).toMatchObject({ response_type: 'code', client_id: oidcProvider.clientId, redirect_uri: providerRedirectUri(TESSERA, 'acme'), scope: 'openid email profile', code_challenge_method: 'S256' });
      expect(q.get('state')).toMatch(/^[\w-]{43}$/);
      expect(q.get('nonce')).toMatch(/^[\w-]{43}$/);
      expect(q.get('code_challenge')).toMatch(/^[\w-]{43}$/);

      const callback = await oidcProvider.signIn(url, 'alice');
      expect(callback.get('iss')).toBe(oidcProvider.issuer);
      const result = await flow.finish({ provider: acme, params: callback, browserValue: browser });
      expect(result).toEqual({
        ok: true,
        returnTo: RETURN_TO,
        profile: {
          providerId: acme.id,
          providerSlug: 'acme',
          subject: 'alice',
          email: 'alice@upstream.example',
          emailVerified: true,
          name: 'alice Upstream',
          givenName: 'alice',
          familyName: 'Upstream',
          preferredUsername: null,
        },
      });
    });

    test('the state is stored only as a hash, the browser only as a hash of its cookie', async () => {
      const { url, browser } = await begin(acme);
      const state = new URL(url).searchParams.get('state')!;
      const row = await handle.db.selectFrom('upstream_sign_ins').selectAll().where('state_hash', '=', sha256(state)).executeTakeFirstOrThrow();
      expect(row.browser_hash).toBe(sha256(browser));
      expect(JSON.stringify(row)).not.toContain(state);
      expect(JSON.stringify(row)).not.toContain(browser);
    });

    test('two sign-ins in two tabs of one browser both work', async () => {
      const first = await begin(acme);
      const second = await begin(acme, first.browser);
      expect(second.browser).toBe(first.browser);
      expect((await flow.finish({ provider: acme, params: await oidcProvider.signIn(second.url, 'bob'), browserValue: first.browser })).ok).toBe(true);
      expect((await flow.finish({ provider: acme, params: await oidcProvider.signIn(first.url, 'bob'), browserValue: first.browser })).ok).toBe(true);
    });

    test('the user cancels at the provider: cancelled, and the app’s request can be answered', async () => {
      const { url, browser } = await begin(acme);
      const callback = await oidcProvider.cancel(url);
      expect(callback.get('error')).toBe('access_denied');
      const result = await flow.finish({ provider: acme, params: callback, browserValue: browser });
      expectFailure(result, 'cancelled');
      expect(result).toMatchObject({ returnTo: RETURN_TO, failure: { upstreamError: 'access_denied' } });
    });

    test('a replayed callback is refused, even with the right browser', async () => {
      const { url, browser } = await begin(acme);
      const callback = await oidcProvider.signIn(url, 'carol');
      expect((await flow.finish({ provider: acme, params: callback, browserValue: browser })).ok).toBe(true);
      const replay = await flow.finish({ provider: acme, params: callback, browserValue: browser });
      expectFailure(replay, 'bad_state', /replayed/);
      expect(replay).toMatchObject({ returnTo: null });
    });

    test('a forged or missing state is refused', async () => {
      const { url, browser } = await begin(acme);
      const callback = await oidcProvider.signIn(url, 'dave');
      const forged = new URLSearchParams(callback);
      forged.set('state', randomBytes(32).toString('base64url'));
      expectFailure(await flow.finish({ provider: acme, params: forged, browserValue: browser }), 'bad_state', /unknown state/);
      forged.delete('state');
      expectFailure(await flow.finish({ provider: acme, params: forged, browserValue: browser }), 'bad_state', /no state/);
      forged.set('state', 'x'.repeat(10_000));
      expectFailure(await flow.finish({ provider: acme, params: forged, browserValue: browser }), 'bad_state');
    });

    test('a callback in another browser (login CSRF) is refused and uses up the state', async () => {
      const { url, browser } = await begin(acme);
      const callback = await oidcProvider.signIn(url, 'eve');
      expectFailure(await flow.finish({ provider: acme, params: callback, browserValue: undefined }), 'bad_state', /another browser/);
      expectFailure(await flow.finish({ provider: acme, params: callback, browserValue: randomBytes(32).toString('base64url') }), 'bad_state', /replayed/);
      expectFailure(await flow.finish({ provider: acme, params: callback, browserValue: browser }), 'bad_state', /replayed/);
    });

    test('a state issued for one provider is refused at another provider’s callback', async () => {
      const { url, browser } = await begin(acme);
      const callback = await oidcProvider.signIn(url, 'fay');
      expectFailure(await flow.finish({ provider: small, params: callback, browserValue: browser }), 'bad_state', /another provider/);
      expectFailure(await flow.finish({ provider: undefined, params: callback, browserValue: browser }), 'bad_state');
    });

    test('mix-up (RFC 9207): another issuer in iss, or none where the provider always sends it', async () => {
      for (const iss of [smallOidc.issuer, null]) {
        const { url, browser } = await begin(acme);
        const callback = await oidcProvider.signIn(url, 'gus');
        if (iss === null) callback.delete('iss');
        else callback.set('iss', iss);
        const result = await flow.finish({ provider: acme, params: callback, browserValue: browser });
        expectFailure(result, 'issuer_mismatch');
        expect(result.returnTo).toBe(RETURN_TO);
      }
    });

    test('a callback after the sign-in expired is refused', async () => {
      const { url, browser } = await begin(acme);
      const callback = await oidcProvider.signIn(url, 'hal');
      offsetMs = PENDING_SIGN_IN_TTL_S * 1000;
      expectFailure(await flow.finish({ provider: acme, params: callback, browserValue: browser }), 'expired');
    });

    test('an ID token with another nonce than this sign-in’s is refused', async () => {
      const { url, browser } = await begin(acme);
      const state = new URL(url).searchParams.get('state')!;
      // As if the ID token had been issued for another sign-in: what this one expects differs.
      await handle.db.updateTable('upstream_sign_ins').set({ nonce: randomBytes(32).toString('base64url') }).where('state_hash', '=', sha256(state)).execute();
      const callback = await oidcProvider.signIn(url, 'ida');
      expectFailure(await flow.finish({ provider: acme, params: callback, browserValue: browser }), 'bad_token', /nonce/);
    });

    test('a code from another sign-in (code injection) fails PKCE at the provider', async () => {
      const victim = await begin(acme);
      const attacker = await begin(acme);
      const stolen = await oidcProvider.signIn(attacker.url, 'mallory');
      const own = await oidcProvider.signIn(victim.url, 'victim');
      own.set('code', stolen.get('code')!);
      const result = await flow.finish({ provider: acme, params: own, browserValue: victim.browser });
      expectFailure(result, 'upstream_error', /invalid_grant/);
    });

    test('a provider disabled meanwhile: no new sign-ins, none finished', async () => {
      const { url, browser } = await begin(acme);
      const callback = await oidcProvider.signIn(url, 'jan');
      const disabled = { ...acme, enabled: false };
      expectFailure(await flow.finish({ provider: disabled, params: callback, browserValue: browser }), 'provider_unavailable', /disabled/);
      expect(await flow.start({ provider: disabled, redirectUri: providerRedirectUri(TESSERA, 'acme'), returnTo: null, browserValue: undefined })).toMatchObject({ ok: false, failure: { kind: 'provider_unavailable' } });
    });

    test('a client secret sealed under another key-encryption key: provider unavailable, not a crash', async () => {
      const { url, browser } = await begin(acme);
      const callback = await oidcProvider.signIn(url, 'kim');
      const resealed = { ...acme, clientSecretSealed: new KeyEncrypter(randomBytes(32)).encrypt(oidcProvider.clientSecret) };
      expectFailure(await flow.finish({ provider: resealed, params: callback, browserValue: browser }), 'provider_unavailable', /cannot be decrypted/);
    });

    test('a wrong client secret: the provider refuses the token request', async () => {
      const { url, browser } = await begin(acme);
      const callback = await oidcProvider.signIn(url, 'lea');
      const wrong = { ...acme, clientSecretSealed: encrypter.encrypt('not the secret') };
      expectFailure(await flow.finish({ provider: wrong, params: callback, browserValue: browser }), 'upstream_error', /invalid_client/);
    });
  });

  describe('a small OIDC provider (client_secret_post, ES256, no iss parameter)', () => {
    async function signIn(): Promise<CallbackResult> {
      const { url, browser } = await begin(small);
      return flow.finish({ provider: small, params: await smallOidc.authorize(url), browserValue: browser });
    }

    test('signs in; userinfo adds the name; email_verified false stays false', async () => {
      expect(await signIn()).toMatchObject({ ok: true, profile: { subject: 'user-583231', name: 'Mona Octocat', email: 'mona@github.example', emailVerified: false } });
    });

    test('an ID token signed by a key the provider does not publish is refused', async () => {
      smallOidc.behaviour = { signWithUnpublishedKey: true };
      expectFailure(await signIn(), 'bad_token', /signature/);
    });

    test.each([
      ['another issuer', { iss: 'https://evil.example' }, /iss/],
      ['another audience', { aud: 'someone-else' }, /aud/],
      ['several audiences and no azp', { aud: ['small-placeholder', 'someone-else'] }, /azp/],
      ['an azp naming another client', { azp: 'someone-else' }, /azp/],
      ['an expiry in the past', { exp: Math.floor(Date.now() / 1000) - 600 }, /exp/],
      ['no subject', { sub: undefined }, /sub/],
      ['no nonce', { nonce: undefined }, /nonce/],
    ])('an ID token with %s is refused', async (_name, claims, reason) => {
      const fixed = { ...claims } as Record<string, unknown>;
      if (Array.isArray(fixed.aud)) fixed.aud = [smallOidc.clientId, 'someone-else'];
      smallOidc.behaviour = { idTokenClaims: fixed };
      expectFailure(await signIn(), 'bad_token', reason);
    });

    test('several audiences with azp naming Tessera are fine', async () => {
      smallOidc.behaviour = { idTokenClaims: { aud: [smallOidc.clientId, 'someone-else'], azp: smallOidc.clientId } };
      expect((await signIn()).ok).toBe(true);
    });

    test('userinfo for another subject than the ID token is refused', async () => {
      smallOidc.behaviour = { idTokenClaims: { sub: 'someone-else' } };
      expectFailure(await signIn(), 'bad_token', /another subject/);
    });

    test('key rotation: an unknown kid fetches the keys again, at most once per cooldown', async () => {
      expect((await signIn()).ok).toBe(true);
      const fetches = () => smallOidc.hits.get('/jwks') ?? 0;
      const before = fetches();
      // Keys fetched less than a cooldown ago are not fetched again (as jose's remote JWK set).
      offsetMs = 31_000;
      await smallOidc.rotateKey();
      expect((await signIn()).ok).toBe(true);
      expect(fetches()).toBe(before + 1);
      // A stream of made-up kids does not make Tessera hammer the provider.
      smallOidc.behaviour = { kid: 'made-up' };
      expectFailure(await signIn(), 'bad_token', /does not publish/);
      expectFailure(await signIn(), 'bad_token', /does not publish/);
      expect(fetches()).toBe(before + 1);
      offsetMs = 62_000;
      expectFailure(await signIn(), 'bad_token', /does not publish/);
      expect(fetches()).toBe(before + 2);
    });

    test('the keys cannot be fetched: provider unreachable', async () => {
      smallOidc.behaviour = { hang: 'jwks' };
      const slow = new UpstreamSignIn({ pending: new KyselyPendingSignInStore(handle.db), http, jwks: new JwksCache(outboundHttp({ timeoutMs: 300, maxBytes: 65536 }), clock), secrets: encrypter, clock });
      const { url, browser } = await begin(small);
      const result = await slow.finish({ provider: small, params: await smallOidc.authorize(url), browserValue: browser });
      expectFailure(result, 'unreachable', /timed out/);
    });

    test('a token response without an ID token is refused', async () => {
      smallOidc.behaviour = { override: { token: { body: JSON.stringify({ access_token: 'x', token_type: 'Bearer' }) } } };
      expectFailure(await signIn(), 'bad_response', /no id_token/);
    });
  });

  describe('a GitHub-style OAuth 2.0 provider', () => {
    async function signIn(provider = gh): Promise<CallbackResult> {
      const { url, browser } = await begin(provider);
      expect(new URL(url).searchParams.has('nonce')).toBe(false);
      return flow.finish({ provider, params: await github.authorize(url), browserValue: browser });
    }

    test('signs in with the claim mapping: numeric id as subject, login, name, unverified email', async () => {
      expect(await signIn()).toEqual({
        ok: true,
        returnTo: RETURN_TO,
        profile: {
          providerId: gh.id,
          providerSlug: 'github',
          subject: '583231',
          email: 'mona@github.example',
          emailVerified: false,
          name: 'Mona Octocat',
          givenName: null,
          familyName: null,
          preferredUsername: 'octocat',
        },
      });
    });

    test('a userinfo answer without the mapped subject is refused', async () => {
      expectFailure(await signIn({ ...gh, claimMapping: { subject: 'uuid' } }), 'bad_response', /subject/);
    });

    test.each([
      ['a token response that is not JSON', { token: { body: 'access_token=x&token_type=bearer', contentType: 'application/x-www-form-urlencoded' } }, 'bad_response'],
      ['a 200 token response with an error (GitHub does this)', { token: { body: JSON.stringify({ error: 'bad_verification_code' }) } }, 'upstream_error'],
      ['a token endpoint failing with 502', { token: { status: 502, body: 'Bad gateway', contentType: 'text/plain' } }, 'unreachable'],
      ['a token type that is not bearer', { token: { body: JSON.stringify({ access_token: 'x', token_type: 'mac' }) } }, 'bad_response'],
      ['a userinfo answer over the size limit', { userinfo: { body: JSON.stringify({ id: 1, bio: 'x'.repeat(200_000) }) } }, 'bad_response'],
      ['a userinfo answer that is a JSON array', { userinfo: { body: '[1,2,3]' } }, 'bad_response'],
      ['a userinfo 401', { userinfo: { status: 401, body: '{"message":"Bad credentials"}' } }, 'bad_response'],
    ] as const)('%s is a typed failure', async (_name, override, kind) => {
      github.behaviour = { override };
      expectFailure(await signIn(), kind);
    });

    test('a provider that is down: connection refused, or no answer in time', async () => {
      const down = { ...gh, endpoints: { ...gh.endpoints, tokenEndpoint: `http://127.0.0.1:${closedPort}/token` } };
      expectFailure(await signIn(down), 'unreachable', /connection refused/);
      github.behaviour = { hang: 'userinfo' };
      const started = Date.now();
      expectFailure(await signIn(), 'unreachable', /timed out/);
      expect(Date.now() - started).toBeLessThan(5000);
    });

    test('an upstream error other than access_denied is an upstream error, its text cut short', async () => {
      const { url, browser } = await begin(gh);
      const callback = await github.authorize(url);
      callback.delete('code');
      callback.set('error', 'server_error');
      callback.set('error_description', 'x'.repeat(5000));
      const result = await flow.finish({ provider: gh, params: callback, browserValue: browser });
      expectFailure(result, 'upstream_error');
      if (!result.ok) expect(result.failure.reason.length).toBeLessThan(400);
    });

    test('with an issuer configured, a wrong iss is refused; without one, iss cannot be checked', async () => {
      github.behaviour = { issParameter: 'https://evil.example' };
      expect((await signIn()).ok).toBe(true);
      expectFailure(await signIn({ ...gh, issuer: github.issuer }), 'issuer_mismatch');
      github.behaviour = { issParameter: github.issuer };
      expect((await signIn({ ...gh, issuer: github.issuer })).ok).toBe(true);
    });
  });
});
