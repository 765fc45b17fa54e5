import { describe, expect, test } from 'vitest';
import { matchLocale, negotiateLocale, parseAcceptLanguage, RTL_TEST_LOCALE, textDirection, translator } from '../../src/i18n/index.ts';
import { samePagePath, withUiLocales } from '../../src/http/language-routes.ts';

const AVAILABLE = ['en', 'de', 'fr', 'es'];

describe('locale negotiation (ui_locales, then the chooser cookie, then Accept-Language, then the default)', () => {
  test('ui_locales wins, in its own order, skipping what is not available', () => {
    expect(negotiateLocale({ uiLocales: 'ja fr-CA de', cookie: 'es', acceptLanguage: 'de' }, AVAILABLE, 'en')).toBe('fr');
  });
  test('the cookie comes next, then Accept-Language by quality, then the default', () => {
    expect(negotiateLocale({ uiLocales: 'ja', cookie: 'es', acceptLanguage: 'de' }, AVAILABLE, 'en')).toBe('es');
    expect(negotiateLocale({ cookie: 'xx', acceptLanguage: 'ja, fr;q=0.5, de;q=0.9' }, AVAILABLE, 'en')).toBe('de');
    expect(negotiateLocale({ acceptLanguage: 'ja, *;q=0.5' }, AVAILABLE, 'es')).toBe('es');
    expect(negotiateLocale({}, AVAILABLE, 'fr')).toBe('fr');
  });
  test('a region falls back to its language; case does not matter', () => {
    expect(matchLocale('DE-at', AVAILABLE)).toBe('de');
    expect(matchLocale('es_MX', AVAILABLE)).toBe('es');
    expect(matchLocale('ar', [...AVAILABLE, RTL_TEST_LOCALE])).toBe(RTL_TEST_LOCALE);
    expect(matchLocale('', AVAILABLE)).toBeUndefined();
  });
  test('junk in the headers is skipped, never an error', () => {
    expect(parseAcceptLanguage('de;q=0, fr;q=abc, <script>, en-GB;q=0.3, es')).toEqual(['es', 'en-GB']);
    expect(parseAcceptLanguage('x'.repeat(10_000))).toEqual([]);
    expect(negotiateLocale({ uiLocales: '\u0000 ' + 'a'.repeat(1000), acceptLanguage: ';;;,,,' }, AVAILABLE, 'en')).toBe('en');
  });
  test('direction: the RTL test locale is right-to-left, the shipped ones left-to-right', () => {
    expect(textDirection(RTL_TEST_LOCALE)).toBe('rtl');
    expect(AVAILABLE.map(textDirection)).toEqual(['ltr', 'ltr', 'ltr', 'ltr']);
    const rtl = translator(RTL_TEST_LOCALE).t('consent.heading', { app: 'Acme' });
    expect(rtl).toContain('Acme');
    expect(rtl.replace('Acme', '')).not.toMatch(/[a-z]/i);
  });
});

describe('the language chooser', () => {
  test('comes back only to a path on this site', () => {
    expect(samePagePath('/login?return_to=%2Fconnect%2Fauthorize')).toBe('/login?return_to=%2Fconnect%2Fauthorize');
    for (const bad of ['//evil.example/', '/\\evil.example', 'https://evil.example/', 'javascript:alert(1)', '/a b', undefined]) expect(samePagePath(bad)).toBeUndefined();
  });
  test('the choice replaces ui_locales in the page and in its return_to', () => {
    expect(withUiLocales('/consent?client_id=a&ui_locales=fr', 'de')).toBe('/consent?client_id=a&ui_locales=de');
    const login = `/login?${new URLSearchParams({ return_to: '/connect/authorize?client_id=a&ui_locales=fr+es' })}`;
    const inner = new URLSearchParams(withUiLocales(login, 'es').split('?')[1]).get('return_to');
    expect(inner).toBe('/connect/authorize?client_id=a&ui_locales=es');
    expect(withUiLocales('/logout', 'de')).toBe('/logout');
  });
});
