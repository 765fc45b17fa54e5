import type { FastifyReply, FastifyRequest } from 'fastify';

/**
 * CORS for the endpoints a browser app (a partner's single-page app with PKCE) calls
 * directly: discovery, JWKS, token, revocation and userinfo. The answers never depend on
 * cookies — a public client proves itself with its code verifier, a confidential one with
 * its secret, userinfo with a bearer token — so any origin may call them, without
 * credentials (`*` forbids credentialed requests). Pages (/connect/authorize, /login,
 * /consent) are navigations and never get CORS; introspection is for back ends and the admin
 * API for the console on Tessera's own origin, so neither does either.
 *
 * Dynamic Client Registration (RFC 7591/7592) is called by browser-based MCP clients too (the
 * MCP authorization specification has clients register themselves from wherever they run);
 * it is authorized by bearer tokens (an initial access token, the registration access token)
 * or not at all in open mode, never by cookies, so it gets the same CORS.
 */
const METHODS: ReadonlyMap<string, string> = new Map([
  ['/.well-known/openid-configuration', 'GET'],
  ['/.well-known/oauth-authorization-server', 'GET'],
  ['/.well-known/jwks.json', 'GET'],
  ['/connect/token', 'POST'],
  ['/connect/revocation', 'POST'],
  ['/connect/userinfo', 'GET, POST'],
  ['/connect/register', 'POST'],
]);

/** The methods a cross-origin caller may use at `path` (a path without its query), or undefined: no CORS there. */
export function corsMethods(path: string): string | undefined {
  // RFC 9728 metadata, one document per API, read by browser-based MCP clients too.
  return (
    METHODS.get(path) ??
    (path.startsWith('/.well-known/oauth-protected-resource/') ? 'GET' : path.startsWith('/connect/register/') ? 'GET, PUT, DELETE' : undefined)
  );
}

/**
 * Adds the CORS headers when the request is cross-origin to one of the endpoints above;
 * answers a preflight itself and returns true then. Called from the edge hook in app.ts,
 * after it has seen an Origin header (server-to-server calls carry none).
 */
export function applyCors(request: FastifyRequest, reply: FastifyReply): boolean {
  const q = request.url.indexOf('?');
  const path = q < 0 ? request.url : request.url.slice(0, q);
  const methods = corsMethods(path);
  if (methods === undefined) return false;
  reply.header('access-control-allow-origin', '*');
  if (request.method === 'OPTIONS') {
    // Preflight (Fetch standard): what may follow, cached by the browser for 10 minutes.
    reply
      .code(204)
      .header('access-control-allow-methods', methods)
      .header('access-control-allow-headers', 'authorization, content-type, dpop')
      .header('access-control-max-age', '600')
      .send();
    return true;
  }
  // Scripts may read the RFC 6750 / RFC 6749 challenge on errors, the DPoP nonce (RFC 9449 §8), and how long a throttled registration waits.
  reply.header('access-control-expose-headers', path.startsWith('/connect/register') ? 'www-authenticate, retry-after' : 'www-authenticate, dpop-nonce');
  return false;
}
