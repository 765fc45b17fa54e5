import Bowser from 'bowser';

/**
 * A session's device in words from its User-Agent header: "Chrome on Linux", "Safari on
 * iPhone", "Microsoft Edge on Windows". No versions: browsers freeze them in the header
 * (every Mac says 10.15), so they would mislead. Parsing is bowser's; a header it cannot read (a
 * script, or none at all) is "Unknown browser".
 */
export function deviceName(userAgent: string | null): string {
  if (!userAgent) return 'Unknown browser';
  const { browser, os, platform } = Bowser.parse(userAgent.slice(0, 400));
  const name = browser.name || 'Unknown browser';
  // Apple's phones and tablets say what they are; elsewhere the operating system is the useful word.
  const where = platform.vendor === 'Apple' && platform.model ? platform.model : os.name;
  return where ? `${name} on ${where}` : name;
}
