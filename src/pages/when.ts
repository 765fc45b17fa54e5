/**
 * Dates and times as people read them on the pages. The server does not know the reader's
 * time zone (the pages run no script), so times are UTC and say so.
 */
const DATE = new Intl.DateTimeFormat('en-GB', { day: 'numeric', month: 'long', year: 'numeric', timeZone: 'UTC' });
const DATE_TIME = new Intl.DateTimeFormat('en-GB', { day: 'numeric', month: 'short', year: 'numeric', hour: '2-digit', minute: '2-digit', hourCycle: 'h23', timeZone: 'UTC' });

/** "6 December 2026". */
export function dateText(epochSeconds: number): string {
  return DATE.format(new Date(epochSeconds * 1000));
}

/** "6 Dec 2026, 10:45 UTC". */
export function dateTimeText(epochSeconds: number): string {
  return `${DATE_TIME.format(new Date(epochSeconds * 1000))} UTC`;
}

/** "just now", "5 minutes ago", "3 hours ago", else the date and time: how long ago something was last seen. */
export function agoText(epochSeconds: number, now: number): string {
  const s = Math.max(0, now - epochSeconds);
  if (s < 120) return 'just now';
  if (s < 3600) return `${Math.floor(s / 60)} minutes ago`;
  if (s < 86_400) return s < 7200 ? '1 hour ago' : `${Math.floor(s / 3600)} hours ago`;
  return dateTimeText(epochSeconds);
}
