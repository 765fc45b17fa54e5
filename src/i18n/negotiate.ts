/**
 * Which language a page is in (docs/languages.md), first match wins:
 * 1. `ui_locales` of the authorization request (OIDC Core §3.1.2.1: space-separated BCP 47
 *    tags in order of preference), carried through login and consent;
 * 2. the language the person chose on a page (a cookie);
 * 3. the browser's `Accept-Language` (RFC 9110 §12.5.4, by quality);
 * 4. the operator's default.
 * A tag matches an available locale exactly (case-insensitively) or by its language alone
 * (`de-AT` → `de`); tags that match nothing are skipped, never an error.
 */
export interface LocaleHints {
  uiLocales?: string | undefined;
  cookie?: string | undefined;
  acceptLanguage?: string | undefined;
}

export function negotiateLocale(hints: LocaleHints, available: readonly string[], fallback: string): string {
  return (
    firstMatch(splitUiLocales(hints.uiLocales), available) ??
    (hints.cookie ? matchLocale(hints.cookie, available) : undefined) ??
    firstMatch(parseAcceptLanguage(hints.acceptLanguage), available) ??
    fallback
  );
}

/** `available`'s own spelling of `tag`, or undefined. */
export function matchLocale(tag: string, available: readonly string[]): string | undefined {
  const t = tag.trim().toLowerCase();
  if (!t || t.length > 35) return undefined;
  const exact = available.find((a) => a.toLowerCase() === t);
  if (exact) return exact;
  const language = t.split(/[-_]/)[0]!;
  return available.find((a) => a.toLowerCase() === language) ?? available.find((a) => a.toLowerCase().split('-')[0] === language);
}

function firstMatch(tags: string[], available: readonly string[]): string | undefined {
  for (const tag of tags) {
    const found = matchLocale(tag, available);
    if (found) return found;
  }
  return undefined;
}

function splitUiLocales(value: string | undefined): string[] {
  return value ? value.slice(0, 200).split(/\s+/).filter(Boolean).slice(0, 10) : [];
}

/** The tags of an Accept-Language header, best first; `*` and q=0 are left out. */
export function parseAcceptLanguage(header: string | undefined): string[] {
  if (!header) return [];
  const ranges = header
    .slice(0, 500)
    .split(',')
    .slice(0, 20)
    .map((part, index) => {
      const [tag = '', ...params] = part.trim().split(';');
      // A q that is not a number makes the range worthless rather than the best one.
      const q = params.find((p) => /^\s*q\s*=/i.test(p))?.split('=')[1]?.trim();
      const quality = q === undefined ? 1 : /^(?:0(?:\.\d{0,3})?|1(?:\.0{0,3})?)$/.test(q) ? Number(q) : 0;
      return { tag: tag.trim(), quality: Number.isFinite(quality) ? quality : 0, index };
    })
    .filter((r) => r.tag && r.tag !== '*' && r.quality > 0 && /^[a-z]{1,8}(?:-[a-z0-9]{1,8})*$/i.test(r.tag));
  return ranges.sort((a, b) => b.quality - a.quality || a.index - b.index).map((r) => r.tag);
}
