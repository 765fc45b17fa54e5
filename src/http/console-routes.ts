import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import fastifyStatic from '@fastify/static';
import type { Tessera } from '../app/tessera.ts';
import { CONSOLE_CLIENT_ID, CONSOLE_SCOPES, consolePostLogoutUri, consoleRedirectUri } from '../admin/console-client.ts';

/** Where `npm run build:console` (and `npm ci`, through postinstall) puts the console. */
export const CONSOLE_DIST = fileURLToPath(new URL('../../console/dist/', import.meta.url));

/**
 * The console runs only files from its own origin: no inline script or style, no framing,
 * nothing sent anywhere but Tessera itself (it talks to /connect/* and /admin/api/v1 only).
 */
export const CONSOLE_CSP =
  "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; " +
  "frame-ancestors 'none'; base-uri 'none'; form-action 'self'";

/** Vite names bundles by content hash, so they never change under the same name. */
const ASSET = /^\/admin\/assets\/[\w.-]+$/;
/** Files copied as they are from console/public (favicon…): short cache, no hash. */
const PUBLIC_FILE = /^\/admin\/[\w-]+\.(?:svg|png|ico|txt)$/;

function consoleHeaders(reply: FastifyReply): FastifyReply {
  return reply
    .header('content-security-policy', CONSOLE_CSP)
    .header('x-frame-options', 'DENY')
    .header('referrer-policy', 'no-referrer');
}

const NOT_BUILT = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Console not built · Tessera</title><link rel="stylesheet" href="/assets/tessera.css"></head>
<body><main class="card card--compact">
<header class="brand" aria-label="Tessera"><span class="brand__mark" aria-hidden="true"></span>Tessera</header>
<h1>The console is not built</h1>
<p>This Tessera was installed without building its web console. Run <code>npm run build:console</code>
in the Tessera directory, then reload this page.</p>
<p class="small muted">The admin API at <a href="/admin/api/v1/docs">/admin/api/v1</a> works without it.</p>
</main></body></html>`;

/**
 * The admin console at /admin/: hashed assets (cached for good), a few public files, the
 * console's OAuth settings at /admin/config.json, and index.html for every other page path
 * (the SPA routes on the client). /admin/api/** stays the admin API's: an unknown path there
 * is a JSON 404, never the console's page.
 */
export function registerConsoleRoutes(app: FastifyInstance, tessera: Tessera, dist: string = CONSOLE_DIST): void {
  void app.register(async (scope) => {
    await scope.register(fastifyStatic, { root: dist, serve: false });
    const built = () => existsSync(`${dist}/index.html`);

    const page = (reply: FastifyReply) => {
      consoleHeaders(reply);
      if (!built()) return reply.code(503).header('cache-control', 'no-store').type('text/html; charset=utf-8').send(NOT_BUILT);
      // Revalidated on every load, so a new build reaches browsers at once.
      return reply.header('cache-control', 'no-cache').sendFile('index.html', { cacheControl: false });
    };

    scope.get('/admin', (_request, reply) => reply.redirect('/admin/', 301));
    scope.get('/admin/', (_request, reply) => page(reply));

    scope.get('/admin/config.json', (_request, reply) => {
      const issuer = tessera.issuer;
      return consoleHeaders(reply)
        .header('cache-control', 'no-cache')
        .send({
          issuer,
          client_id: CONSOLE_CLIENT_ID,
          redirect_uri: consoleRedirectUri(issuer),
          post_logout_redirect_uri: consolePostLogoutUri(issuer),
          scope: CONSOLE_SCOPES.join(' '),
        });
    });

    scope.get('/admin/*', (request: FastifyRequest, reply) => {
      const path = request.url.split('?')[0]!;
      if (path === '/admin/api' || path.startsWith('/admin/api/')) return reply.callNotFound();
      if (ASSET.test(path) || PUBLIC_FILE.test(path)) {
        const file = path.slice('/admin/'.length);
        if (!existsSync(`${dist}/${file}`)) return reply.callNotFound();
        const immutable = ASSET.test(path);
        return consoleHeaders(reply)
          .header('cache-control', immutable ? 'public, max-age=31536000, immutable' : 'public, max-age=3600')
          .sendFile(file, { cacheControl: false });
      }
      // A path that names a file (has an extension) and is not one: a plain 404, not the page.
      if (/\.[a-z0-9]+$/i.test(path)) return reply.callNotFound();
      return page(reply);
    });
  });
}
