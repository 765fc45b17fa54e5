import type { LiveBrand } from '../admin/branding-service.ts';
import { checkBrandingField, contrastWarnings, type BrandingDocument } from '../admin/branding.ts';
import { consentPage, loginPage } from '../pages/pages.ts';
import { DEFAULT_PAGE_CONTEXT, runInPageContext, type PagePartials } from '../pages/page-context.ts';
import { pageBrand } from './brand-routes.ts';

export const PREVIEW_PAGES = ['login', 'consent'] as const;
export type PreviewPage = (typeof PREVIEW_PAGES)[number];

/**
 * The console's live preview (docs/branding.md): the login or consent page as it would look
 * with a draft brand, rendered by the same templates with sample data. The draft's colours
 * come from /assets/brand-preview-<primary>-<background>.css, a stylesheet fully determined
 * by its name, so the preview needs no state on any node and keeps every CSP intact.
 */
export function brandingPreview(live: LiveBrand, page: PreviewPage, draft: Partial<Record<string, unknown>>, partials?: PagePartials): { html: string; warnings: string[] } {
  const document: BrandingDocument = { ...live.document };
  for (const [field, value] of Object.entries(draft)) {
    if (value !== undefined) (document as unknown as Record<string, unknown>)[field] = checkBrandingField(field, value);
  }
  const stylesheetHref = `/assets/brand-preview-${document.primary_color.slice(1)}-${document.background_color.slice(1)}.css`;
  const logoSrc = live.document.logo ? live.logoSrc : (document.logo_url ?? undefined);
  const brand = { ...pageBrand({ ...live, document, logoSrc }, partials), stylesheetHref };
  const html = runInPageContext({ ...DEFAULT_PAGE_CONTEXT, brand }, () =>
    page === 'login'
      ? loginPage({ csrf: 'preview', returnTo: undefined, clientName: 'Acme Books', username: undefined, error: undefined, providers: [] })
      : consentPage({
          csrf: 'preview',
          clientName: 'Acme Books',
          clientDescription: 'Your reading list, everywhere.',
          username: 'ada',
          scopes: [
            { name: 'openid', description: 'Sign you in' },
            { name: 'profile', description: 'See your name' },
          ],
          params: new Map(),
        }),
  );
  // A sandboxed frame may not take the focus (Chromium logs each attempt as an error).
  return { html: html.replace(/ autofocus(?=[\s>])/g, ''), warnings: contrastWarnings(document) };
}
