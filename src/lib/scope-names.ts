/**
 * The scopes Tessera defines itself and the syntax of a scope name. Apps, APIs and the protocol
 * core all need these; parsing a request's `scope` parameter (which fails with an OAuth error)
 * is `oauth/scopes.ts`.
 */

/** RFC 6749 §3.3: scope-token = 1*( %x21 / %x23-5B / %x5D-7E ) */
const SCOPE_TOKEN = /^[\x21\x23-\x5b\x5d-\x7e]+$/;

export const OPENID_SCOPES: Readonly<Record<string, string>> = {
  openid: 'Sign you in and know who you are',
  profile: 'See your name and username',
  email: 'See your email address',
  offline_access: 'Keep access while you are away',
};

/**
 * Scopes that mean nothing without a signed-in user: no ID token, userinfo or refresh token
 * comes out of the client-credentials grant (RFC 6749 §4.4.3), so such an app is never given them.
 */
export const USER_ONLY_SCOPES: ReadonlySet<string> = new Set(['openid', 'offline_access', 'profile', 'email']);

/** Opens the admin API (/admin/api/v1); granted only to users holding the `admin` role (clients/grant-policy.ts). */
export const ADMIN_SCOPE = 'tessera.admin';

export function isScopeToken(s: string): boolean {
  return s.length <= 200 && SCOPE_TOKEN.test(s);
}
