import { pageContext } from './page-context.ts';

/**
 * Dates and times as people read them on the pages, in the page's language (docs/languages.md).
 * The server does not know the reader's time zone (the pages run no script), so times are UTC
 * and say so.
 */

/** "6 December 2026" ("6. Dezember 2026"). */
export function dateText(epochSeconds: number): string {
  return pageContext().i18n.date(epochSeconds);
}

/** "6 Dec 2026, 10:45 UTC". */
export function dateTimeText(epochSeconds: number): string {
  return pageContext().i18n.dateTime(epochSeconds);
}

/** "just now", "5 minutes ago", "3 hours ago", else the date and time: how long ago something was last seen. */
export function agoText(epochSeconds: number, now: number): string {
  const { i18n } = pageContext();
  const s = Math.max(0, now - epochSeconds);
  if (s < 120) return i18n.t('when.justNow');
  if (s < 3600) return i18n.t('when.minutesAgo', { count: Math.floor(s / 60) });
  if (s < 86_400) return i18n.t('when.hoursAgo', { count: Math.floor(s / 3600) });
  return dateTimeText(epochSeconds);
}
