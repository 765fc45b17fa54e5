import type { ClaimMapping } from './provider.ts';

/** Who the provider says signed in: what Tessera keeps of an upstream account. */
export interface UpstreamProfile {
  providerId: string;
  providerSlug: string;
  /** The provider's stable identifier for the account (`sub`; for OAuth 2.0 the mapped claim). */
  subject: string;
  email: string | null;
  /** True only when the provider said so explicitly. */
  emailVerified: boolean;
  name: string | null;
  givenName: string | null;
  familyName: string | null;
  preferredUsername: string | null;
}

/** OIDC Core §2: `sub` is at most 255 ASCII characters. */
const MAX_SUBJECT = 255;
const MAX_EMAIL = 320;
const MAX_NAME = 200;

/** The standard OIDC claim names (OIDC Core §5.1). */
export const OIDC_CLAIMS: ClaimMapping = {
  subject: 'sub',
  email: 'email',
  emailVerified: 'email_verified',
  name: 'name',
  givenName: 'given_name',
  familyName: 'family_name',
  preferredUsername: 'preferred_username',
};

/**
 * Reads a profile out of claims a provider sent, taking nothing on trust: wrong types,
 * control characters and oversized values become null; a missing or unusable subject makes
 * the whole profile unusable (undefined).
 */
export function profileFromClaims(
  claims: Record<string, unknown>,
  mapping: ClaimMapping,
  provider: { id: string; slug: string },
): UpstreamProfile | undefined {
  const rawSubject = read(claims, mapping.subject);
  const subject = typeof rawSubject === 'number' && Number.isSafeInteger(rawSubject) ? String(rawSubject) : rawSubject;
  if (typeof subject !== 'string' || subject === '' || subject.length > MAX_SUBJECT || /[\u0000-\u001f\u007f]/.test(subject)) return undefined;
  const rawEmail = text(read(claims, mapping.email), MAX_EMAIL);
  const email = rawEmail !== null && /^[^\s@]+@[^\s@]+$/.test(rawEmail) ? rawEmail : null;
  const verified = read(claims, mapping.emailVerified);
  return {
    providerId: provider.id,
    providerSlug: provider.slug,
    subject,
    email,
    // Some providers (AWS Cognito) send the boolean as a string.
    emailVerified: email !== null && (verified === true || verified === 'true'),
    name: text(read(claims, mapping.name), MAX_NAME),
    givenName: text(read(claims, mapping.givenName), MAX_NAME),
    familyName: text(read(claims, mapping.familyName), MAX_NAME),
    preferredUsername: text(read(claims, mapping.preferredUsername), MAX_NAME),
  };
}

/** A member name or a dotted path (`data.attributes.email`). */
function read(claims: Record<string, unknown>, path: string | undefined): unknown {
  if (path === undefined) return undefined;
  let value: unknown = claims;
  for (const part of path.split('.')) {
    if (typeof value !== 'object' || value === null || Array.isArray(value) || !Object.hasOwn(value, part)) return undefined;
    value = (value as Record<string, unknown>)[part];
  }
  return value;
}

function text(value: unknown, max: number): string | null {
  if (typeof value !== 'string') return null;
  const trimmed = value.trim();
  if (trimmed === '' || trimmed.length > max || /[\u0000-\u001f\u007f]/.test(trimmed)) return null;
  return trimmed;
}
