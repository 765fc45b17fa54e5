import { createHash } from 'node:crypto';
import { bestTextOn, darken } from './contrast.ts';
import { BUTTON_TEXT_CANDIDATES, type BrandingDocument } from './branding.ts';

/**
 * The brand's colours as a small stylesheet served from our origin (the pages' CSP allows no
 * inline style): custom properties that src/pages/tessera.css reads, then the operator's
 * extra CSS from the templates folder, if any. Its URL carries a hash of its content, so it
 * is cached for good and a change is a new URL.
 */
export function brandStylesheet(doc: Pick<BrandingDocument, 'primary_color' | 'background_color'>, extraCss = ''): string {
  const primary = doc.primary_color;
  const rules = [
    `--accent: ${primary};`,
    `--accent-dark: ${darken(primary, 0.15)};`,
    `--on-accent: ${bestTextOn(primary, BUTTON_TEXT_CANDIDATES)};`,
    `--bg: ${doc.background_color};`,
    `--focus-ring: ${primary}59;`,
  ];
  return `/* Tessera brand colours (docs/branding.md) */\n:root { ${rules.join(' ')} }\n${extraCss ? `/* extra.css from the templates folder */\n${extraCss}\n` : ''}`;
}

/** The first 16 hex digits of SHA-256: enough to tell versions apart in a URL. */
export function contentHash(data: string | Uint8Array): string {
  return createHash('sha256').update(data).digest('hex').slice(0, 16);
}
