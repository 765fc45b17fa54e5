/**
 * A statement text written for SQLite (`?` placeholders) with PostgreSQL's numbered ones
 * (`$1`, `$2`, …), so a store's hot-path statements are written once for both dialects.
 * Cached: stores call it with their constant texts.
 */
const pgTexts = new Map<string, string>();
export function pgText(sqliteText: string): string {
  let text = pgTexts.get(sqliteText);
  if (text === undefined) {
    let n = 0;
    text = sqliteText.replace(/\?/g, () => `$${++n}`);
    pgTexts.set(sqliteText, text);
  }
  return text;
}
