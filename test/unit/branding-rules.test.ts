import { describe, expect, test } from 'vitest';
import { checkBrandingField, contrastWarnings } from '../../src/admin/branding.ts';
import { contrastRatio } from '../../src/admin/contrast.ts';
import { checkLogo, sniffRaster } from '../../src/admin/logo-check.ts';
import { LIMITS } from '../../src/config/limits.ts';
import { ServiceError } from '../../src/errors.ts';
import { tinyPng } from '../support/images.ts';

const SAFE_SVG = '<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink" viewBox="0 0 10 10"><defs><linearGradient id="g"><stop offset="0" stop-color="#f00"/></linearGradient></defs><rect width="10" height="10" fill="url(#g)"/><title>Acme</title></svg>';

function refusal(fn: () => unknown): string {
  try {
    fn();
  } catch (error) {
    if (error instanceof ServiceError) return `${error.code}: ${error.message}`;
    throw error;
  }
  return 'accepted';
}

describe('WCAG contrast', () => {
  test.each([
    ['#000000', '#ffffff', 21],
    ['#ffffff', '#ffffff', 1],
    ['#777777', '#ffffff', 4.48],
    ['#2f5bea', '#ffffff', 5.51],
  ])('%s on %s is %s:1', (a, b, ratio) => {
    expect(contrastRatio(a, b)).toBeCloseTo(ratio, 1);
  });

  test('the default brand passes; a pale primary and a dark background are each warned about', () => {
    expect(contrastWarnings({ primary_color: '#2f5bea', background_color: '#f4f6fb' })).toEqual([]);
    const pale = contrastWarnings({ primary_color: '#ffeb3b', background_color: '#f4f6fb' });
    expect(pale.join('\n')).toMatch(/links in primary_color #ffeb3b/);
    expect(pale.join('\n')).not.toMatch(/button text/); // dark text on yellow reads well
    expect(contrastWarnings({ primary_color: '#2f5bea', background_color: '#333333' })).toEqual([expect.stringMatching(/text on background_color #333333 has a contrast of 1\.\d\d:1/)]);
    expect(contrastWarnings({ primary_color: '#808080', background_color: '#ffffff' }).join('\n')).toMatch(/button text on primary_color #808080/);
  });
});

describe('branding fields', () => {
  test.each([
    ['primary_color', '#ABC', '#aabbcc'],
    ['primary_color', ' #2F5BEA ', '#2f5bea'],
    ['product_name', '  Acme  ', 'Acme'],
    ['logo_url', '/static/logo.svg', '/static/logo.svg'],
    ['logo_url', '', null],
    ['terms_url', 'https://acme.example/terms', 'https://acme.example/terms'],
    ['allow_remote_app_logos', true, true],
  ])('%s %j is kept as %j', (field, value, kept) => {
    expect(checkBrandingField(field, value)).toEqual(kept);
  });

  test.each([
    ['primary_color', 'red'],
    ['primary_color', '#12345g'],
    ['primary_color', 'expression(alert(1))'],
    ['background_color', '#fff;}body{x:y'],
    ['product_name', ''],
    ['product_name', 'x'.repeat(LIMITS.productName.max + 1)],
    ['product_name', 'Acme\u202eevil'],
    ['logo_url', 'https://evil.example/logo.png'],
    ['logo_url', '//evil.example/logo.png'],
    ['logo_url', '/\\evil.example'],
    ['logo_url', 'javascript:alert(1)'],
    ['logo_url', '/a/../admin'],
    ['logo_url', '/logo" onerror="x'],
    ['terms_url', 'http://acme.example/terms'],
    ['terms_url', 'javascript:alert(1)'],
    ['privacy_url', 'https://user:pw@acme.example/p'],
    ['allow_remote_app_logos', 'yes'],
    ['colour', '#fff'],
  ])('%s %j is refused', (field, value) => {
    expect(refusal(() => checkBrandingField(field, value))).toMatch(/^validation_failed: /);
  });
});

describe('logo uploads', () => {
  const enc = (s: string) => Buffer.from(s);
  test('a PNG, a JPEG, a GIF, a WebP and a safe SVG are accepted as what they are', () => {
    expect(checkLogo(tinyPng(), 'image/png')).toBe('image/png');
    expect(checkLogo(Buffer.from([0xff, 0xd8, 0xff, 0xe0, 0, 0x10]), 'image/jpeg')).toBe('image/jpeg');
    expect(checkLogo(enc('GIF89a\x01\x00\x01\x00'), 'image/gif')).toBe('image/gif');
    expect(checkLogo(Buffer.concat([enc('RIFF'), Buffer.alloc(4), enc('WEBPVP8 ')]), 'image/webp')).toBe('image/webp');
    expect(checkLogo(enc(SAFE_SVG), 'image/svg+xml; charset=utf-8')).toBe('image/svg+xml');
    expect(sniffRaster(enc(SAFE_SVG))).toBeUndefined();
  });

  test.each([
    ['script element', '<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>', /<script> is not allowed/],
    ['event handler', '<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"><rect width="1" height="1"/></svg>', /onload/],
    ['handler in another case', '<svg xmlns="http://www.w3.org/2000/svg"><rect ONCLICK="alert(1)"/></svg>', /ONCLICK/],
    ['foreignObject', '<svg xmlns="http://www.w3.org/2000/svg"><foreignObject><div xmlns="http://www.w3.org/1999/xhtml">hi</div></foreignObject></svg>', /foreignObject/],
    ['external use', '<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink"><use xlink:href="https://evil.example/x.svg#a"/></svg>', /<use> is not allowed/],
    ['href on a shape', '<svg xmlns="http://www.w3.org/2000/svg"><rect href="https://evil.example/"/></svg>', /href/],
    ['external url() fill', '<svg xmlns="http://www.w3.org/2000/svg"><rect fill="url(https://evil.example/p)"/></svg>', /refers outside the file/],
    ['style element', '<svg xmlns="http://www.w3.org/2000/svg"><style>rect{fill:url(https://evil.example/)}</style></svg>', /<style> is not allowed/],
    ['style attribute', '<svg xmlns="http://www.w3.org/2000/svg"><rect style="fill:red"/></svg>', /style/],
    ['image element', '<svg xmlns="http://www.w3.org/2000/svg"><image href="data:image/png;base64,AAAA"/></svg>', /<image> is not allowed/],
    ['entities (billion laughs)', '<!DOCTYPE svg [<!ENTITY a "aaaa">]><svg xmlns="http://www.w3.org/2000/svg"><text>&a;</text></svg>', /DOCTYPE/],
    ['processing instruction', '<?xml-stylesheet href="https://evil.example/x.css"?><svg xmlns="http://www.w3.org/2000/svg"/>', /processing instruction/],
    ['CDATA', '<svg xmlns="http://www.w3.org/2000/svg"><text><![CDATA[<script>]]></text></svg>', /CDATA/],
    ['javascript: in a value', '<svg xmlns="http://www.w3.org/2000/svg"><rect fill="javascript:alert(1)"/></svg>', /not allowed/],
    ['another namespace', '<svg xmlns="http://www.w3.org/1999/xhtml"/>', /xmlns/],
    ['not XML', '<svg xmlns="http://www.w3.org/2000/svg"><rect></svg>', /well-formed/],
    ['HTML root', '<html><body onload="x"></body></html>', /<html> is not allowed/],
  ])('an SVG with %s is refused', (_what, svg, reason) => {
    const outcome = refusal(() => checkLogo(enc(svg), 'image/svg+xml'));
    expect(outcome).toMatch(/^validation_failed: the SVG is refused: /);
    expect(outcome).toMatch(reason);
  });

  test.each([
    ['HTML declared as PNG', enc('<html><script>alert(1)</script></html>'), 'image/png', /not image\/png/],
    ['a PNG declared as JPEG', tinyPng(), 'image/jpeg', /it is image\/png/],
    ['a PNG declared as SVG', tinyPng(), 'image/svg+xml', /is image\/png, not SVG/],
    ['an HTML type', enc('<p>hi</p>'), 'text/html', /must be PNG, JPEG, WebP, GIF or SVG/],
    ['an empty file', Buffer.alloc(0), 'image/png', /empty/],
    ['an oversized PNG', Buffer.concat([tinyPng(), Buffer.alloc(LIMITS.logoBytes.max)]), 'image/png', new RegExp(`at most ${LIMITS.logoBytes.max} bytes`)],
  ])('%s is refused', (_what, data, type, reason) => {
    expect(refusal(() => checkLogo(data, type))).toMatch(reason);
  });
});
