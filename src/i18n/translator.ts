import { createIntl, createIntlCache, type IntlShape } from '@formatjs/intl';
import { messagesOf, textDirection, type MessageKey } from './catalogues.ts';

export type MessageValues = Readonly<Record<string, string | number>>;

/**
 * One language's formatter (ICU MessageFormat through @formatjs/intl, dates and numbers
 * through the platform's Intl): what a page or an email uses for every word it shows.
 * `t` returns text, never HTML: the page templates escape it like any other value. Markup
 * inside a message (`<strong>{app}</strong>`) goes through `parts`, whose caller decides
 * what each tag becomes and escapes everything else (src/pages/i18n-html.ts).
 */
export interface Translator {
  readonly locale: string;
  readonly dir: 'ltr' | 'rtl';
  t(key: MessageKey, values?: MessageValues): string;
  /** The message as text pieces and tagged pieces, for rich text. */
  parts<T>(key: MessageKey, values: MessageValues, tag: (name: string, chunks: Array<string | T>) => T): Array<string | T>;
  /** "6 December 2026" (UTC: the server does not know the reader's zone). */
  date(epochSeconds: number): string;
  /** "6 Dec 2026, 10:45 UTC". */
  dateTime(epochSeconds: number): string;
  number(value: number): string;
  /** "37 seconds", "4 minutes" (rounded up): a wait before trying again. */
  wait(seconds: number): string;
}

const intlCache = createIntlCache();
const translators = new Map<string, Translator>();

/** The translator of an available locale (built once per locale). */
export function translator(locale: string): Translator {
  let found = translators.get(locale);
  if (!found) {
    found = build(locale);
    translators.set(locale, found);
  }
  return found;
}

function build(locale: string): Translator {
  const intl: IntlShape<string> = createIntl(
    {
      locale,
      defaultLocale: 'en',
      messages: messagesOf(locale) as Record<string, string>,
      // A missing key is caught by the catalogue test; at run time the key itself shows.
      onError: () => undefined,
    },
    intlCache,
  );
  const dateTime = new Intl.DateTimeFormat(locale, { day: 'numeric', month: 'short', year: 'numeric', hour: '2-digit', minute: '2-digit', hourCycle: 'h23', timeZone: 'UTC' });
  const date = new Intl.DateTimeFormat(locale, { day: 'numeric', month: 'long', year: 'numeric', timeZone: 'UTC' });
  const self: Translator = {
    locale,
    dir: textDirection(locale),
    t: (key, values) => String(intl.formatMessage({ id: key }, values)),
    parts<T>(key: MessageKey, values: MessageValues, tag: (name: string, chunks: Array<string | T>) => T) {
      const tags = Object.fromEntries(['strong', 'em', 'code'].map((name) => [name, (chunks: Array<string | T>) => tag(name, chunks)]));
      // With tag functions among the values, formatjs answers an array of pieces.
      const format = intl.formatMessage as unknown as (descriptor: { id: string }, values: Record<string, unknown>) => unknown;
      const out = format({ id: key }, { ...values, ...tags });
      return (Array.isArray(out) ? out : [out]).map((p) => (typeof p === 'number' ? String(p) : p)) as Array<string | T>;
    },
    date: (s) => date.format(new Date(s * 1000)),
    dateTime: (s) => `${dateTime.format(new Date(s * 1000))} UTC`,
    number: (n) => intl.formatNumber(n),
    wait: (seconds) => (seconds < 60 ? self.t('wait.seconds', { count: seconds }) : self.t('wait.minutes', { count: Math.ceil(seconds / 60) })),
  };
  return self;
}

/** A language's own name, for the language chooser ("Deutsch", "Français"). */
export function languageName(locale: string): string {
  const name = new Intl.DisplayNames([locale], { type: 'language' }).of(locale) ?? locale;
  return name.charAt(0).toLocaleUpperCase(locale) + name.slice(1);
}
