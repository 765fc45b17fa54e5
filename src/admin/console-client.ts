/**
 * The admin console's own OAuth client: a public client (PKCE, no secret) that Tessera
 * registers for itself at start, with redirect URIs on its own issuer. Its id is fixed so
 * the console can find it; its URIs follow the issuer (they bypass the redirect-URI policy
 * because they point at Tessera itself, never at a third party).
 */
export const CONSOLE_CLIENT_ID = '7e55e7a0-c0de-4a11-8000-000000000001';
export const CONSOLE_SCOPES = ['openid', 'profile', 'tessera.admin'] as const;
export { ADMIN_SCOPE } from '../lib/scope-names.ts';

export function consoleRedirectUri(issuer: string): string {
  return `${issuer}/admin/callback`;
}

export function consolePostLogoutUri(issuer: string): string {
  return `${issuer}/admin/`;
}
