import { chromium, type Browser } from 'playwright-core';

/**
 * Debian's Chromium driven by playwright-core, which never downloads a browser of its own.
 * CI installs the `chromium` package (see .ci/run).
 */
export const CHROMIUM_PATH = process.env.TESSERA_CHROMIUM ?? '/usr/bin/chromium';

export function launchBrowser(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM_PATH,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--no-first-run',
    ],
  });
}
