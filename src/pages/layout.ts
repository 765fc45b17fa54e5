import { html, type SafeHtml } from './html.ts';

export interface PageOptions {
  title: string;
  body: SafeHtml;
  /** A narrower card for short forms. */
  compact?: boolean;
}

/** The page shell: no script at all, one stylesheet from our own origin (CSP: style-src 'self'). */
export function layout({ title, body, compact }: PageOptions): string {
  return html`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>${title} · Tessera</title>
<link rel="icon" href="/assets/favicon.svg" type="image/svg+xml">
<link rel="stylesheet" href="/assets/tessera.css">
</head>
<body>
<main class="${compact ? 'card card--compact' : 'card'}">
<header class="brand" aria-label="Tessera"><span class="brand__mark" aria-hidden="true"></span>Tessera</header>
${body}
</main>
</body>
</html>`.value;
}
