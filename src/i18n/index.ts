export { SHIPPED_LOCALES, RTL_TEST_LOCALE, textDirection, catalogue, type MessageKey } from './catalogues.ts';
export { negotiateLocale, matchLocale, parseAcceptLanguage, type LocaleHints } from './negotiate.ts';
export { translator, languageName, type Translator, type MessageValues } from './translator.ts';
