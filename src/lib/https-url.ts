import { validationError } from '../errors.ts';

/**
 * An absolute https URL without credentials, at most 2000 characters, normalised by the URL
 * parser: what may be linked from a page (terms, privacy, an app's homepage) or, with the
 * operator's leave, shown as an image. A validation error names the field otherwise.
 */
export function httpsUrl(value: unknown, field: string): string {
  if (typeof value !== 'string' || value.length > 2000) throw validationError(`${field} must be an https URL of at most 2000 characters`, field);
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw validationError(`${field} must be an absolute https URL`, field);
  }
  if (url.protocol !== 'https:' || url.username || url.password || !url.hostname) throw validationError(`${field} must be an https URL without credentials`, field);
  return url.toString();
}

/** `httpsUrl`, or null for null or "" (clearing the field). */
export function optionalHttpsUrl(value: unknown, field: string): string | null {
  return value === null || value === '' ? null : httpsUrl(value, field);
}

/**
 * The origin of an https URL when it is safe to name in a CSP header (`img-src`): a host of
 * letters, digits, dots and hyphens (IDNs arrive as punycode) and an optional port. The URL
 * parser lets `;`, `,` and quotes through in hosts, which would end or extend a directive.
 */
export function cspSafeOrigin(url: string): string | undefined {
  let origin: string;
  try {
    const parsed = new URL(url);
    if (parsed.protocol !== 'https:') return undefined;
    origin = parsed.origin;
  } catch {
    return undefined;
  }
  return /^https:\/\/[a-z0-9.-]+(?::\d{1,5})?$/.test(origin) ? origin : undefined;
}
