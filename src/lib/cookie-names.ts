/**
 * The names of every cookie Tessera sets, in one place: the pages and provider routes set
 * them, and the gateway strips them from requests it forwards and from upstream answers
 * (an API behind Tessera must never see a sign-in session, nor replace one).
 */
export const SESSION_COOKIE = 'tessera_session';
export const CSRF_COOKIE = 'tessera_csrf';
/** The browser-bound value of an upstream (identity provider) sign-in in progress. */
export const UPSTREAM_COOKIE = 'tessera_upstream';
/** A sign-in between its password and its second factor (src/identity/mfa/second-step-store.ts). */
export const SECOND_STEP_COOKIE = 'tessera_second_step';

/**
 * "This browser signed in as these users before" (src/identity/device-cookie.ts): signed
 * entries that let the owner's own browser sign in while others' failures slow everyone else.
 */
export const DEVICE_COOKIE = 'tessera_device';

/** The browser's side of a passkey ceremony in progress: its challenge is stored under this value's hash. */
export const WEBAUTHN_COOKIE = 'tessera_webauthn';

/** The language a person chose on a page (docs/languages.md): a preference, not a secret. */
export const LANGUAGE_COOKIE = 'tessera_lang';

/** Every name above; the gateway also treats any other `tessera_` name as Tessera's own. */
export const TESSERA_COOKIES: readonly string[] = [SESSION_COOKIE, CSRF_COOKIE, UPSTREAM_COOKIE, DEVICE_COOKIE, SECOND_STEP_COOKIE, WEBAUTHN_COOKIE, LANGUAGE_COOKIE];

/** A cookie name that is (or could be) Tessera's: one of the above, or any `tessera_…` name. */
export function isTesseraCookie(name: string): boolean {
  const n = name.trim().toLowerCase();
  return TESSERA_COOKIES.includes(n) || n.startsWith('tessera_') || n.startsWith('__host-tessera_') || n.startsWith('__secure-tessera_');
}
