import { describe, expect, test } from 'vitest';
import type { Client } from '../../src/clients/client.ts';
import { sha256 } from '../../src/lib/crypto.ts';
import { authenticateClient, presentedCredentials, type ClientLookup } from '../../src/oauth/client-auth.ts';
import { OAuthError } from '../../src/oauth/errors.ts';

/** RFC 6749 §2.3.1: form-urlencode id and secret, join with ":", then base64. */
const basic = (id: string, secret: string, scheme = 'Basic'): string =>
  `${scheme} ${Buffer.from(`${formEncode(id)}:${formEncode(secret)}`).toString('base64')}`;

/** application/x-www-form-urlencoded encoding of one value (what URLSearchParams does). */
const formEncode = (value: string): string => new URLSearchParams({ v: value }).toString().slice(2);

/** Basic with the raw text base64-encoded as given (no form-urlencoding). */
const rawBasic = (text: string, scheme = 'Basic'): string => `${scheme} ${Buffer.from(text).toString('base64')}`;

const params = (entries: Record<string, string> = {}): Map<string, string> => new Map(Object.entries(entries));

function thrown(fn: () => unknown): OAuthError {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(OAuthError);
    return error as OAuthError;
  }
  throw new Error('expected an OAuthError, nothing was thrown');
}

async function rejected(value: unknown): Promise<OAuthError> {
  try {
    await value;
  } catch (error) {
    expect(error).toBeInstanceOf(OAuthError);
    return error as OAuthError;
  }
  throw new Error('expected an OAuthError, the promise resolved');
}

describe('presentedCredentials: HTTP Basic (RFC 6749 §2.3.1, RFC 7617)', () => {
  const accepted: Array<{ name: string; header: string; body?: Record<string, string>; id: string; secret: string }> = [
    { name: 'plain id and secret', header: basic('app', 's3cret'), id: 'app', secret: 's3cret' },
    { name: 'UUID id, base64url secret', header: basic('6f1c2a3e-0000-4000-8000-000000000001', 'a-b_c'), id: '6f1c2a3e-0000-4000-8000-000000000001', secret: 'a-b_c' },
    { name: 'secret containing ":"', header: basic('app', 'pa:ss:word'), id: 'app', secret: 'pa:ss:word' },
    { name: 'secret containing "+" (sent as %2B)', header: basic('app', 'a+b'), id: 'app', secret: 'a+b' },
    { name: 'secret containing a literal "%3A"', header: basic('app', 'x%3Ay'), id: 'app', secret: 'x%3Ay' },
    { name: 'secret containing a space (sent as "+")', header: basic('app', 'a b'), id: 'app', secret: 'a b' },
    { name: 'id containing ":" and "/"', header: basic('urn:app/1', 'secret'), id: 'urn:app/1', secret: 'secret' },
    { name: 'non-ASCII secret', header: basic('app', 'pässwörd✓'), id: 'app', secret: 'pässwörd✓' },
    // A form-urlencoded "+" is a space: a client that does not encode "+" sends a different secret.
    { name: 'unencoded "+" decodes to a space', header: rawBasic('app:a+b'), id: 'app', secret: 'a b' },
    { name: 'unencoded ":" in the secret: first colon separates', header: rawBasic('app:a:b'), id: 'app', secret: 'a:b' },
    { name: 'percent-encoded ":" in the secret', header: rawBasic('app:a%3Ab'), id: 'app', secret: 'a:b' },
    { name: 'empty secret', header: rawBasic('app:'), id: 'app', secret: '' },
    { name: 'scheme in lower case', header: basic('app', 'pw', 'basic'), id: 'app', secret: 'pw' },
    { name: 'scheme in upper case', header: basic('app', 'pw', 'BASIC'), id: 'app', secret: 'pw' },
    { name: 'scheme in mixed case', header: basic('app', 'pw', 'bAsIc'), id: 'app', secret: 'pw' },
    { name: 'extra spaces before the credentials', header: `Basic   ${Buffer.from('app:pw').toString('base64')}`, id: 'app', secret: 'pw' },
    { name: 'body client_id equal to the Basic user name', header: basic('app', 'pw'), body: { client_id: 'app' }, id: 'app', secret: 'pw' },
    { name: 'body client_id equal after decoding', header: basic('a b', 'pw'), body: { client_id: 'a b' }, id: 'a b', secret: 'pw' },
    { name: 'other body parameters are ignored', header: basic('app', 'pw'), body: { grant_type: 'client_credentials', scope: 'x' }, id: 'app', secret: 'pw' },
  ];

  test.each(accepted)('$name', ({ header, body, id, secret }) => {
    expect(presentedCredentials(header, params(body))).toEqual({ clientId: id, secret, method: 'client_secret_basic' });
  });

  const b64 = (s: string) => Buffer.from(s).toString('base64');
  const refused: Array<{ name: string; header: string; body?: Record<string, string>; description: RegExp }> = [
    { name: 'Basic and client_secret in the body', header: basic('app', 'pw'), body: { client_id: 'app', client_secret: 'pw' }, description: /both/ },
    { name: 'Basic and only client_secret in the body', header: basic('app', 'pw'), body: { client_secret: 'other' }, description: /both/ },
    { name: 'body client_id differs from the Basic user name', header: basic('app', 'pw'), body: { client_id: 'other' }, description: /differs/ },
    { name: 'body client_id differs only in case', header: basic('app', 'pw'), body: { client_id: 'APP' }, description: /differs/ },
    { name: 'Bearer scheme', header: 'Bearer abc.def.ghi', description: /Basic scheme/ },
    { name: 'Digest scheme', header: 'Digest username="app"', description: /Basic scheme/ },
    { name: 'scheme glued to another word', header: `Basicx ${b64('app:pw')}`, description: /Basic scheme/ },
    { name: 'empty header', header: '', description: /Basic scheme/ },
    { name: '"Basic" with no credentials', header: 'Basic', description: /base64/ },
    { name: '"Basic " with only spaces', header: 'Basic    ', description: /base64/ },
    { name: 'not base64 (punctuation)', header: 'Basic !!!!', description: /base64/ },
    { name: 'base64url alphabet is not Basic base64', header: 'Basic YXBw-OnB3_w', description: /base64/ },
    { name: 'too much padding', header: `Basic ${b64('app:p')}=`.replace(/=*$/, '==='), description: /base64/ },
    { name: 'padding in the middle', header: 'Basic YQ==YQ==', description: /base64/ },
    { name: 'two tokens after the scheme', header: `Basic ${b64('app:pw')} ${b64('x:y')}`, description: /base64/ },
    { name: 'oversized credentials', header: `Basic ${b64(`app:${'x'.repeat(3000)}`)}`, description: /base64/ },
    { name: 'no colon', header: rawBasic('app'), description: /client_id:client_secret/ },
    { name: 'empty user name', header: rawBasic(':secret'), description: /empty/ },
    { name: 'user name that decodes to nothing', header: rawBasic('%:secret'), description: /form-urlencoded/ },
    { name: 'bad percent-encoding in the secret', header: rawBasic('app:%E0%A4%A'), description: /form-urlencoded/ },
    { name: 'percent-encoding of invalid UTF-8', header: rawBasic('app:%FF'), description: /form-urlencoded/ },
  ];

  test.each(refused)('$name → invalid_request', ({ header, body, description }) => {
    const error = thrown(() => presentedCredentials(header, params(body)));
    expect(error.error).toBe('invalid_request');
    expect(error.status).toBe(400);
    expect(error.description).toMatch(description);
    expect(error.headers).toEqual({});
  });
});

describe('presentedCredentials: body credentials', () => {
  test('client_id and client_secret → client_secret_post', () => {
    expect(presentedCredentials(undefined, params({ client_id: 'app', client_secret: 'a+b:c' }))).toEqual({
      clientId: 'app',
      secret: 'a+b:c',
      method: 'client_secret_post',
    });
  });

  test('client_id alone → none (public client)', () => {
    expect(presentedCredentials(undefined, params({ client_id: 'app' }))).toEqual({ clientId: 'app', secret: undefined, method: 'none' });
  });

  test.each<{ name: string; body: Record<string, string> }>([
    { name: 'no credentials at all', body: {} },
    { name: 'client_secret without client_id', body: { client_secret: 'pw' } },
  ])('$name → invalid_client without a challenge', ({ body }) => {
    const error = thrown(() => presentedCredentials(undefined, params(body)));
    expect(error.error).toBe('invalid_client');
    expect(error.status).toBe(401);
    expect(error.headers).toEqual({});
  });

  test.each([
    { name: 'oversized client_id', body: { client_id: 'x'.repeat(513), client_secret: 'pw' } },
    { name: 'oversized client_secret', body: { client_id: 'app', client_secret: 'x'.repeat(513) } },
  ])('$name → invalid_request', ({ body }) => {
    expect(thrown(() => presentedCredentials(undefined, params(body))).error).toBe('invalid_request');
  });

  test('credentials of exactly the maximum length are accepted', () => {
    const creds = presentedCredentials(undefined, params({ client_id: 'x'.repeat(512), client_secret: 'y'.repeat(512) }));
    expect(creds.method).toBe('client_secret_post');
  });
});

function client(overrides: Partial<Client> = {}): Client {
  return {
    id: 'app',
    name: 'App',
    description: '',
    secretHash: sha256('correct-secret'),
    secretUpdatedAt: 0,
    previousSecretHash: null,
    previousSecretExpiresAt: null,
    public: false,
    grantTypes: ['client_credentials'],
    redirectUris: [],
    postLogoutRedirectUris: [],
    scopes: [],
    defaultScopes: [],
    onBehalfOfUserId: null,
    accessTokenTtl: null,
    refreshTokenTtl: null,
    requirePermission: 'developer_api',
    idTokenSignedResponseAlg: null,
    tokensValidAfter: 0,
    createdAt: 0,
    updatedAt: 0,
    ...overrides,
  };
}

const NOW = 1_800_000_000;
const confidential = client();
const publicClient = client({ id: 'spa', public: true, secretHash: null, grantTypes: ['authorization_code'] });
const registry = new Map([confidential, publicClient].map((c) => [c.id, c]));

const syncLookup: ClientLookup = (id) => registry.get(id);
const asyncLookup: ClientLookup = async (id) => registry.get(id);
const LOOKUPS = [
  { mode: 'cache hit (synchronous)', lookup: syncLookup, sync: true },
  { mode: 'cache miss (Promise)', lookup: asyncLookup, sync: false },
];

describe.each(LOOKUPS)('authenticateClient, $mode', ({ lookup, sync }) => {
  /** Runs authenticateClient and checks that it answered on the expected path. */
  function run(header: string | undefined, body: Record<string, string>) {
    const creds = presentedCredentials(header, params(body));
    let result: ReturnType<typeof authenticateClient>;
    try {
      result = authenticateClient(creds, lookup, NOW);
    } catch (error) {
      // A synchronous lookup fails synchronously; a Promise lookup never throws synchronously.
      expect(sync).toBe(true);
      return Promise.reject(error);
    }
    expect(result instanceof Promise).toBe(!sync);
    return Promise.resolve(result);
  }

  test('client_secret_basic with the right secret', async () => {
    await expect(run(basic('app', 'correct-secret'), {})).resolves.toEqual({ client: confidential, method: 'client_secret_basic' });
  });

  test('client_secret_post with the right secret', async () => {
    await expect(run(undefined, { client_id: 'app', client_secret: 'correct-secret' })).resolves.toEqual({
      client: confidential,
      method: 'client_secret_post',
    });
  });

  test('public client with client_id only → none', async () => {
    await expect(run(undefined, { client_id: 'spa' })).resolves.toEqual({ client: publicClient, method: 'none' });
  });

  const failures: Array<{ name: string; header?: string; body: Record<string, string>; challenge: boolean }> = [
    { name: 'Basic, wrong secret', header: basic('app', 'wrong'), body: {}, challenge: true },
    { name: 'Basic, unknown client', header: basic('nobody', 'correct-secret'), body: {}, challenge: true },
    { name: 'Basic, empty secret', header: rawBasic('app:'), body: {}, challenge: true },
    { name: 'Basic, secret differing only in case', header: basic('app', 'CORRECT-SECRET'), body: {}, challenge: true },
    { name: 'Basic, secret with a trailing space', header: basic('app', 'correct-secret '), body: {}, challenge: true },
    { name: 'post, wrong secret', body: { client_id: 'app', client_secret: 'wrong' }, challenge: false },
    { name: 'post, unknown client', body: { client_id: 'nobody', client_secret: 'correct-secret' }, challenge: false },
    { name: 'post, secret of the right length but wrong', body: { client_id: 'app', client_secret: 'correct-secreT' }, challenge: false },
    { name: 'none, unknown client', body: { client_id: 'nobody' }, challenge: false },
    { name: 'none, confidential client without its secret', body: { client_id: 'app' }, challenge: false },
    { name: 'Basic, public client presenting a secret', header: basic('spa', 'anything'), body: {}, challenge: true },
    { name: 'post, public client presenting a secret', body: { client_id: 'spa', client_secret: 'anything' }, challenge: false },
  ];

  test.each(failures)('$name → 401 invalid_client', async ({ header, body, challenge }) => {
    const error = await rejected(run(header, body));
    expect(error.error).toBe('invalid_client');
    expect(error.status).toBe(401);
    if (challenge) expect(error.headers['www-authenticate']).toMatch(/^Basic realm="[^"]+"/);
    else expect(error.headers).toEqual({});
  });

  test('unknown client and wrong secret give the same answer (no client-id oracle)', async () => {
    const pairs: Array<[() => Promise<unknown>, () => Promise<unknown>]> = [
      [() => run(basic('nobody', 'x'), {}), () => run(basic('app', 'x'), {})],
      [() => run(undefined, { client_id: 'nobody', client_secret: 'x' }), () => run(undefined, { client_id: 'app', client_secret: 'x' })],
    ];
    for (const [unknown, wrong] of pairs) {
      const a = await rejected(unknown());
      const b = await rejected(wrong());
      expect({ status: a.status, body: a.toJSON(), headers: a.headers }).toEqual({ status: b.status, body: b.toJSON(), headers: b.headers });
    }
  });

  test('a confidential client whose secret hash is missing cannot authenticate', async () => {
    const broken = client({ id: 'broken', secretHash: null });
    const lookupBroken: ClientLookup = sync ? () => broken : async () => broken;
    for (const creds of [presentedCredentials(basic('broken', ''), params()), presentedCredentials(undefined, params({ client_id: 'broken', client_secret: 'x' }))]) {
      const error = await rejected(Promise.resolve().then(() => authenticateClient(creds, lookupBroken, NOW)));
      expect(error.error).toBe('invalid_client');
    }
  });
});

test('a failing lookup propagates its error (it is not an authentication failure)', async () => {
  const failing: ClientLookup = async () => {
    throw new Error('database down');
  };
  const creds = presentedCredentials(basic('app', 'correct-secret'), params());
  await expect(authenticateClient(creds, failing, NOW)).rejects.toThrow('database down');
});

test('after rotate-secret --grace, the previous secret authenticates until the grace ends, never after', () => {
  const rotated = client({ secretHash: sha256('new-secret'), previousSecretHash: sha256('correct-secret'), previousSecretExpiresAt: NOW + 60 });
  const lookup: ClientLookup = () => rotated;
  const auth = (secret: string, now: number) => () => authenticateClient(presentedCredentials(basic('app', secret), params()), lookup, now);
  expect(auth('new-secret', NOW)()).toEqual({ client: rotated, method: 'client_secret_basic' });
  expect(auth('correct-secret', NOW)()).toEqual({ client: rotated, method: 'client_secret_basic' });
  expect(auth('correct-secret', NOW + 59)()).toEqual({ client: rotated, method: 'client_secret_basic' });
  expect(auth('correct-secret', NOW + 60)).toThrow(expect.objectContaining({ error: 'invalid_client' }));
  expect(auth('new-secret', NOW + 3600)()).toEqual({ client: rotated, method: 'client_secret_basic' });
  expect(auth('wrong', NOW)).toThrow(expect.objectContaining({ error: 'invalid_client' }));
  // Without an end, a stored previous hash authenticates nothing.
  const noEnd: ClientLookup = () => ({ ...rotated, previousSecretExpiresAt: null });
  expect(() => authenticateClient(presentedCredentials(basic('app', 'correct-secret'), params()), noEnd, NOW)).toThrow(expect.objectContaining({ error: 'invalid_client' }));
});

describe('a wrong secret for an app held in memory is checked once against the stored app (issue 12)', () => {
  const rotated = client({ secretHash: sha256('rotated-secret'), updatedAt: 1 });
  /** A cache-hit lookup whose `changed` answers `answer` and counts its calls. */
  function lookupWith(answer: Client | null | undefined) {
    const calls: Array<[string, Client]> = [];
    const lookup: ClientLookup = Object.assign(() => confidential, {
      changed: async (id: string, seen: Client) => {
        calls.push([id, seen]);
        return answer;
      },
    });
    return { lookup, calls };
  }
  const creds = (secret: string) => presentedCredentials(basic('app', secret), params());

  test('the right secret answers synchronously and never asks', () => {
    const { lookup, calls } = lookupWith(rotated);
    expect(authenticateClient(creds('correct-secret'), lookup, NOW)).toEqual({ client: confidential, method: 'client_secret_basic' });
    expect(calls).toEqual([]);
  });

  test('a secret rotated elsewhere: asked once, the stored app authenticates it', async () => {
    const { lookup, calls } = lookupWith(rotated);
    const result = authenticateClient(creds('rotated-secret'), lookup, NOW);
    expect(result).toBeInstanceOf(Promise);
    await expect(result).resolves.toEqual({ client: rotated, method: 'client_secret_basic' });
    expect(calls).toEqual([['app', confidential]]);
  });

  test('still wrong against the stored app, unchanged, or deleted: refused, after one question only', async () => {
    for (const answer of [rotated, undefined, null]) {
      const { lookup, calls } = lookupWith(answer);
      const error = await rejected(authenticateClient(creds('wrong'), lookup, NOW));
      expect(error).toMatchObject({ error: 'invalid_client', status: 401 });
      expect(error.headers['www-authenticate']).toMatch(/^Basic /);
      expect(calls).toHaveLength(1);
    }
  });

  test('an app read from the database just now (cache miss) is not asked about again', async () => {
    const calls: string[] = [];
    const lookup: ClientLookup = Object.assign(async () => confidential, {
      changed: async (id: string) => {
        calls.push(id);
        return rotated;
      },
    });
    await rejected(authenticateClient(creds('rotated-secret'), lookup, NOW));
    expect(calls).toEqual([]);
  });
});
