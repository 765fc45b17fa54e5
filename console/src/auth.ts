/**
 * Signing in to the console through Tessera itself: authorization code + PKCE (S256) as a
 * public client (RFC 6749 §4.1, RFC 7636), with state, nonce and the RFC 9207 `iss` checked.
 * Tokens live in sessionStorage (this tab only, gone when it closes), never localStorage.
 */

export interface ConsoleConfig {
  issuer: string;
  client_id: string;
  redirect_uri: string;
  post_logout_redirect_uri: string;
  scope: string;
}

interface Discovery {
  issuer: string;
  authorization_endpoint: string;
  token_endpoint: string;
  end_session_endpoint: string;
}

interface Tokens {
  access_token: string;
  refresh_token?: string;
  id_token?: string;
  /** Epoch milliseconds. */
  expires_at: number;
}

interface Pending {
  state: string;
  nonce: string;
  verifier: string;
  return_to: string;
}

const TOKENS = 'tessera.console.tokens';
const PENDING = 'tessera.console.pending';

export class SignInError extends Error {}

let config: ConsoleConfig | undefined;
let discovery: Discovery | undefined;

export async function loadAuth(): Promise<ConsoleConfig> {
  const res = await fetch('/admin/config.json', { cache: 'no-cache' });
  if (!res.ok) throw new SignInError(`could not load the console settings (HTTP ${res.status})`);
  config = (await res.json()) as ConsoleConfig;
  if (new URL(config.issuer).origin !== location.origin) return config; // the caller explains
  const d = await fetch(`${config.issuer}/.well-known/openid-configuration`);
  if (!d.ok) throw new SignInError(`could not load the OpenID configuration (HTTP ${d.status})`);
  discovery = (await d.json()) as Discovery;
  if (discovery.issuer !== config.issuer) throw new SignInError('the OpenID configuration names another issuer');
  return config;
}

const b64url = (bytes: Uint8Array) => btoa(String.fromCharCode(...bytes)).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
const random = (n = 32) => b64url(crypto.getRandomValues(new Uint8Array(n)));

async function s256(verifier: string): Promise<string> {
  return b64url(new Uint8Array(await crypto.subtle.digest('SHA-256', new TextEncoder().encode(verifier))));
}

function readJson<T>(key: string): T | undefined {
  try {
    const raw = sessionStorage.getItem(key);
    return raw ? (JSON.parse(raw) as T) : undefined;
  } catch {
    return undefined;
  }
}

export function isSignedIn(): boolean {
  return readJson<Tokens>(TOKENS) !== undefined;
}

/** Off to Tessera's sign-in page; back at /admin/callback. */
export async function signIn(returnTo = location.pathname + location.search, options: { prompt?: 'login' } = {}): Promise<void> {
  if (!config || !discovery) throw new SignInError('the console settings are not loaded');
  const pending: Pending = { state: random(), nonce: random(), verifier: random(48), return_to: safeReturnTo(returnTo) };
  sessionStorage.setItem(PENDING, JSON.stringify(pending));
  const url = new URL(discovery.authorization_endpoint);
  url.search = new URLSearchParams({
    response_type: 'code',
    client_id: config.client_id,
    redirect_uri: config.redirect_uri,
    scope: config.scope,
    state: pending.state,
    nonce: pending.nonce,
    code_challenge: await s256(pending.verifier),
    code_challenge_method: 'S256',
    ...(options.prompt ? { prompt: options.prompt } : {}),
  }).toString();
  location.assign(url.toString());
}

function safeReturnTo(path: string): string {
  return path.startsWith('/admin/') && !path.startsWith('/admin/callback') ? path : '/admin/';
}

/** Completes the sign-in at /admin/callback; answers where to go next. */
export async function completeSignIn(search: string): Promise<string> {
  if (!config || !discovery) throw new SignInError('the console settings are not loaded');
  const params = new URLSearchParams(search);
  const pending = readJson<Pending>(PENDING);
  sessionStorage.removeItem(PENDING);
  if (!pending || params.get('state') !== pending.state) throw new SignInError('this sign-in answer does not belong to a sign-in started here (state mismatch); please sign in again');
  // RFC 9207: the answer must come from this issuer.
  const iss = params.get('iss');
  if (iss !== null && iss !== config.issuer) throw new SignInError('the sign-in answer came from another issuer');
  const error = params.get('error');
  if (error) throw new SignInError(`Sign-in refused: ${params.get('error_description') ?? error} (${error})`);
  const code = params.get('code');
  if (!code) throw new SignInError('the sign-in answer carries no code');
  const tokens = await tokenRequest({
    grant_type: 'authorization_code',
    code,
    redirect_uri: config.redirect_uri,
    client_id: config.client_id,
    code_verifier: pending.verifier,
  });
  if (tokens.id_token) {
    const claims = decodeJwt(tokens.id_token);
    // Received straight from the token endpoint (OIDC Core §3.1.3.7): check who it is for and the nonce.
    if (claims.iss !== config.issuer || !audienceIncludes(claims.aud, config.client_id) || claims.nonce !== pending.nonce) {
      throw new SignInError('the ID token does not match this sign-in');
    }
  }
  return pending.return_to;
}

async function tokenRequest(form: Record<string, string>): Promise<Tokens> {
  if (!discovery) throw new SignInError('the console settings are not loaded');
  const res = await fetch(discovery.token_endpoint, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams(form).toString(),
  });
  const body = (await res.json().catch(() => ({}))) as Record<string, unknown>;
  if (!res.ok || typeof body.access_token !== 'string') {
    throw new SignInError(`${String(body.error_description ?? 'the token request failed')} (${String(body.error ?? res.status)})`);
  }
  const previous = readJson<Tokens>(TOKENS);
  const tokens: Tokens = {
    access_token: body.access_token,
    refresh_token: typeof body.refresh_token === 'string' ? body.refresh_token : previous?.refresh_token,
    id_token: typeof body.id_token === 'string' ? body.id_token : previous?.id_token,
    expires_at: Date.now() + (typeof body.expires_in === 'number' ? body.expires_in : 300) * 1000,
  };
  sessionStorage.setItem(TOKENS, JSON.stringify(tokens));
  return tokens;
}

let refreshing: Promise<string | undefined> | undefined;

/** A current access token: refreshed shortly before it expires when a refresh token was issued. */
export async function accessToken(force = false): Promise<string | undefined> {
  const tokens = readJson<Tokens>(TOKENS);
  if (!tokens) return undefined;
  const stale = force || tokens.expires_at - Date.now() < 30_000;
  if (!stale) return tokens.access_token;
  if (!tokens.refresh_token || !config) return force ? undefined : tokens.access_token;
  refreshing ??= tokenRequest({ grant_type: 'refresh_token', refresh_token: tokens.refresh_token, client_id: config.client_id })
    .then((t) => t.access_token)
    .catch(() => undefined)
    .finally(() => {
      refreshing = undefined;
    });
  return refreshing;
}

export function forgetTokens(): void {
  sessionStorage.removeItem(TOKENS);
}

/** RP-initiated logout: ends the Tessera session too, then back to /admin/. */
export function signOut(): void {
  const tokens = readJson<Tokens>(TOKENS);
  forgetTokens();
  if (!config || !discovery) {
    location.assign('/admin/');
    return;
  }
  const url = new URL(discovery.end_session_endpoint);
  const q = new URLSearchParams({ client_id: config.client_id, post_logout_redirect_uri: config.post_logout_redirect_uri });
  if (tokens?.id_token) q.set('id_token_hint', tokens.id_token);
  url.search = q.toString();
  location.assign(url.toString());
}

function decodeJwt(jwt: string): Record<string, unknown> {
  const payload = jwt.split('.')[1] ?? '';
  const json = atob(payload.replace(/-/g, '+').replace(/_/g, '/'));
  return JSON.parse(new TextDecoder().decode(Uint8Array.from(json, (c) => c.charCodeAt(0)))) as Record<string, unknown>;
}

function audienceIncludes(aud: unknown, clientId: string): boolean {
  return aud === clientId || (Array.isArray(aud) && aud.includes(clientId));
}
