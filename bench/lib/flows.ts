import { createHash, randomBytes } from 'node:crypto';
import type autocannon from 'autocannon';
import { runAutocannonLoad } from './load.ts';

/**
 * An OAuth server under test, reduced to what the scenarios need. Tessera and
 * node-oidc-provider differ only in paths, scopes and how a user signs in and consents.
 */
export interface OAuthServer {
  id: string;
  url: string;
  tokenPath: string;
  introspectPath: string;
  authorizePath: string;
  redirectUri: string;
  /** Confidential app for client_credentials (and introspection). */
  service: { id: string; secret: string };
  serviceScope: string;
  /** Confidential app for the authorization code flow. */
  web: { id: string; secret: string };
  webScope: string;
  /** Extra token-request parameters for a token the server can introspect (oidc-provider: an opaque one). */
  introspectableTokenParams?: Record<string, string>;
  /** Signs a user in and approves `web` once; answers the Cookie header of that session. */
  signIn(): Promise<string>;
}

export function basic(id: string, secret: string): string {
  return `Basic ${Buffer.from(`${encodeURIComponent(id)}:${encodeURIComponent(secret)}`).toString('base64')}`;
}

export const FORM = 'application/x-www-form-urlencoded';

export async function postForm(url: string, form: Record<string, string>, authorization?: string): Promise<Response> {
  return fetch(url, {
    method: 'POST',
    headers: { 'content-type': FORM, ...(authorization ? { authorization } : {}) },
    body: new URLSearchParams(form).toString(),
  });
}

/** A client_credentials token for `server.service`, checked to be an ES256 JWT unless `extra` asks otherwise. */
export async function clientCredentialsToken(server: OAuthServer, extra?: Record<string, string>): Promise<string> {
  const res = await postForm(`${server.url}${server.tokenPath}`, { grant_type: 'client_credentials', scope: server.serviceScope, ...extra }, basic(server.service.id, server.service.secret));
  const body = (await res.json()) as { access_token?: string };
  if (res.status !== 200 || !body.access_token) throw new Error(`${server.id}: client_credentials answered ${res.status} ${JSON.stringify(body)}`);
  if (extra) return body.access_token;
  const header = JSON.parse(Buffer.from(body.access_token.split('.')[0]!, 'base64url').toString()) as { alg?: string };
  if (header.alg !== 'ES256') throw new Error(`${server.id}: access token is signed ${header.alg}, not ES256`);
  return body.access_token;
}

/** Waits until `url` answers 200 with `headers` (a gateway learns APIs through the change feed), at most `tries` × `waitMs`. */
export async function untilAnswered(url: string, headers: Record<string, string>, tries = 100, waitMs = 100): Promise<void> {
  let last = 0;
  for (let i = 0; i < tries; i++) {
    const res = await fetch(url, { headers });
    await res.arrayBuffer();
    if (res.status === 200) return;
    last = res.status;
    await new Promise((r) => setTimeout(r, waitMs));
  }
  throw new Error(`${url} never answered 200 (last ${last})`);
}

/** Cookie jar + manual redirects: just enough browser for the sign-in pages. */
export class Browser {
  readonly cookies = new Map<string, string>();
  readonly base: string;
  constructor(base: string) {
    this.base = base;
  }
  get cookieHeader(): string {
    return [...this.cookies].map(([k, v]) => `${k}=${v}`).join('; ');
  }
  async request(path: string, form?: Record<string, string>): Promise<Response> {
    const headers: Record<string, string> = {};
    if (this.cookies.size) headers.cookie = this.cookieHeader;
    if (form) headers['content-type'] = FORM;
    const url = path.startsWith('http') ? path : `${this.base}${path}`;
    const res = await fetch(url, { method: form ? 'POST' : 'GET', headers, body: form ? new URLSearchParams(form).toString() : undefined, redirect: 'manual' });
    for (const line of res.headers.getSetCookie()) {
      const pair = line.split(';')[0]!;
      const eq = pair.indexOf('=');
      const name = pair.slice(0, eq).trim();
      const value = pair.slice(eq + 1).trim();
      if (!value || /expires=Thu, 01 Jan 1970/i.test(line) || /max-age=0/i.test(line)) this.cookies.delete(name);
      else this.cookies.set(name, value);
    }
    return res;
  }
}

export function hiddenFields(page: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const m of page.matchAll(/<input type="hidden" name="([^"]*)" value="([^"]*)">/g)) out[m[1]!] = m[2]!.replace(/&amp;/g, '&').replace(/&quot;/g, '"');
  return out;
}

function location(res: Response): string {
  const to = res.headers.get('location');
  if (res.status < 300 || res.status > 399 || !to) throw new Error(`expected a redirect, got ${res.status}`);
  return to;
}

export function pkce(): { verifier: string; challenge: string } {
  const verifier = randomBytes(32).toString('base64url');
  return { verifier, challenge: createHash('sha256').update(verifier).digest('base64url') };
}

export function authorizeQuery(server: OAuthServer, state: string, challenge: string): string {
  return new URLSearchParams({
    client_id: server.web.id,
    response_type: 'code',
    redirect_uri: server.redirectUri,
    scope: server.webScope,
    state,
    code_challenge: challenge,
    code_challenge_method: 'S256',
  }).toString();
}

/** Tessera: /login (CSRF form) → /connect/authorize → /consent (allow) → code. */
export async function tesseraSignIn(server: OAuthServer, username: string, password: string): Promise<string> {
  const b = new Browser(server.url);
  const page = await b.request('/login');
  await b.request('/login', { ...hiddenFields(await page.text()), username, password });
  if (!b.cookies.has('tessera_session')) throw new Error(`${server.id}: sign-in failed (no session cookie)`);
  let to = location(await b.request(`${server.authorizePath}?${authorizeQuery(server, 'setup', pkce().challenge)}`));
  if (to.startsWith('/consent')) {
    const consent = await b.request(to);
    to = location(await b.request('/consent', { ...hiddenFields(await consent.text()), decision: 'allow' }));
  }
  if (!to.startsWith(server.redirectUri) || !new URL(to).searchParams.get('code')) throw new Error(`${server.id}: authorize did not return a code: ${to}`);
  return b.cookieHeader;
}

/** node-oidc-provider's development interactions: login prompt, then consent prompt. */
export async function oidcProviderSignIn(server: OAuthServer, username: string): Promise<string> {
  const b = new Browser(server.url);
  let to = location(await b.request(`${server.authorizePath}?${authorizeQuery(server, 'setup', pkce().challenge)}`));
  for (let step = 0; step < 10 && !to.startsWith(server.redirectUri); step++) {
    const path = to.startsWith('http') ? new URL(to).pathname + new URL(to).search : to;
    if (path.startsWith('/interaction/')) {
      const page = await (await b.request(path)).text();
      const form: Record<string, string> = page.includes('name="login"') ? { prompt: 'login', login: username, password: 'x' } : { prompt: 'consent' };
      to = location(await b.request(path, form));
    } else {
      to = location(await b.request(path));
    }
  }
  if (!to.startsWith(server.redirectUri) || !new URL(to).searchParams.get('code')) throw new Error(`${server.id}: interactions did not end with a code: ${to}`);
  return b.cookieHeader;
}

export interface MintedCode {
  code: string;
  verifier: string;
}

/**
 * Pre-mints `count` authorization codes through the real authorize endpoint with a signed-in
 * session that already consented: one GET per code, each with its own PKCE pair.
 */
export async function mintCodes(server: OAuthServer, cookie: string, count: number, connections: number): Promise<MintedCode[]> {
  const pairs = Array.from({ length: count + connections * 2 }, () => pkce());
  const codes: MintedCode[] = [];
  let next = 0;
  const request: autocannon.Request = {
    method: 'GET',
    headers: { cookie },
    setupRequest: (req) => ({ ...req, path: `${server.authorizePath}?${authorizeQuery(server, String(next), pairs[next++ % pairs.length]!.challenge)}` }),
    onResponse: (_status, _body, _context, headers) => {
      const to = headers.location ?? headers.Location;
      if (!to) return;
      const q = new URL(to, server.url).searchParams;
      const code = q.get('code');
      const state = Number(q.get('state'));
      if (code && Number.isInteger(state)) codes.push({ code, verifier: pairs[state % pairs.length]!.verifier });
    },
  };
  // Setup, not measured: autocannon whatever the load generator, for its per-response hook.
  const result = await runAutocannonLoad({ url: server.url, connections: Math.min(connections, count), amount: count, requests: [request] });
  if (codes.length < count * 0.99) {
    throw new Error(`${server.id}: minted only ${codes.length} of ${count} codes (statuses ${JSON.stringify(result.statusCodes)})`);
  }
  return codes;
}

/** Exchanges codes for refresh tokens (seeds for the rotation scenario). */
export async function refreshSeeds(server: OAuthServer, cookie: string, count: number): Promise<string[]> {
  const codes = await mintCodes(server, cookie, count, 8);
  const out: string[] = [];
  for (let i = 0; i < codes.length; i += 16) {
    const batch = await Promise.all(
      codes.slice(i, i + 16).map(async ({ code, verifier }) => {
        const res = await postForm(`${server.url}${server.tokenPath}`, { grant_type: 'authorization_code', code, redirect_uri: server.redirectUri, code_verifier: verifier }, basic(server.web.id, server.web.secret));
        const body = (await res.json()) as { refresh_token?: string };
        if (res.status !== 200 || !body.refresh_token) throw new Error(`${server.id}: code exchange answered ${res.status} ${JSON.stringify(body)}`);
        return body.refresh_token;
      }),
    );
    out.push(...batch);
  }
  return out;
}

/** One browser ready to sign in again: its cookies (CSRF and device, no session) and the form's body. */
export interface SignInForm {
  cookie: string;
  body: string;
}

/**
 * `count` browsers that have each signed in once (so each holds a device cookie for the user:
 * the guess throttle then counts its attempts on that browser's own counter, as for a user
 * signing in again from their own browser), with the CSRF token of their login form.
 * Replaying `body` with `cookie` is a complete, successful POST /login answered 303.
 */
export async function tesseraSignInForms(server: OAuthServer, username: string, password: string, count: number, returnTo: string): Promise<SignInForm[]> {
  const out: SignInForm[] = [];
  for (let i = 0; i < count; i++) {
    const b = new Browser(server.url);
    const fields = hiddenFields(await (await b.request('/login')).text());
    const first = await b.request('/login', { ...fields, username, password, return_to: returnTo });
    await first.arrayBuffer();
    if (first.status !== 303 || !b.cookies.has('tessera_device')) throw new Error(`${server.id}: sign-in answered ${first.status}, not a 303 with a device cookie`);
    b.cookies.delete('tessera_session');
    out.push({ cookie: b.cookieHeader, body: new URLSearchParams({ ...fields, username, password, return_to: returnTo }).toString() });
  }
  return out;
}
