import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { LIMITS } from '../../src/config/limits.ts';
import { cliRunner } from '../support/cli-runner.ts';
import { DIALECTS } from '../support/databases.ts';
import { tinyPng } from '../support/images.ts';
import { startTestServer, type TestServer } from '../support/server.ts';

/**
 * `tessera branding` against a running server's database, on both dialects: a change is
 * shown by the server, contrast warnings go to stderr without failing, malicious or lying
 * logos are refused with one line and exit 1, and nothing changes.
 */
describe.each(DIALECTS)('tessera branding (%s)', (dialect) => {
  let server: TestServer;
  const { tessera, json, fails } = cliRunner(() => server);
  const dir = mkdtempSync(join(tmpdir(), 'tessera-logo-'));
  const file = (name: string, content: string | Buffer) => {
    writeFileSync(join(dir, name), content);
    return join(dir, name);
  };
  beforeAll(async () => {
    server = await startTestServer(dialect);
  });
  afterAll(async () => server?.close());

  test('set, get, warnings on stderr, and the running server shows the change', async () => {
    const set = await tessera(['branding', 'set', 'primary_color', '#ffeb3b']);
    expect(set.code).toBe(0);
    expect(set.stderr).toMatch(/^tessera: warning: links in primary_color #ffeb3b on the white card have a contrast of 1\.\d\d:1/);
    expect((await json(['branding', 'set', 'product_name', 'Acme CLI'])).warnings).toHaveLength(1);
    expect((await tessera(['branding', 'get', 'product_name'])).stdout.trim()).toBe('Acme CLI');
    await server.tessera.feed.refresh();
    await expect.poll(async () => (await fetch(`${server.url}/login`)).text(), { timeout: 3000 }).toContain('Acme CLI');
  }, 60_000);

  test('a logo upload: a PNG is accepted; an SVG with script, a lying extension and an oversized file are refused with one line', async () => {
    const before = await json(['branding', 'get']);
    await fails(['branding', 'logo', file('evil.svg', '<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>')], /^tessera: the SVG is refused: <script> is not allowed/);
    await fails(['branding', 'logo', file('fake.png', '<html><body>hi</body></html>')], /^tessera: the file is not image\/png/);
    await fails(['branding', 'logo', file('big.png', Buffer.concat([tinyPng(), Buffer.alloc(LIMITS.logoBytes.max)]))], new RegExp(`at most ${LIMITS.logoBytes.max} bytes`));
    await fails(['branding', 'logo', file('logo.bmp', 'BM')], /cannot tell the type/);
    await fails(['branding', 'set', 'colour', '#fff'], /unknown branding field "colour"/);
    expect(await json(['branding', 'get'])).toEqual(before);
    const view = await json(['branding', 'logo', file('logo.png', tinyPng())]);
    expect(view.logo).toEqual({ url: expect.stringMatching(/^\/assets\/logo-[0-9a-f]{64}\.png$/), content_type: 'image/png' });
    expect((await json(['branding', 'remove-logo'])).logo).toBeNull();
  }, 120_000);

  test("an app's own logo: a PNG is set, an SVG with script is refused, --remove clears it", async () => {
    const app = await json(['clients', 'create', '--name', 'Books', '--grant', 'client_credentials']);
    await fails(['clients', 'logo', app.client_id, file('app-evil.svg', '<svg xmlns="http://www.w3.org/2000/svg" onload="x"/>')], /^tessera: the SVG is refused/);
    const set = await json(['clients', 'logo', app.client_id, file('app.png', tinyPng())]);
    expect(set.logo).toMatch(/^\/assets\/logo-[0-9a-f]{64}$/);
    expect((await json(['clients', 'logo', app.client_id, '--remove'])).logo).toBeNull();
  }, 120_000);
});
