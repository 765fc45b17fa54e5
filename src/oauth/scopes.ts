import { invalidScope } from './errors.ts';

/** RFC 6749 §3.3: scope-token = 1*( %x21 / %x23-5B / %x5D-7E ) */
const SCOPE_TOKEN = /^[\x21\x23-\x5b\x5d-\x7e]+$/;

export const OPENID_SCOPES: Readonly<Record<string, string>> = {
  openid: 'Sign you in and know who you are',
  profile: 'See your name and username',
  email: 'See your email address',
  offline_access: 'Keep access while you are away',
};

/** Opens the admin API (/admin/api/v1); granted only to users holding the `admin` role (grant-policy.ts). */
export const ADMIN_SCOPE = 'tessera.admin';

export function isScopeToken(s: string): boolean {
  return s.length <= 200 && SCOPE_TOKEN.test(s);
}

/** Parses a space-delimited scope string into a de-duplicated list, in order. */
export function parseScope(value: string | undefined): string[] {
  if (value === undefined) return [];
  const out: string[] = [];
  for (const token of value.split(' ')) {
    if (token === '') continue;
    if (!isScopeToken(token)) throw invalidScope('scope contains characters not allowed by RFC 6749 §3.3');
    if (!out.includes(token)) out.push(token);
  }
  return out;
}

export function formatScope(scopes: readonly string[]): string {
  return scopes.join(' ');
}
