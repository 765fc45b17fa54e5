import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { loadPageTemplates } from '../../src/admin/page-templates.ts';
import { SYSTEM } from '../../src/audit/actor.ts';
import { ConfigError } from '../../src/config/config.ts';
import { startTestServer, type TestServer } from '../support/server.ts';

/**
 * Template overrides (docs/branding.md#template-overrides): the operator's header, footer and
 * extra CSS replace the defaults on every page without a fork; every variable is escaped,
 * even a hostile product name; a mistake in the folder stops the start with one clear line.
 */
function folder(files: Record<string, string>): string {
  const dir = mkdtempSync(join(tmpdir(), 'tessera-page-templates-'));
  for (const [name, content] of Object.entries(files)) writeFileSync(join(dir, name), content);
  return dir;
}

const HEADER = '<a class="acme-home" href="https://acme.example/" title="{{product_name}}"><img src="{{logo_url}}" alt="">{{ product_name }}</a><span data-lang="{{lang}}">{{page_title}}</span>';
const FOOTER = '<p class="acme-legal">© Acme · <a href="{{terms_url}}">Terms</a></p>';
const EXTRA = '.acme-home { font-weight: 800; }';

describe('page template overrides', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer('sqlite', { env: { TESSERA_PAGE_TEMPLATES_DIR: folder({ 'header.html': HEADER, 'footer.html': FOOTER, 'extra.css': EXTRA }) } });
  });
  afterAll(async () => server?.close());

  test('the header and footer replace the defaults on the pages, a hostile product name stays escaped in every variable', async () => {
    const hostile = '"><script>alert(1)</script><x a=\'';
    await server.tessera.services.branding.update({ product_name: hostile, terms_url: 'https://acme.example/terms?a=1&b=2' }, SYSTEM);
    const page = await (await fetch(`${server.url}/login`)).text();
    expect(page).not.toContain('<script>');
    const escaped = '&quot;&gt;&lt;script&gt;alert(1)&lt;/script&gt;&lt;x a=&#39;';
    expect(page).toContain(`<header class="brand brand--custom"><a class="acme-home" href="https://acme.example/" title="${escaped}"><img src="" alt="">${escaped}</a><span data-lang="en">Sign in</span></header>`);
    expect(page).toContain('<footer class="brand-footer"><p class="acme-legal">© Acme · <a href="https://acme.example/terms?a=1&amp;b=2">Terms</a></p></footer>');
    const href = /<link rel="stylesheet" href="(\/assets\/brand-[0-9a-f]{16}\.css)">/.exec(page)![1]!;
    expect(await (await fetch(`${server.url}${href}`)).text()).toContain(EXTRA);
  });

  test('the console preview uses them too', async () => {
    const { html } = await import('../../src/http/brand-preview.ts').then((m) => m.brandingPreview(server.tessera.services.branding.live, 'login', { product_name: '<i>Draft</i>' }, server.tessera.pageTemplates.partials));
    expect(html).toContain('title="&lt;i&gt;Draft&lt;/i&gt;"');
  });

  test.each([
    [{ 'head.html': 'x' }, /"head.html" is not a page template/],
    [{ 'header.html': '<b>{{password}}</b>' }, /uses \{\{password\}\}, which is not a page variable/],
    [{ 'header.html': '<b>{{{product_name}}}</b>' }, /every variable is escaped/],
    [{ 'footer.html': '<script>alert(1)</script>' }, /script/],
    [{ 'footer.html': '<img src=x onerror="alert(1)">' }, /event handler/],
    [{ 'extra.css': '</style><script>x</script>' }, /plain CSS/],
  ])('a folder with %j stops the start: %s', (files, message) => {
    expect(() => loadPageTemplates(folder(files))).toThrow(ConfigError);
    expect(() => loadPageTemplates(folder(files))).toThrow(message);
  });
});
