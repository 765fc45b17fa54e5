import type { PageText } from '../errors.ts';
import type { MessageKey, MessageValues } from '../i18n/index.ts';
import { languageName } from '../i18n/translator.ts';
import { inLanguage, type Translations } from '../i18n/translations.ts';
import { escapeHtml, html, SafeHtml } from './html.ts';
import { pageContext } from './page-context.ts';

/**
 * The page templates' words (docs/languages.md): `t(key, values)` is text in the page's
 * language, escaped like any other value when put into html``. `tHtml` is the one way a
 * message carries markup: only the tags <strong>, <em> and <code> are kept, and every other
 * piece — the message's own text and every value — is escaped.
 */
export function t(key: MessageKey, values?: MessageValues): string {
  return pageContext().i18n.t(key, values);
}

/**
 * A message a service or a route hands to a page (a form error): its catalogue text in the
 * page's language when it carries a key (ServiceError.text), else the text as given.
 */
export function tText(text: string | PageText): string {
  return typeof text === 'string' ? text : t(text.key as MessageKey, text.values);
}

/**
 * A service's error as this page's reader reads it: its catalogue text when it has one, else
 * `english(error.message)` (errors that have no key yet; docs/languages.md).
 */
export function tError(error: { message: string; text: PageText | undefined }, english: (message: string) => string = (m) => m): string {
  return error.text ? tText(error.text) : english(error.message);
}

export function tHtml(key: MessageKey, values: MessageValues = {}): SafeHtml {
  const parts = pageContext().i18n.parts<SafeHtml>(key, values, (tag, chunks) => new SafeHtml(`<${tag}>${chunks.map(piece).join('')}</${tag}>`));
  return new SafeHtml(parts.map(piece).join(''));
}

function piece(p: string | SafeHtml): string {
  return p instanceof SafeHtml ? p.value : escapeHtml(p);
}

/**
 * Words an operator entered (an app's name, a scope's description) in the page's language:
 * their translation for it, else the text as entered.
 */
export function tEntered(text: string, translations: Translations | undefined): string {
  return inLanguage(text, translations, pageContext().lang);
}

/** An app's name as people on this page read it. */
export function appName(client: { name: string; nameTranslations?: Translations | undefined }): string {
  return tEntered(client.name, client.nameTranslations);
}

/** The page's language and its direction, for `<html lang dir>`. */
export function pageDir(): 'ltr' | 'rtl' {
  return pageContext().i18n.dir;
}

/**
 * The language chooser: one plain link per language (no script, docs/languages.md), each to
 * /language, which remembers the choice in a cookie and comes back to this page.
 */
export function languageChooser(): SafeHtml {
  const { lang, languages } = pageContext();
  if (languages.available.length < 2) return html``;
  const back = languages.here ? `&return_to=${encodeURIComponent(languages.here)}` : '';
  return html`<nav class="languages small" aria-label="${t('language.label')}"><ul>${languages.available.map((l) =>
    l === lang
      ? html`<li><span aria-current="true" lang="${l}">${languageName(l)}</span></li>`
      : html`<li><a href="/language?set=${encodeURIComponent(l)}${back}" lang="${l}" hreflang="${l}">${languageName(l)}</a></li>`,
  )}</ul></nav>`;
}
