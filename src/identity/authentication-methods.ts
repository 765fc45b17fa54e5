/**
 * How a user authenticated: RFC 8176 `amr` values and the `acr` Tessera derives from them.
 * Sessions record the methods; codes and refresh-token families copy them, so every ID token
 * issued from a sign-in says how that sign-in happened (OIDC Core §2).
 *
 * Values used: `pwd` (password), `otp` (a TOTP or recovery code), `hwk`/`swk` (a passkey:
 * hardware- or software-bound key), `fed` (signed in at an upstream identity provider: what it
 * checked is not known here), `mfa` (more than one factor, added whenever two kinds were done).
 */
export type AuthMethod = 'pwd' | 'otp' | 'hwk' | 'swk' | 'fed' | 'user' | 'pin' | 'mfa';

/** Authentication context class references Tessera issues and accepts in `acr_values` (docs/mfa.md). */
export const ACR = {
  /** One factor: a password, an upstream provider's sign-in, or a single-factor passkey. */
  basic: 'urn:tessera:acr:basic',
  /** More than one factor (the `amr` holds `mfa`). */
  mfa: 'urn:tessera:acr:mfa',
} as const;

export const ACR_VALUES_SUPPORTED: readonly string[] = [ACR.basic, ACR.mfa];

/** The `acr` of a sign-in with these methods. */
export function acrOf(amr: readonly string[]): string {
  return amr.includes('mfa') ? ACR.mfa : ACR.basic;
}

/** Whether `acr_values` (OIDC Core §3.1.2.1, space separated, in order of preference) asks for more than one factor. */
export function acrValuesAskMfa(acrValues: string | undefined): boolean {
  if (!acrValues) return false;
  const asked = acrValues.split(' ').filter(Boolean);
  // Only when every value the app accepts needs MFA: an app that lists basic too is satisfied by it.
  return asked.length > 0 && asked.every((v) => v === ACR.mfa);
}

/** Methods after one more factor: no duplicates, `mfa` once two different factors were done. */
export function withMethod(amr: readonly string[], method: AuthMethod): string[] {
  const out = amr.filter((m) => m !== 'mfa');
  if (!out.includes(method)) out.push(method);
  const factors = out.filter((m) => m !== 'user' && m !== 'pin');
  if (factors.length > 1 || amr.includes('mfa')) out.push('mfa');
  return out;
}

/** Stored form: space separated; null for rows written before second factors existed. */
export function formatAmr(amr: readonly string[]): string {
  return amr.join(' ');
}

export function parseAmr(stored: string | null | undefined): string[] {
  return stored ? stored.split(' ').filter(Boolean) : [];
}
