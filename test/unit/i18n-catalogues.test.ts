import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { parse, TYPE, type MessageFormatElement } from '@formatjs/icu-messageformat-parser';
import { describe, expect, test } from 'vitest';
import { catalogue, SHIPPED_LOCALES } from '../../src/i18n/index.ts';
import { translator } from '../../src/i18n/translator.ts';

/**
 * Every catalogue is English's twin (docs/languages.md): the same keys, no extra, each message
 * valid ICU with the same placeholders and the same markup tags, so no page falls back to a key
 * or an English word, and no translation asks for a value the code does not give.
 */
const MESSAGES = join(import.meta.dirname, '../../src/i18n/messages');

/** The arguments (with their kind) and tags a message uses. */
function signature(message: string): string[] {
  const out = new Set<string>();
  const walk = (elements: MessageFormatElement[]) => {
    for (const e of elements) {
      if (e.type === TYPE.argument || e.type === TYPE.number || e.type === TYPE.date || e.type === TYPE.time) out.add(`{${e.value}}`);
      if (e.type === TYPE.plural || e.type === TYPE.select) {
        out.add(`{${e.value}, ${e.type === TYPE.plural ? 'plural' : 'select'}}`);
        for (const o of Object.values(e.options)) walk(o.value);
      }
      if (e.type === TYPE.tag) {
        out.add(`<${e.value}>`);
        walk(e.children);
      }
    }
  };
  walk(parse(message));
  return [...out].sort();
}

describe('message catalogues', () => {
  const english = catalogue('en');

  test('the shipped catalogues are exactly the files in src/i18n/messages', () => {
    const files = readdirSync(MESSAGES).filter((f) => f.endsWith('.json')).map((f) => f.replace(/\.json$/, '')).sort();
    expect(files).toEqual([...SHIPPED_LOCALES].sort());
  });

  for (const locale of SHIPPED_LOCALES.filter((l) => l !== 'en')) {
    test(`${locale} has every English key, no other, with the same placeholders and tags`, () => {
      const messages = catalogue(locale);
      expect(Object.keys(messages).filter((k) => !(k in english)), 'keys English does not have').toEqual([]);
      expect(Object.keys(english).filter((k) => !(k in messages)), 'English keys missing').toEqual([]);
      for (const [key, message] of Object.entries(english)) {
        expect(typeof messages[key], key).toBe('string');
        expect(messages[key]!.trim(), `${key} is empty`).not.toBe('');
        expect(signature(messages[key]!), `${locale} ${key}`).toEqual(signature(message));
      }
    });
  }

  test('every English message parses, and formats with its placeholders filled', () => {
    for (const [key, message] of Object.entries(english)) {
      expect(() => parse(message), key).not.toThrow();
    }
    expect(translator('de').t('wait.seconds', { count: 1 })).toBe('1 Sekunde');
    expect(translator('fr').t('login.error.throttled', { wait: translator('fr').wait(90) })).toBe('Trop de tentatives de connexion échouées. Patientez 2 minutes, puis réessayez.');
  });
});
