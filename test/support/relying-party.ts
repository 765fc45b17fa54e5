import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import * as oidc from 'openid-client';

/**
 * An integrator's web app, built the way the openid-client docs show: it starts the code flow
 * with PKCE, state and nonce, lets openid-client validate the callback (state, iss, code
 * exchange, ID token, nonce), and logs out through the end-session endpoint. The browser
 * tests drive Tessera's pages in Chromium with this app on the other end.
 */
export interface RpResult {
  ok: boolean;
  /** The authorization response URL as the app received it. */
  callbackUrl: string;
  tokens?: oidc.TokenEndpointResponse & oidc.TokenEndpointResponseHelpers;
  claims?: oidc.IDToken;
  error?: { error: string; description: string | undefined };
}

export interface RelyingParty {
  url: string;
  redirectUri: string;
  postLogoutRedirectUri: string;
  /** Call once the app is registered with Tessera. */
  configure(clientId: string, clientSecret: string): Promise<void>;
  config(): oidc.Configuration;
  /** Every authorization response the app got, newest last. */
  results: RpResult[];
  /** Logout events (state received on the post-logout redirect). */
  signedOut: Array<string | null>;
  close(): Promise<void>;
}

interface Pending {
  verifier: string;
  nonce: string;
}

export async function startRelyingParty(issuer: string): Promise<RelyingParty> {
  let configuration: oidc.Configuration | undefined;
  const pending = new Map<string, Pending>();
  const results: RpResult[] = [];
  const signedOut: Array<string | null> = [];
  let lastIdToken: string | undefined;

  const server: Server = createServer((req, res) => {
    void handle(req.url ?? '/').then(
      ({ status, location, body }) => {
        res.writeHead(status, location ? { location } : { 'content-type': 'text/html; charset=utf-8' });
        res.end(body ?? '');
      },
      (error: unknown) => {
        res.writeHead(500, { 'content-type': 'text/plain' });
        res.end(String(error));
      },
    );
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const redirectUri = `${url}/callback`;
  const postLogoutRedirectUri = `${url}/signed-out`;

  async function handle(path: string): Promise<{ status: number; location?: string; body?: string }> {
    const u = new URL(path, url);
    const config = configuration!;
    if (u.pathname === '/start') {
      const verifier = oidc.randomPKCECodeVerifier();
      const state = oidc.randomState();
      const nonce = oidc.randomNonce();
      pending.set(state, { verifier, nonce });
      const params: Record<string, string> = {
        redirect_uri: redirectUri,
        scope: u.searchParams.get('scope') ?? 'openid profile email offline_access',
        code_challenge: await oidc.calculatePKCECodeChallenge(verifier),
        code_challenge_method: 'S256',
        state,
        nonce,
      };
      const prompt = u.searchParams.get('prompt');
      if (prompt) params.prompt = prompt;
      return { status: 302, location: oidc.buildAuthorizationUrl(config, params).href };
    }
    if (u.pathname === '/callback') {
      const state = u.searchParams.get('state') ?? '';
      const p = pending.get(state);
      const result: RpResult = { ok: false, callbackUrl: u.href };
      results.push(result);
      try {
        if (!p) throw new Error('unknown state');
        const tokens = await oidc.authorizationCodeGrant(config, u, { pkceCodeVerifier: p.verifier, expectedState: state, expectedNonce: p.nonce, idTokenExpected: true });
        result.ok = true;
        result.tokens = tokens;
        result.claims = tokens.claims();
        lastIdToken = tokens.id_token;
        return { status: 200, body: `<!doctype html><title>Acme</title><h1 id="who">Signed in as ${result.claims?.sub}</h1>` };
      } catch (error) {
        const e = error as { error?: string; error_description?: string; message: string };
        result.error = { error: e.error ?? e.message, description: e.error_description };
        return { status: 200, body: `<!doctype html><title>Acme</title><h1 id="error">${result.error.error}</h1>` };
      } finally {
        pending.delete(state);
      }
    }
    if (u.pathname === '/logout') {
      const params: Record<string, string> = { post_logout_redirect_uri: postLogoutRedirectUri, state: 'bye' };
      if (lastIdToken && u.searchParams.get('hint') !== 'no') params.id_token_hint = lastIdToken;
      else params.client_id = config.clientMetadata().client_id;
      return { status: 302, location: oidc.buildEndSessionUrl(config, params).href };
    }
    if (u.pathname === '/signed-out') {
      signedOut.push(u.searchParams.get('state'));
      return { status: 200, body: '<!doctype html><title>Acme</title><h1 id="signed-out">Signed out</h1>' };
    }
    return { status: 404, body: 'not found' };
  }

  return {
    url,
    redirectUri,
    postLogoutRedirectUri,
    results,
    signedOut,
    async configure(clientId, clientSecret) {
      configuration = await oidc.discovery(new URL(issuer), clientId, clientSecret, undefined, { execute: [oidc.allowInsecureRequests] });
    },
    config: () => configuration!,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
