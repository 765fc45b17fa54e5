import { chromium, type Browser } from 'playwright-core';

/**
 * Chromium driven by playwright-core, which never downloads a browser of its own:
 * TESSERA_CHROMIUM, which test/global-setup.ts sets to Debian's Chromium (CI installs the
 * `chromium` package, see .ci/run) or, without it, to the one @sparticuz/chromium ships.
 */
export const CHROMIUM_PATH = process.env.TESSERA_CHROMIUM ?? '/usr/bin/chromium';

export function launchBrowser(executablePath = CHROMIUM_PATH): Promise<Browser> {
  return chromium.launch({
    executablePath,
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
