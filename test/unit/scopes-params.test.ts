import { describe, expect, test } from 'vitest';
import { isScopeToken } from '../../src/lib/scope-names.ts';
import { OAuthError } from '../../src/oauth/errors.ts';
import { MAX_PARAM_LENGTH, parseForm, singleValued, truncate, type RawParams } from '../../src/oauth/params.ts';
import { formatScope, parseScope } from '../../src/oauth/scopes.ts';

function thrown(fn: () => unknown): OAuthError {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(OAuthError);
    return error as OAuthError;
  }
  throw new Error('expected an OAuthError, nothing was thrown');
}

describe('isScopeToken (RFC 6749 §3.3: 1*( %x21 / %x23-5B / %x5D-7E ))', () => {
  const allowed = Array.from({ length: 0x7e - 0x21 + 1 }, (_, i) => String.fromCharCode(0x21 + i)).filter((c) => c !== '"' && c !== '\\');

  test('every allowed character on its own is a scope token', () => {
    expect(allowed).toHaveLength(92);
    for (const c of allowed) expect(isScopeToken(c), JSON.stringify(c)).toBe(true);
  });

  test('the boundaries of the ranges', () => {
    expect(isScopeToken('!')).toBe(true); // %x21
    expect(isScopeToken('#')).toBe(true); // %x23
    expect(isScopeToken('[')).toBe(true); // %x5B
    expect(isScopeToken(']')).toBe(true); // %x5D
    expect(isScopeToken('~')).toBe(true); // %x7E
  });

  test.each([
    ['empty', ''],
    ['space', ' '],
    ['double quote (%x22)', '"'],
    ['backslash (%x5C)', '\\'],
    ['DEL (%x7F)', '\x7f'],
    ['tab', '\t'],
    ['newline', 'a\nb'],
    ['NUL', 'a\u0000'],
    ['non-ASCII letter', 'café'],
    ['non-breaking space', 'a\u00a0b'],
    ['emoji', 'read😀'],
    ['token with a quote inside', 'read"write'],
  ])('%s is not a scope token', (_name, value) => {
    expect(isScopeToken(value)).toBe(false);
  });

  test('realistic scopes are tokens', () => {
    for (const s of ['openid', 'offline_access', 'accounts.read', 'cfgateway', 'https://api.example/read', 'urn:x:y', 'a[0]{}|~']) {
      expect(isScopeToken(s), s).toBe(true);
    }
  });

  test('length is capped at 200 characters', () => {
    expect(isScopeToken('a'.repeat(200))).toBe(true);
    expect(isScopeToken('a'.repeat(201))).toBe(false);
  });
});

describe('parseScope', () => {
  test.each<[string, string | undefined, string[]]>([
    ['absent', undefined, []],
    ['empty string', '', []],
    ['only spaces', '   ', []],
    ['one scope', 'openid', ['openid']],
    ['several, in request order', 'b a c', ['b', 'a', 'c']],
    ['duplicates removed, first occurrence kept', 'a b a c b', ['a', 'b', 'c']],
    ['leading, trailing and repeated spaces tolerated', '  a   b  ', ['a', 'b']],
    ['case-sensitive (RFC 6749 §3.3)', 'Read read READ', ['Read', 'read', 'READ']],
    ['punctuation allowed by the ABNF', 'a:b c/d e.f g_h i-j', ['a:b', 'c/d', 'e.f', 'g_h', 'i-j']],
  ])('%s', (_name, value, expected) => {
    expect(parseScope(value)).toEqual(expected);
  });

  test.each<[string, string]>([
    ['a tab as separator', 'a\tb'],
    ['a newline as separator', 'a\nb'],
    ['a double quote', 'a "b"'],
    ['a backslash', 'a\\b'],
    ['a non-ASCII character', 'lecture écriture'],
    ['a control character', 'a\u0001'],
    ['an oversized token', `ok ${'x'.repeat(201)}`],
  ])('%s → invalid_scope', (_name, value) => {
    const error = thrown(() => parseScope(value));
    expect(error.error).toBe('invalid_scope');
    expect(error.status).toBe(400);
    expect(error.description).toMatch(/RFC 6749 section 3\.3/);
  });

  test('formatScope joins with single spaces, and round-trips through parseScope', () => {
    expect(formatScope([])).toBe('');
    expect(formatScope(['a', 'b', 'c'])).toBe('a b c');
    expect(parseScope(formatScope(parseScope(' c  a c b ')))).toEqual(['c', 'a', 'b']);
  });
});

const raw = (entries: Array<[string, string[]]>): RawParams => new Map(entries);

describe('singleValued (RFC 6749 §3.1, §3.2)', () => {
  test('single values pass through unchanged', () => {
    expect(singleValued(raw([['grant_type', ['client_credentials']], ['scope', ['a b']]]))).toEqual(
      new Map([
        ['grant_type', 'client_credentials'],
        ['scope', 'a b'],
      ]),
    );
  });

  test('an empty value is treated as omitted', () => {
    const out = singleValued(raw([['grant_type', ['client_credentials']], ['scope', ['']], ['client_secret', ['']]]));
    expect(out.has('scope')).toBe(false);
    expect(out.has('client_secret')).toBe(false);
    expect([...out.keys()]).toEqual(['grant_type']);
  });

  test('whitespace is a value, not an omission', () => {
    expect(singleValued(raw([['scope', [' ']]])).get('scope')).toBe(' ');
  });

  test.each<[string, Array<[string, string[]]>]>([
    ['a repeated parameter', [['grant_type', ['client_credentials', 'client_credentials']]]],
    ['a repeated parameter with different values', [['scope', ['a', 'b']]]],
    ['a repeated parameter whose values are empty', [['scope', ['', '']]]],
    ['a repeated parameter, one value empty', [['client_id', ['app', '']]]],
  ])('%s → invalid_request', (_name, entries) => {
    const error = thrown(() => singleValued(raw(entries)));
    expect(error.error).toBe('invalid_request');
    expect(error.description).toMatch(/more than once/);
    expect(error.description).toContain(entries[0]![0]);
  });

  test('values up to the limit are accepted; one character more is invalid_request', () => {
    expect(singleValued(raw([['state', ['s'.repeat(MAX_PARAM_LENGTH)]]])).get('state')).toHaveLength(MAX_PARAM_LENGTH);
    const error = thrown(() => singleValued(raw([['state', ['s'.repeat(MAX_PARAM_LENGTH + 1)]]])));
    expect(error.error).toBe('invalid_request');
    expect(error.description).toMatch(/too long/);
  });

  test('the limit counts characters of the decoded value', () => {
    // 4096 three-byte characters: within the limit in characters.
    expect(singleValued(raw([['state', ['€'.repeat(MAX_PARAM_LENGTH)]]])).get('state')).toHaveLength(MAX_PARAM_LENGTH);
  });

  test('a hostile parameter name is truncated in the error description', () => {
    const name = 'n'.repeat(10_000);
    const error = thrown(() => singleValued(raw([[name, ['a', 'b']]])));
    expect(error.description.length).toBeLessThan(100);
    expect(error.description).toContain("'nnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnn...'");
  });

  test('an empty map gives an empty map', () => {
    expect(singleValued(new Map())).toEqual(new Map());
  });
});

describe('parseForm', () => {
  test('keeps every value of a repeated name, in order', () => {
    expect(parseForm('scope=a&grant_type=x&scope=b')).toEqual(
      raw([
        ['scope', ['a', 'b']],
        ['grant_type', ['x']],
      ]),
    );
  });

  test('decodes form-urlencoding ("+" is a space, %XX escapes)', () => {
    expect(parseForm('scope=a+b&secret=x%2By%3Az&name=caf%C3%A9')).toEqual(
      raw([
        ['scope', ['a b']],
        ['secret', ['x+y:z']],
        ['name', ['café']],
      ]),
    );
  });

  test('a name without "=" has an empty value; an empty body has no parameters', () => {
    expect(parseForm('flag')).toEqual(raw([['flag', ['']]]));
    expect(parseForm('')).toEqual(new Map());
  });

  test('malformed percent-escapes do not throw', () => {
    expect(parseForm('a=%ZZ&b=%')).toEqual(
      raw([
        ['a', ['%ZZ']],
        ['b', ['%']],
      ]),
    );
  });

  test('bodies with nothing escaped (split directly) parse as URLSearchParams parses them', () => {
    const reference = (body: string): RawParams => {
      const out: RawParams = new Map();
      for (const [name, value] of new URLSearchParams(body)) out.set(name, [...(out.get(name) ?? []), value]);
      return out;
    };
    const bodies = [
      'grant_type=client_credentials&scope=bench.read',
      'a=1&&b=2', '&a=1&', '&&', '=', '=x', 'a=', 'a==b', 'a=b=c&d', 'flag&x=1', 'x=1&x=2&x=',
      '?a=1', 'a=?b', 'ü=é&k=✓', 'a=1&b', 'a%3D=1', 'a=b+c', '+=+', 'a=%41',
    ];
    for (const body of bodies) expect(parseForm(body), body).toEqual(reference(body));
  });

  test('duplicates found by parseForm are refused by singleValued', () => {
    expect(thrown(() => singleValued(parseForm('client_id=a&client_id=a'))).error).toBe('invalid_request');
  });

  test('empty values from the form are omitted by singleValued', () => {
    expect(singleValued(parseForm('grant_type=client_credentials&scope=&client_id='))).toEqual(new Map([['grant_type', 'client_credentials']]));
  });
});

test('truncate', () => {
  expect(truncate('short')).toBe('short');
  expect(truncate('x'.repeat(40))).toBe('x'.repeat(40));
  expect(truncate('x'.repeat(41))).toBe(`${'x'.repeat(40)}…`);
  expect(truncate('abcdef', 3)).toBe('abc…');
});
