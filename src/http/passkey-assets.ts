import { createHash, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { html, type SafeHtml } from '../pages/html.ts';

/**
 * The two scripts the passkey pages run, served from our own origin: @simplewebauthn/browser's
 * bundle (it defines the global SimpleWebAuthnBrowser) and Tessera's small glue
 * (src/pages/assets/passkeys.js). Their URLs carry a hash of their content, so they are cached
 * for a year and a new version is a new URL. Pages load them with a per-response CSP nonce
 * (pageHeaders' `scriptNonce`); every other page keeps `default-src 'none'`.
 */
const packageRoot = dirname(dirname(createRequire(import.meta.url).resolve('@simplewebauthn/browser')));
const LIBRARY = readFileSync(join(packageRoot, 'dist', 'bundle', 'index.umd.min.js'));
const GLUE = readFileSync(new URL('../pages/assets/passkeys.js', import.meta.url));

const short = (content: Buffer) => createHash('sha256').update(content).digest('hex').slice(0, 16);
export const PASSKEY_SCRIPT_PATHS = {
  library: `/assets/simplewebauthn-browser.${short(LIBRARY)}.js`,
  glue: `/assets/passkeys.${short(GLUE)}.js`,
} as const;

/** A fresh nonce for one page response (128 bits). */
export function scriptNonce(): string {
  return randomBytes(16).toString('base64url');
}

/** The script elements a passkey page ends with; `nonce` is the one its CSP names. */
export function passkeyScripts(nonce: string): SafeHtml {
  return html`<script nonce="${nonce}" src="${PASSKEY_SCRIPT_PATHS.library}"></script>
<script nonce="${nonce}" src="${PASSKEY_SCRIPT_PATHS.glue}"></script>`;
}

export function registerPasskeyAssets(app: FastifyInstance): void {
  for (const [path, content] of [
    [PASSKEY_SCRIPT_PATHS.library, LIBRARY],
    [PASSKEY_SCRIPT_PATHS.glue, GLUE],
  ] as const) {
    app.get(path, (_request, reply) => {
      reply.header('cache-control', 'public, max-age=31536000, immutable').type('text/javascript; charset=utf-8').send(content);
    });
  }
}
