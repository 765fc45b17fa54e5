import { createHash, randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { exportJWK, generateKeyPair, SignJWT, type CryptoKey, type JWK } from 'jose';

/**
 * A small upstream provider written for the tests, speaking the protocol over real HTTP:
 * `oidc` (discovery, ES256 ID tokens, JWKS, userinfo) or `oauth2` (GitHub-style: authorize,
 * token, a /user endpoint with its own claim names). Its authorization endpoint approves at
 * once as `account`. `behaviour` bends one answer at a time for the negative cases.
 */
export interface UpstreamBehaviour {
  /** Merged into the ID token's claims (`undefined` values remove a claim). */
  idTokenClaims?: Record<string, unknown>;
  /** Sign ID tokens with a key that is not in the published JWK set (same `kid`). */
  signWithUnpublishedKey?: boolean;
  /** Put this `kid` in the ID token's header instead of the signing key's. */
  kid?: string;
  /** Send this `iss` on authorization responses. */
  issParameter?: string;
  /** Replace a response body (status 200 unless given). */
  override?: Partial<Record<'token' | 'userinfo' | 'jwks' | 'discovery', { status?: number; body: string; contentType?: string }>>;
  /** Accept the connection and never answer. */
  hang?: 'token' | 'userinfo' | 'jwks' | 'discovery';
}

export interface TestUpstream {
  issuer: string;
  clientId: string;
  clientSecret: string;
  behaviour: UpstreamBehaviour;
  /** Requests per path. */
  hits: Map<string, number>;
  /** Publishes a new signing key (new `kid`) and signs with it from now on. */
  rotateKey(): Promise<void>;
  /** Follows an authorization URL (the provider approves at once) and answers the callback's query. */
  authorize(authorizationUrl: string): Promise<URLSearchParams>;
  close(): Promise<void>;
}

interface Grant {
  redirectUri: string;
  challenge: string;
  nonce: string | null;
  scope: string;
}

export async function startTestUpstream(kind: 'oidc' | 'oauth2', account = { id: 583231, login: 'octocat', name: 'Mona Octocat', email: 'mona@github.example' }): Promise<TestUpstream> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const issuer = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const clientId = `${kind}-client`;
  const clientSecret = randomBytes(16).toString('hex');
  const grants = new Map<string, Grant>();
  const tokens = new Set<string>();
  const hits = new Map<string, number>();
  const hanging = new Set<ServerResponse>();
  let keyPair = await newKey();
  // Same curve and the published kid at signing time: only the signature gives it away.
  const unpublished = await newKey();

  const upstream: TestUpstream = {
    issuer,
    clientId,
    clientSecret,
    behaviour: {},
    hits,
    rotateKey: async () => {
      keyPair = await newKey();
    },
    authorize: async (authorizationUrl) => {
      const response = await fetch(authorizationUrl, { redirect: 'manual' });
      const to = response.headers.get('location');
      if (response.status !== 302 || !to) throw new Error(`authorize answered ${response.status}: ${await response.text()}`);
      return new URL(to).searchParams;
    },
    close: async () => {
      for (const res of hanging) res.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };

  server.on('request', (req: IncomingMessage, res: ServerResponse) => {
    void handle(req, res).catch((error: unknown) => {
      res.statusCode = 500;
      res.end(String(error));
    });
  });

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', issuer);
    hits.set(url.pathname, (hits.get(url.pathname) ?? 0) + 1);
    const name = ({ '/token': 'token', '/userinfo': 'userinfo', '/user': 'userinfo', '/jwks': 'jwks', '/.well-known/openid-configuration': 'discovery' } as const)[url.pathname];
    const b = upstream.behaviour;
    if (name && b.hang === name) {
      hanging.add(res);
      return;
    }
    const override = name ? b.override?.[name] : undefined;
    if (override) {
      res.writeHead(override.status ?? 200, { 'content-type': override.contentType ?? 'application/json' });
      res.end(override.body);
      return;
    }
    switch (url.pathname) {
      case '/.well-known/openid-configuration':
        if (kind !== 'oidc') return json(res, 404, { error: 'not_found' });
        return json(res, 200, {
          issuer,
          authorization_endpoint: `${issuer}/authorize`,
          token_endpoint: `${issuer}/token`,
          jwks_uri: `${issuer}/jwks`,
          userinfo_endpoint: `${issuer}/userinfo`,
          response_types_supported: ['code'],
          subject_types_supported: ['public'],
          id_token_signing_alg_values_supported: ['ES256'],
          token_endpoint_auth_methods_supported: ['client_secret_post'],
        });
      case '/authorize': {
        const q = url.searchParams;
        if (q.get('client_id') !== clientId || q.get('response_type') !== 'code' || q.get('code_challenge_method') !== 'S256' || !q.get('code_challenge') || !q.get('redirect_uri')) {
          return json(res, 400, { error: 'invalid_request' });
        }
        const code = randomBytes(16).toString('base64url');
        grants.set(code, { redirectUri: q.get('redirect_uri')!, challenge: q.get('code_challenge')!, nonce: q.get('nonce'), scope: q.get('scope') ?? '' });
        const to = new URL(q.get('redirect_uri')!);
        to.searchParams.set('code', code);
        if (q.get('state') !== null) to.searchParams.set('state', q.get('state')!);
        if (b.issParameter !== undefined) to.searchParams.set('iss', b.issParameter);
        res.writeHead(302, { location: to.toString() });
        res.end();
        return;
      }
      case '/token': {
        const form = new URLSearchParams(await body(req));
        const basic = req.headers.authorization?.match(/^Basic (.+)$/)?.[1];
        const [id, secret] = basic
          ? Buffer.from(basic, 'base64').toString().split(':').map((s) => decodeURIComponent(s.replace(/\+/g, ' ')))
          : [form.get('client_id'), form.get('client_secret')];
        if (id !== clientId || secret !== clientSecret) return json(res, 401, { error: 'invalid_client' });
        const grant = grants.get(form.get('code') ?? '');
        grants.delete(form.get('code') ?? '');
        const verifier = form.get('code_verifier') ?? '';
        if (!grant || grant.redirectUri !== form.get('redirect_uri') || createHash('sha256').update(verifier).digest('base64url') !== grant.challenge) {
          return json(res, 400, { error: 'invalid_grant' });
        }
        const accessToken = randomBytes(16).toString('base64url');
        tokens.add(accessToken);
        if (kind === 'oauth2') return json(res, 200, { access_token: accessToken, token_type: 'bearer', scope: grant.scope });
        const now = Math.floor(Date.now() / 1000);
        const claims: Record<string, unknown> = { sub: `user-${account.id}`, nonce: grant.nonce, email: account.email, email_verified: false, ...b.idTokenClaims };
        for (const [k, v] of Object.entries(claims)) if (v === undefined) delete claims[k];
        const signer = b.signWithUnpublishedKey ? unpublished : keyPair;
        let jwt = new SignJWT(claims).setProtectedHeader({ alg: 'ES256', kid: b.kid ?? keyPair.kid, typ: 'JWT' });
        if (!('iss' in (b.idTokenClaims ?? {}))) jwt = jwt.setIssuer(issuer);
        if (!('aud' in (b.idTokenClaims ?? {}))) jwt = jwt.setAudience(clientId);
        if (!('iat' in (b.idTokenClaims ?? {}))) jwt = jwt.setIssuedAt(now);
        if (!('exp' in (b.idTokenClaims ?? {}))) jwt = jwt.setExpirationTime(now + 300);
        return json(res, 200, { access_token: accessToken, token_type: 'Bearer', expires_in: 300, id_token: await jwt.sign(signer.privateKey) });
      }
      case '/jwks':
        return json(res, 200, { keys: [keyPair.publicJwk] });
      case '/userinfo':
      case '/user': {
        const token = req.headers.authorization?.match(/^Bearer (.+)$/)?.[1];
        if (!token || !tokens.has(token)) return json(res, 401, { error: 'invalid_token' });
        if (kind === 'oidc') return json(res, 200, { sub: `user-${account.id}`, name: account.name, email: account.email, email_verified: false });
        // GitHub's shape: a numeric id, `login`, and no email_verified.
        return json(res, 200, { id: account.id, login: account.login, name: account.name, email: account.email, plan: { name: 'free' } });
      }
      default:
        return json(res, 404, { error: 'not_found' });
    }
  }

  return upstream;
}

async function newKey(kid = randomBytes(6).toString('hex')): Promise<{ kid: string; privateKey: CryptoKey; publicJwk: JWK }> {
  const { privateKey, publicKey } = await generateKeyPair('ES256', { extractable: true });
  return { kid, privateKey, publicJwk: { ...(await exportJWK(publicKey)), kid, alg: 'ES256', use: 'sig' } };
}

function json(res: ServerResponse, status: number, value: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify(value));
}

async function body(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString();
}
