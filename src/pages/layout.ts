import { brandFooter, brandHeader, brandStylesheetLink, pageLang, productName } from './brand-parts.ts';
import { html, type SafeHtml } from './html.ts';
import { languageChooser, pageDir } from './i18n-html.ts';

export interface PageOptions {
  title: string;
  body: SafeHtml;
  /** A narrower card for short forms. */
  compact?: boolean;
}

/**
 * The page shell: no script at all, stylesheets from our own origin only (CSP: style-src
 * 'self'): tessera.css, then the brand's (its colours). The brand (name, logo, operator
 * partials) and the language (with its direction and the language chooser) come from the page
 * context (page-context.ts).
 */
export function layout({ title, body, compact }: PageOptions): string {
  return html`<!doctype html>
<html lang="${pageLang()}" dir="${pageDir()}">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>${title} · ${productName()}</title>
<link rel="icon" href="/assets/favicon.svg" type="image/svg+xml">
<link rel="stylesheet" href="/assets/tessera.css">
${brandStylesheetLink()}
</head>
<body>
<main class="${compact ? 'card card--compact' : 'card'}">
${brandHeader(title)}
${body}
${brandFooter(title)}
${languageChooser()}
</main>
</body>
</html>`.value;
}
