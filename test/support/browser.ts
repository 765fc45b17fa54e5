import { chromium, type Browser, type Page } from 'playwright-core';

/**
 * Chromium driven by playwright-core, which never downloads a browser of its own:
 * TESSERA_CHROMIUM, which test/global-setup.ts sets to Debian's Chromium (CI installs the
 * `chromium` package, see .ci/run) or, without it, to the one @sparticuz/chromium ships.
 */
export const CHROMIUM_PATH = process.env.TESSERA_CHROMIUM ?? '/usr/bin/chromium';

export async function launchBrowser(executablePath = CHROMIUM_PATH): Promise<Browser> {
  const browser = await chromium.launch({
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
  const page = await browser.newPage();
  retryScreenshots(Object.getPrototypeOf(page) as Page);
  await page.close();
  return browser;
}

const RETRYING = Symbol('screenshots retried');
/** Chromium's own refusal to capture, not anything about the page under test. */
const CAPTURE_FAILED = /Unable to capture screenshot/;

/**
 * Headless Chromium on a loaded machine now and then answers `Page.captureScreenshot` with
 * "Unable to capture screenshot" (seen in a CI run while the other core ran the rest of the
 * suite). Screenshots are for people to look at; the tests' assertions are about the page
 * itself, so a refused capture is tried again (three times, a short pause between) instead of
 * failing the test. Any other error is thrown as it was. Patched once on playwright-core's Page
 * class (every page of every browser shares it), so each of the many screenshot calls in the
 * e2e tests stays a plain `page.screenshot(…)`.
 */
export function retryScreenshots(proto: Page): void {
  const marked = proto as Page & { [RETRYING]?: true };
  if (marked[RETRYING]) return;
  marked[RETRYING] = true;
  const capture = proto.screenshot;
  proto.screenshot = async function (this: Page, options?: Parameters<Page['screenshot']>[0]) {
    for (let attempt = 1; ; attempt++) {
      try {
        return await capture.call(this, options);
      } catch (error) {
        if (attempt >= 3 || !CAPTURE_FAILED.test(String(error))) throw error;
        await new Promise((resolve) => setTimeout(resolve, 250 * attempt));
      }
    }
  };
}
