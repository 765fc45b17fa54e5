import { readFileSync } from 'node:fs';
import { parse, TYPE, type MessageFormatElement } from '@formatjs/icu-messageformat-parser';

/**
 * The message catalogues (src/i18n/messages/<locale>.json): ICU MessageFormat strings, one
 * file per language, English the reference. Every catalogue has exactly English's keys with
 * the same placeholders (test/unit/i18n-catalogues.test.ts), so a key missing in German is a
 * failing test, not an English word on a German page.
 */
export type Catalogue = typeof import('./messages/en.json');
export type MessageKey = keyof Catalogue;

/** The languages Tessera ships, English first (the fallback of last resort). */
export const SHIPPED_LOCALES = ['en', 'de', 'fr', 'es'] as const;

/**
 * A pseudo-locale for checking right-to-left layout (TESSERA_TEST_LOCALE=on): Arabic letters
 * in place of English ones, placeholders and markup kept. `ar-XB` is the tag Chromium and
 * Android use for their own bidi pseudo-locale.
 */
export const RTL_TEST_LOCALE = 'ar-XB';

const RTL_LANGUAGES = new Set(['ar', 'fa', 'he', 'ur', 'ps', 'yi', 'dv', 'ckb', 'sd', 'ug']);

export function textDirection(locale: string): 'ltr' | 'rtl' {
  return RTL_LANGUAGES.has(locale.split('-')[0]!.toLowerCase()) ? 'rtl' : 'ltr';
}

export type Messages = Readonly<Record<string, string | MessageFormatElement[]>>;

const cache = new Map<string, Record<string, string>>();

/** A shipped catalogue as written (strings), read once. */
export function catalogue(locale: string): Record<string, string> {
  let messages = cache.get(locale);
  if (!messages) {
    messages = JSON.parse(readFileSync(new URL(`./messages/${locale}.json`, import.meta.url), 'utf8')) as Record<string, string>;
    cache.set(locale, messages);
  }
  return messages;
}

/** The messages of a locale as the formatter takes them: the RTL test locale is made from English. */
export function messagesOf(locale: string): Messages {
  if (locale === RTL_TEST_LOCALE) return pseudoRtl(catalogue('en'));
  return catalogue(locale);
}

const LATIN = 'abcdefghijklmnopqrstuvwxyz';
const ARABIC = 'ابتثجحخدذرزسشصضطظعغفقكلمنه';

function pseudoRtl(english: Record<string, string>): Messages {
  const out: Record<string, MessageFormatElement[]> = {};
  for (const [key, message] of Object.entries(english)) out[key] = parse(message).map(pseudoElement);
  return out;
}

/** Letters of literal text become Arabic ones; arguments, plural/select keys and tags stay. */
function pseudoElement(element: MessageFormatElement): MessageFormatElement {
  switch (element.type) {
    case TYPE.literal:
      return { ...element, value: element.value.replace(/[a-z]/gi, (c) => ARABIC[LATIN.indexOf(c.toLowerCase())]!) };
    case TYPE.plural:
    case TYPE.select:
      return { ...element, options: Object.fromEntries(Object.entries(element.options).map(([k, o]) => [k, { ...o, value: o.value.map(pseudoElement) }])) } as MessageFormatElement;
    case TYPE.tag:
      return { ...element, children: element.children.map(pseudoElement) };
    default:
      return element;
  }
}
