import { ServiceError, validationError } from '../errors.ts';
import { text } from '../lib/text.ts';
import { SHIPPED_LOCALES } from './catalogues.ts';

/**
 * Words an operator enters, with their translations (docs/languages.md, "App names and scope
 * descriptions"): an app's name, an API scope's description. The text as entered is the
 * default; `translations` holds the same text in other shipped languages, keyed by the
 * language's tag (`de`, `fr`, …). A page shows the translation for its language and falls back
 * to the default.
 */
export type Translations = Readonly<Partial<Record<string, string>>>;

/**
 * `text` in the page language `locale`: its translation (exact tag, else the language part,
 * so `ar-XB` finds `ar`), else `text` itself.
 */
export function inLanguage(text: string, translations: Translations | undefined, locale: string): string {
  if (!translations) return text;
  return translations[locale] ?? translations[locale.split('-')[0]!] ?? text;
}

/**
 * The translations an operator gave, checked: keys are shipped languages, values single-line
 * text of at most `max` characters; an empty value leaves that language out (back to the
 * default text). The whole map replaces the old one.
 */
export function checkTranslations(input: Readonly<Record<string, unknown>> | null, field: string, max: number, label = field): Record<string, string> {
  if (input === null) return {};
  if (typeof input !== 'object' || Array.isArray(input)) throw validationError(`${label} must be an object of language → text`, field);
  const out: Record<string, string> = {};
  for (const [locale, value] of Object.entries(input)) {
    if (!(SHIPPED_LOCALES as readonly string[]).includes(locale)) {
      throw validationError(`${label}: "${locale.slice(0, 20)}" is not a language Tessera ships (${SHIPPED_LOCALES.join(', ')})`, field);
    }
    if (typeof value !== 'string') throw validationError(`${label}.${locale} must be text`, field);
    const checked = textIn(value, `${label}.${locale}`, field, max);
    if (checked) out[locale] = checked;
  }
  return sorted(out);
}

function textIn(value: string, label: string, field: string, max: number): string {
  try {
    return text(value, label, 0, max);
  } catch (error) {
    // text() names the field it checked; the admin API's `field` is the top-level one.
    if (error instanceof ServiceError) throw validationError(error.message, field);
    throw error;
  }
}

/** The same translations in the shipped languages' order, so equal maps serialise equally. */
function sorted(map: Record<string, string>): Record<string, string> {
  return Object.fromEntries(SHIPPED_LOCALES.filter((l) => map[l] !== undefined).map((l) => [l, map[l]!]));
}

/** Stored JSON → translations; anything else (an old row, a hand-edited one) → none. */
export function parseTranslations(json: string | null | undefined): Record<string, string> {
  if (!json) return {};
  try {
    const value: unknown = JSON.parse(json);
    if (!value || typeof value !== 'object' || Array.isArray(value)) return {};
    return Object.fromEntries(Object.entries(value).filter((e): e is [string, string] => typeof e[1] === 'string'));
  } catch {
    return {};
  }
}
