import type { Page } from 'playwright-core';
import { expect, test } from 'vitest';
import { retryScreenshots } from '../support/browser.ts';

/**
 * The e2e tests' screenshots (test/support/browser.ts): Chromium's "Unable to capture
 * screenshot" is tried again, up to three attempts; any other error fails at once.
 */
function fakePage(failures: string[]): { proto: Page; calls: () => number } {
  let calls = 0;
  class FakePage {
    async screenshot(): Promise<Buffer> {
      calls++;
      const failure = failures.shift();
      if (failure !== undefined) throw new Error(failure);
      return Buffer.from('png');
    }
  }
  retryScreenshots(FakePage.prototype as unknown as Page);
  return { proto: new FakePage() as unknown as Page, calls: () => calls };
}

test('a refused capture is tried again and the third attempt answers', async () => {
  const { proto: page, calls } = fakePage(['page.screenshot: Protocol error (Page.captureScreenshot): Unable to capture screenshot', 'Unable to capture screenshot']);
  expect(String(await page.screenshot())).toBe('png');
  expect(calls()).toBe(3);
});

test('three refusals fail the test with the last one', async () => {
  const { proto: page, calls } = fakePage(['Unable to capture screenshot', 'Unable to capture screenshot', 'Unable to capture screenshot (third)']);
  await expect(page.screenshot()).rejects.toThrow('Unable to capture screenshot (third)');
  expect(calls()).toBe(3);
});

test('any other error is thrown at once', async () => {
  const { proto: page, calls } = fakePage(['page.screenshot: Target page, context or browser has been closed']);
  await expect(page.screenshot()).rejects.toThrow('has been closed');
  expect(calls()).toBe(1);
});
