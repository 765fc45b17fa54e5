import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { describe, expect, test } from 'vitest';

/**
 * No page template says a word that is not from a catalogue (docs/languages.md). Every html``
 * template in src/pages is read (template-literal aware: nested ${…} and templates); its fixed text — text between
 * tags, and the human-readable attributes (aria-label, alt, title, placeholder) — must hold
 * no word (two letters or more in any script): words come in through ${t(…)}. So do the
 * `title:` and `notice:` strings given to layout() and accountLayout().
 *
 * PENDING lists the page modules of areas not converted yet (their engineers were changing
 * them while the catalogues landed); the test insists that each still has literals, so the
 * list can only shrink.
 */
const ROOT = join(import.meta.dirname, '../..');
const PAGES = join(ROOT, 'src/pages');
const PENDING = new Set<string>([]);
/** Fixed text that is no word of any language. */
const ALLOWED = new Set<string>([]);
const WORD = /\p{L}{2,}/u;
const ATTRIBUTES_ONLY = /^\s*(?:(?:[a-z-]+="[^"<>]*"|autofocus|checked|disabled|hidden|required|selected|readonly|multiple|open)\s*)+$/;
const READABLE_ATTRIBUTE = /\b(aria-label|alt|title|placeholder)\s*=\s*"([^"\u0001]*)"/gi;

export function untranslated(code: string): string[] {
  // Comments are no page text (and may quote html`` themselves).
  const source = code.replace(/\/\*[\s\S]*?\*\//g, '').replace(/^\s*\/\/.*$/gm, '');
  const found: string[] = [];
  for (const m of source.matchAll(/\bhtml`/g)) found.push(...literalsIn(templateParts(source, m.index + 4).parts.join('\u0001')));
  for (const m of source.matchAll(/\b(?:title|notice):\s*(['"])((?:\\.|(?!\1).)*)\1/g)) if (WORD.test(m[2]!)) found.push(m[2]!);
  return found;
}

/** The fixed parts of the template literal starting at `source[start]` (a backtick), and where it ends. */
function templateParts(source: string, start: number): { parts: string[]; end: number } {
  const parts: string[] = [];
  let part = '';
  let i = start + 1;
  while (i < source.length) {
    const c = source[i]!;
    if (c === '\\') {
      part += source.slice(i, i + 2);
      i += 2;
    } else if (c === '`') {
      parts.push(part);
      return { parts, end: i + 1 };
    } else if (c === '$' && source[i + 1] === '{') {
      parts.push(part);
      part = '';
      i = skipExpression(source, i + 2);
    } else {
      part += c;
      i++;
    }
  }
  throw new Error('unterminated template literal');
}

/** Past the `}` closing a `${…}` whose expression starts at `i` (strings and nested templates skipped). */
function skipExpression(source: string, i: number): number {
  let depth = 1;
  while (i < source.length) {
    const c = source[i]!;
    if (c === '{') depth++;
    else if (c === '}' && --depth === 0) return i + 1;
    else if (c === "'" || c === '"') {
      i++;
      while (i < source.length && source[i] !== c) i += source[i] === '\\' ? 2 : 1;
    } else if (c === '`') {
      i = templateParts(source, i).end;
      continue;
    }
    i++;
  }
  throw new Error('unterminated ${…}');
}

function literalsIn(fixed: string): string[] {
  const found: string[] = [];
  const withoutComments = fixed.replace(/<!--[\s\S]*?-->/g, '');
  // A template of attributes alone (html` aria-current="page"`, html`autofocus`).
  if (ATTRIBUTES_ONLY.test(withoutComments)) return [...literalsIn(`<x ${withoutComments}>`)];
  for (const tag of withoutComments.match(/<[^<>]*>/g) ?? []) {
    for (const m of tag.matchAll(READABLE_ATTRIBUTE)) if (WORD.test(m[2]!)) found.push(`${m[1]}="${m[2]}"`);
  }
  for (const text of withoutComments.replace(/<[^<>]*>/g, '\u0001').split('\u0001')) {
    const trimmed = text.trim();
    if (trimmed && WORD.test(trimmed) && !ALLOWED.has(trimmed)) found.push(trimmed);
  }
  return found;
}

function pageModules(): string[] {
  return readdirSync(PAGES, { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile() && e.name.endsWith('.ts'))
    .map((e) => relative(ROOT, join(e.parentPath, e.name)))
    .sort();
}

describe('no untranslated literal in page templates', () => {
  test('the scanner finds text nodes, readable attributes and titles, and lets t() through', () => {
    const sample = [
      "const a = html`<p>${t('x')}</p><p>Hello there</p><img alt=\"Company logo\" src=\"${s}\"><i aria-hidden=\"true\">·</i>`;",
      "layout({ title: 'Sign in', body: html`<h1>${t('login.title')}</h1><span>${n} · ${m}</span>${x ? html`autofocus` : html`hello world`}` });",
    ].join('\n');
    expect(untranslated(sample)).toEqual(['alt="Company logo"', 'Hello there', 'hello world', 'Sign in']);
  });

  for (const file of pageModules()) {
    if (PENDING.has(file)) {
      test(`${file} is still to be converted (remove it from PENDING when it is)`, () => {
        expect(untranslated(readFileSync(join(ROOT, file), 'utf8')).length).toBeGreaterThan(0);
      });
    } else {
      test(`${file} has no untranslated literal`, () => {
        expect(untranslated(readFileSync(join(ROOT, file), 'utf8'))).toEqual([]);
      });
    }
  }
});

/**
 * The route modules of the pages (src/http) hand sentences to the templates: errors, notices,
 * messagePage titles, the passkey ceremony's JSON error descriptions. Those must come from t()
 * too. A string literal that reads like an English sentence (a capitalised word and two more),
 * or any word given as a page field (`error:`, `notice:`, `title:`, `heading:`, `intro:`,
 * `continueLabel:`) or as messagePage's text, is a failure. Log lines, thrown errors and OAuth
 * error descriptions (English on purpose: for developers, docs/languages.md) are not page text.
 * HTTP_ALLOWED: the console's branding preview fills the sample consent page with example data.
 */
const HTTP = join(ROOT, 'src/http');
const HTTP_ALLOWED = new Set(['src/http/brand-preview.ts']);
const SENTENCE = /^[A-Z][\p{L}’']*(?:[ ,:;][^\s]+){2,}/u;
const NOT_PAGE_TEXT = /log\.(?:warn|info|error|debug)|Error\(|OAuthError|summary:|description:/;

export function routeLiterals(code: string): string[] {
  const source = code.replace(/\/\*[\s\S]*?\*\//g, '').replace(/^\s*\/\/.*$/gm, '');
  const found: string[] = [];
  for (const line of source.split('\n')) {
    if (NOT_PAGE_TEXT.test(line)) continue;
    for (const m of line.matchAll(/(['"`])((?:\\.|(?!\1).)*)\1/g)) if (SENTENCE.test(m[2]!)) found.push(m[2]!);
    for (const m of line.matchAll(/\b(?:error|notice|title|heading|intro|continueLabel):\s*(['"`])((?:\\.|(?!\1).)*)\1/g)) if (WORD.test(m[2]!) && !found.includes(m[2]!)) found.push(m[2]!);
    for (const m of line.matchAll(/messagePage\(\s*(['"`])((?:\\.|(?!\1).)*)\1/g)) if (WORD.test(m[2]!) && !found.includes(m[2]!)) found.push(m[2]!);
  }
  return found;
}

describe('no untranslated sentence in the pages’ route modules', () => {
  test('the scanner finds sentences and page fields, and lets t(), logs and protocol errors through', () => {
    const sample = [
      "return again(400, 'The two passwords differ.');",
      "send(messagePage('Done', t('x')));",
      "page(200, { notice: 'Saved' });",
      "page(200, { notice: t('account.saved') });",
      "request.log.warn({ slug }, 'Sign-in through a provider failed');",
      "throw new OAuthError('invalid_request', 'Choose Allow or Deny please');",
      "const header = 'accept-language, cookie';",
    ].join('\n');
    expect(routeLiterals(sample)).toEqual(['The two passwords differ.', 'Done', 'Saved']);
  });

  const modules = readdirSync(HTTP, { withFileTypes: true })
    .filter((e) => e.isFile() && e.name.endsWith('.ts'))
    .map((e) => relative(ROOT, join(HTTP, e.name)))
    .filter((f) => !HTTP_ALLOWED.has(f))
    .sort();
  for (const file of modules) {
    test(`${file} hands the pages no untranslated sentence`, () => {
      expect(routeLiterals(readFileSync(join(ROOT, file), 'utf8'))).toEqual([]);
    });
  }
});
