import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { SYSTEM } from '../../src/audit/actor.ts';
import { LIMITS } from '../../src/config/limits.ts';
import { DIALECTS } from '../support/databases.ts';
import { basic, postForm, startTestServer, type TestServer } from '../support/server.ts';
import { hiddenFields, location, UserAgent } from '../support/user-agent.ts';
import { tinyPng } from '../support/images.ts';

/**
 * Branding end to end over HTTP on SQLite and PostgreSQL (docs/branding.md): the admin API
 * saves and checks it, the pages show it (escaped) with its stylesheet and logo from our
 * origin under hashed, immutable URLs, malicious logos are refused and change nothing, and a
 * change made through one node shows on another.
 */
const API = '/admin/api/v1';
const HOSTILE = '</title><script>alert(1)</script>"\'&';

async function adminToken(server: TestServer): Promise<string> {
  const { services } = server.tessera;
  await services.users.create({ username: 'brand-ops', password: 'correct horse battery staple', roles: ['admin'] }, SYSTEM);
  const app = await services.clients.create({ name: 'ops', grantTypes: ['client_credentials'], onBehalfOf: 'brand-ops', scopes: ['tessera.admin'] }, SYSTEM);
  const res = await postForm(`${server.url}/connect/token`, { grant_type: 'client_credentials', scope: 'tessera.admin' }, { authorization: basic(app.client_id, app.client_secret!) });
  return ((await res.json()) as { access_token: string }).access_token;
}

describe.each(DIALECTS)('branding (%s)', (dialect) => {
  let server: TestServer;
  let token: string;
  const call = async (method: string, path: string, body?: unknown) => {
    const res = await fetch(`${server.url}${API}${path}`, {
      method,
      headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await res.text();
    return { status: res.status, body: text ? JSON.parse(text) : undefined };
  };
  const loginHtml = async () => (await fetch(`${server.url}/login`)).text();

  beforeAll(async () => {
    server = await startTestServer(dialect);
    token = await adminToken(server);
  });
  afterAll(async () => server?.close());

  test('the default brand: Tessera, its colours, a hashed stylesheet every page links', async () => {
    const view = (await call('GET', '/branding')).body;
    expect(view).toMatchObject({ product_name: 'Tessera', primary_color: '#2f5bea', background_color: '#f4f6fb', logo: null, warnings: [] });
    expect(view.stylesheet_url).toMatch(/^\/assets\/brand-[0-9a-f]{16}\.css$/);
    expect(await loginHtml()).toContain(`<link rel="stylesheet" href="${view.stylesheet_url}">`);
  });

  test('a change is saved, audited, shown escaped on the pages, with its colours in a new immutable stylesheet', async () => {
    const before = (await call('GET', '/branding')).body;
    const res = await call('PATCH', '/branding', { product_name: HOSTILE, primary_color: '#0A7', background_color: '#FFF8E1', terms_url: 'https://acme.example/terms?a=1&b="2"' });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ product_name: HOSTILE, primary_color: '#00aa77', background_color: '#fff8e1', terms_url: 'https://acme.example/terms?a=1&b=%222%22' });
    // Green on white is too light for white button text and for links: both are warned about, not refused.
    expect(res.body.warnings.join('\n')).toMatch(/links in primary_color #00aa77/);
    expect(res.body.stylesheet_url).not.toBe(before.stylesheet_url);

    const page = await loginHtml();
    expect(page).not.toContain('<script>');
    expect(page).toContain('&lt;/title&gt;&lt;script&gt;alert(1)&lt;/script&gt;&quot;&#39;&amp;');
    expect(page).toContain(`<title>Sign in · &lt;/title&gt;`);
    const css = await fetch(`${server.url}${res.body.stylesheet_url}`);
    expect(css.status).toBe(200);
    expect(css.headers.get('content-type')).toBe('text/css; charset=utf-8');
    expect(css.headers.get('cache-control')).toBe('public, max-age=31536000, immutable');
    expect(css.headers.get('vary')).toBeNull(); // the same for every language and browser
    const text = await css.text();
    expect(text).toContain('--accent: #00aa77;');
    expect(text).toContain('--bg: #fff8e1;');
    // The old stylesheet's URL no longer answers (its hash is not the brand's any more).
    expect((await fetch(`${server.url}${before.stylesheet_url}`)).status).toBe(404);

    const audit = await server.tessera.services.audit.list({ action: 'branding.update', limit: 1 });
    expect(audit.items[0]).toMatchObject({ action: 'branding.update', details: { fields: ['background_color', 'primary_color', 'product_name', 'terms_url'] } });
  });

  test('bad values are refused with the field named, and change nothing', async () => {
    const before = (await call('GET', '/branding')).body;
    for (const [field, value] of [
      ['primary_color', 'red;} body { display:none'],
      ['logo_url', 'https://evil.example/logo.png'],
      ['terms_url', 'javascript:alert(1)'],
      ['product_name', ''],
    ] as const) {
      const res = await call('PATCH', '/branding', { product_name: 'Changed', [field]: value });
      expect(res.status, field).toBe(400);
      expect(res.body).toMatchObject({ error: 'validation_failed', field });
    }
    expect((await call('PATCH', '/branding', { colour: '#fff' })).status).toBe(400);
    expect((await call('GET', '/branding')).body).toEqual(before);
  });

  test('a PNG logo is stored and served at its content hash with a year of cache and nosniff; the pages show it', async () => {
    const png = tinyPng();
    const res = await call('PUT', '/branding/logo', { content_type: 'image/png', data: png.toString('base64') });
    expect(res.status).toBe(200);
    expect(res.body.logo).toEqual({ url: expect.stringMatching(/^\/assets\/logo-[0-9a-f]{64}\.png$/), content_type: 'image/png' });
    const served = await fetch(`${server.url}${res.body.logo.url}`);
    expect(served.status).toBe(200);
    expect(served.headers.get('content-type')).toBe('image/png');
    expect(served.headers.get('cache-control')).toBe('public, max-age=31536000, immutable');
    expect(served.headers.get('x-content-type-options')).toBe('nosniff');
    expect(Buffer.from(await served.arrayBuffer())).toEqual(png);
    expect(await loginHtml()).toContain(`<img class="brand__logo" src="${res.body.logo.url}"`);
    // Read back from the database by a fresh load, as another node (or a restart) would.
    await server.tessera.services.branding.load();
    expect(server.tessera.services.branding.view().logo).toEqual(res.body.logo);
  });

  test('malicious logos are refused at upload and change nothing: SVG with script, oversized, lying content type', async () => {
    const before = (await call('GET', '/branding')).body;
    const upload = (content_type: string, data: Buffer) => call('PUT', '/branding/logo', { content_type, data: data.toString('base64') });
    const script = await upload('image/svg+xml', Buffer.from('<svg xmlns="http://www.w3.org/2000/svg"><script>alert(document.cookie)</script></svg>'));
    expect(script).toMatchObject({ status: 400, body: { error: 'validation_failed', field: 'logo', error_description: expect.stringContaining('<script> is not allowed') } });
    const handler = await upload('image/svg+xml', Buffer.from('<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"/>'));
    expect(handler.status).toBe(400);
    const lying = await upload('image/png', Buffer.from('<html><script>alert(1)</script></html>'));
    expect(lying).toMatchObject({ status: 400, body: { field: 'logo', error_description: expect.stringContaining('not image/png') } });
    const wrongType = await upload('text/html', tinyPng());
    expect(wrongType.status).toBe(400);
    // Just over the limit: the service's clear refusal; far over: the route's body limit.
    const over = await upload('image/png', Buffer.concat([tinyPng(), Buffer.alloc(LIMITS.logoBytes.max)]));
    expect(over).toMatchObject({ status: 400, body: { error_description: expect.stringContaining(`at most ${LIMITS.logoBytes.max} bytes`) } });
    const huge = await upload('image/png', Buffer.concat([tinyPng(), Buffer.alloc(LIMITS.logoBytes.max * 2)]));
    expect([400, 413]).toContain(huge.status);
    const notBase64 = await call('PUT', '/branding/logo', { content_type: 'image/png', data: '<<<not base64>>>' });
    expect(notBase64).toMatchObject({ status: 400, body: { field: 'data' } });
    expect((await call('GET', '/branding')).body).toEqual(before);
  });

  test('a safe SVG logo is served with a sandboxing CSP', async () => {
    const svg = '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 10 10"><circle cx="5" cy="5" r="4" fill="#0a7"/></svg>';
    const res = await call('PUT', '/branding/logo', { content_type: 'image/svg+xml', data: Buffer.from(svg).toString('base64') });
    expect(res.status).toBe(200);
    const served = await fetch(`${server.url}${res.body.logo.url}`);
    expect(served.headers.get('content-type')).toBe('image/svg+xml');
    expect(served.headers.get('content-security-policy')).toContain('sandbox');
    expect(served.headers.get('content-security-policy')).toContain("default-src 'none'");
    expect(await served.text()).toBe(svg);
    expect((await fetch(`${server.url}/assets/logo-${'0'.repeat(64)}.svg`)).status).toBe(404);
    expect((await call('DELETE', '/branding/logo')).body.logo).toBeNull();
  });

  test('the account area shows the brand too (its own layout reads the same page context)', async () => {
    await server.tessera.services.users.create({ username: 'acct', password: 'correct horse battery staple', roles: [] }, SYSTEM);
    const ua = new UserAgent(server.url);
    const login = await ua.get('/login');
    await ua.post('/login', { ...hiddenFields(await login.text()), username: 'acct', password: 'correct horse battery staple' });
    const res = await ua.get('/account');
    expect(res.status).toBe(200);
    const page = await res.text();
    const view = (await call('GET', '/branding')).body;
    expect(page).toContain('<html lang="en" dir="ltr">');
    expect(page).toContain(`<link rel="stylesheet" href="${view.stylesheet_url}">`);
    expect(page).toContain('<span class="brand__name">&lt;/title&gt;&lt;script&gt;alert(1)&lt;/script&gt;&quot;&#39;&amp;</span>');
    expect(page).not.toContain('<script>');
  });

  test('the pages keep their strict CSP', async () => {
    const res = await fetch(`${server.url}/login`);
    expect(res.headers.get('content-security-policy')).toContain("style-src 'self'");
    expect(res.headers.get('content-security-policy')).toContain("img-src 'self' data:");
  });

  test('the preview renders a draft (escaped) without saving it', async () => {
    const before = (await call('GET', '/branding')).body;
    const res = await call('POST', '/branding/preview', { page: 'consent', draft: { product_name: '<b>Draft</b>', primary_color: '#ffeb3b' } });
    expect(res.status).toBe(200);
    expect(res.body.html).toContain('&lt;b&gt;Draft&lt;/b&gt;');
    expect(res.body.html).toContain(`href="/assets/brand-preview-ffeb3b-${before.background_color.slice(1)}.css"`);
    expect(res.body.warnings.join()).toMatch(/primary_color #ffeb3b/);
    const css = await fetch(`${server.url}/assets/brand-preview-ffeb3b-ffffff.css`);
    expect(await css.text()).toContain('--accent: #ffeb3b;');
    expect((await call('POST', '/branding/preview', { page: 'login', draft: { primary_color: 'nope' } })).status).toBe(400);
    expect((await call('GET', '/branding')).body).toEqual(before);
  });
});

describe.each(DIALECTS)('per-app branding on the consent page (%s)', (dialect) => {
  let server: TestServer;
  let token: string;
  let clientId: string;
  const REDIRECT = 'https://books.example.com/cb';
  const api = async (method: string, path: string, body?: unknown) => {
    const headers: Record<string, string> = { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) };
    const res = await fetch(`${server.url}${API}${path}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
    return { status: res.status, body: (await res.json()) as any };
  };
  /** Signs in as alice and answers the consent page for the app. */
  async function consent(): Promise<Response> {
    const ua = new UserAgent(server.url);
    const authorize = `/connect/authorize?${new URLSearchParams({ client_id: clientId, response_type: 'code', redirect_uri: REDIRECT, scope: 'openid profile', state: 's' })}`;
    const login = await ua.get(`/login?${new URLSearchParams({ return_to: authorize })}`);
    await ua.post('/login', { ...hiddenFields(await login.text()), username: 'alice', password: 'correct horse battery staple' });
    const target = location(await ua.get(authorize));
    expect(target).toMatch(/^\/consent/);
    return ua.get(target);
  }

  beforeAll(async () => {
    server = await startTestServer(dialect);
    token = await adminToken(server);
    await server.tessera.services.users.create({ username: 'alice', password: 'correct horse battery staple', roles: ['developer'] }, SYSTEM);
    const created = await api('POST', '/apps', {
      name: 'Acme Books',
      grant_types: ['authorization_code'],
      redirect_uris: [REDIRECT],
      scopes: ['openid', 'profile'],
      logo_uri: 'https://cdn.books.example.com/logo.png',
      client_uri: 'https://books.example.com/',
      policy_uri: 'https://books.example.com/privacy?x="1"',
      tos_uri: 'https://books.example.com/terms',
    });
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({ logo_uri: 'https://cdn.books.example.com/logo.png', client_uri: 'https://books.example.com/', policy_uri: 'https://books.example.com/privacy?x=%221%22' });
    clientId = created.body.client_id;
    await server.tessera.services.branding.update({ terms_url: 'https://idp.example/terms', privacy_url: 'https://idp.example/privacy' }, SYSTEM);
  });
  afterAll(async () => server?.close());

  test('metadata that is not https (or not a plain host, for the logo) is refused and changes nothing', async () => {
    for (const [field, value] of [
      ['logo_uri', 'http://cdn.books.example.com/logo.png'],
      ['logo_uri', "https://a;b.example/logo.png"],
      ['client_uri', 'javascript:alert(1)'],
      ['policy_uri', 'data:text/html,hi'],
      ['tos_uri', 'ftp://books.example.com/terms'],
    ] as const) {
      const res = await api('PATCH', `/apps/${clientId}`, { [field]: value });
      expect(res.status, `${field} ${value}`).toBe(400);
      expect(res.body).toMatchObject({ error: 'validation_failed', field });
    }
    expect((await api('GET', `/apps/${clientId}`, undefined)).body.logo_uri).toBe('https://cdn.books.example.com/logo.png');
  });

  test('remote app logos off (the default): the initial letter, the links, and img-src stays self', async () => {
    const res = await consent();
    const page = await res.text();
    expect(page).toContain('<div class="app__icon" aria-hidden="true">A</div>');
    expect(page).not.toContain('cdn.books.example.com');
    expect(page).toContain('<a href="https://books.example.com/" rel="noopener noreferrer" target="_blank">Website</a>');
    expect(page).toContain('href="https://books.example.com/privacy?x=%221%22"');
    expect(page).toContain('href="https://books.example.com/terms"');
    // The operator's own terms and privacy policy.
    expect(page).toContain('href="https://idp.example/terms"');
    expect(page).toContain('href="https://idp.example/privacy"');
    expect(res.headers.get('content-security-policy')).toContain("img-src 'self' data:;");
  });

  test('remote app logos on: the https logo is shown, and the CSP allows that one origin only', async () => {
    await server.tessera.services.branding.update({ allow_remote_app_logos: true }, SYSTEM);
    const res = await consent();
    const page = await res.text();
    expect(page).toContain('<img class="app__logo" src="https://cdn.books.example.com/logo.png"');
    expect(page).toContain('referrerpolicy="no-referrer"');
    expect(res.headers.get('content-security-policy')).toContain("img-src 'self' data: https://cdn.books.example.com;");
    // Every other page keeps img-src to our origin.
    expect((await fetch(`${server.url}/login`)).headers.get('content-security-policy')).toContain("img-src 'self' data:;");
    await server.tessera.services.branding.update({ allow_remote_app_logos: false }, SYSTEM);
  });

  test("an uploaded app logo is checked like the brand's, served from our origin, and wins over logo_uri", async () => {
    const upload = (content_type: string, data: Buffer) => api('PUT', `/apps/${clientId}/logo`, { content_type, data: data.toString('base64') });
    const evil = await upload('image/svg+xml', Buffer.from('<svg xmlns="http://www.w3.org/2000/svg"><foreignObject/></svg>'));
    expect(evil).toMatchObject({ status: 400, body: { field: 'logo' } });
    expect((await upload('image/png', Buffer.from('GIF89a'))).status).toBe(400);
    expect((await api('PUT', `/apps/00000000-0000-4000-8000-000000000000/logo`, { content_type: 'image/png', data: tinyPng().toString('base64') })).status).toBe(404);
    expect((await api('GET', `/apps/${clientId}`, undefined)).body.logo).toBeNull();

    const ok = await upload('image/png', tinyPng());
    expect(ok.status).toBe(200);
    expect(ok.body.logo).toMatch(/^\/assets\/logo-[0-9a-f]{64}$/);
    const served = await fetch(`${server.url}${ok.body.logo}`);
    expect(served.headers.get('content-type')).toBe('image/png');
    expect(served.headers.get('x-content-type-options')).toBe('nosniff');
    await server.tessera.services.branding.update({ allow_remote_app_logos: true }, SYSTEM);
    const res = await consent();
    const page = await res.text();
    expect(page).toContain(`<img class="app__logo" src="${ok.body.logo}"`);
    expect(page).not.toContain('cdn.books.example.com');
    expect(res.headers.get('content-security-policy')).toContain("img-src 'self' data:;");
    await server.tessera.services.branding.update({ allow_remote_app_logos: false }, SYSTEM);
    const audit = await server.tessera.services.audit.list({ action: 'app.update', targetId: clientId, limit: 1 });
    expect(audit.items[0]?.details).toEqual({ fields: ['logo'] });
    expect((await api('DELETE', `/apps/${clientId}/logo`, undefined)).body.logo).toBeNull();
  });
});

describe('branding on two nodes (PostgreSQL)', () => {
  let a: TestServer;
  let b: TestServer;
  beforeAll(async () => {
    a = await startTestServer('postgres', { env: { TESSERA_CHANGE_POLL_MS: '200' } });
    b = await startTestServer('postgres', { databaseUrl: a.databaseUrl, env: { TESSERA_CHANGE_POLL_MS: '200', TESSERA_KEY_ENCRYPTION_KEY_FILE: a.env.TESSERA_KEY_ENCRYPTION_KEY_FILE! } });
  });
  afterAll(async () => {
    await b?.close();
    await a?.close();
  });

  test('a brand and a logo saved through one node show on the other within a second', async () => {
    await a.tessera.services.branding.update({ product_name: 'Acme Identity', primary_color: '#7b1fa2' }, SYSTEM);
    const view = await a.tessera.services.branding.setLogo(tinyPng(), 'image/png', SYSTEM);
    const started = Date.now();
    let page = '';
    while (Date.now() - started < 3000) {
      page = await (await fetch(`${b.url}/login`)).text();
      if (page.includes(view.logo!.url)) break;
      await new Promise((r) => setTimeout(r, 50));
    }
    expect(Date.now() - started).toBeLessThan(1000);
    expect(page).toContain('Acme Identity');
    expect(page).toContain(view.stylesheet_url);
    expect((await fetch(`${b.url}${view.logo!.url}`)).status).toBe(200);
    expect(await (await fetch(`${b.url}${view.stylesheet_url}`)).text()).toContain('--accent: #7b1fa2;');
  });
});
