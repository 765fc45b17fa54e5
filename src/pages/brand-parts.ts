import { html, SafeHtml } from './html.ts';
import { t } from './i18n-html.ts';
import { pageContext, type PageBrand, type PartialVariables } from './page-context.ts';

/**
 * The brand's pieces of every page shell (layout.ts, account-layout.ts), read from the page
 * context: the product name, the stylesheet with its colours, the logo, the operator's
 * header and footer partials. Every value is escaped (html``), the partials' variables too.
 */
export function productName(): string {
  return pageContext().brand.productName;
}

/** `<html lang>` of the page. */
export function pageLang(): string {
  return pageContext().lang;
}

/** After tessera.css: the brand's colours (and the operator's extra CSS). */
export function brandStylesheetLink(): SafeHtml {
  const href = pageContext().brand.stylesheetHref;
  return href ? html`<link rel="stylesheet" href="${href}">` : html``;
}

/** The logo (with the product name as its text alternative) or the default mark, then the name. */
export function brandMark(): SafeHtml {
  const { brand } = pageContext();
  if (brand.logoSrc) return html`<img class="brand__logo" src="${brand.logoSrc}" alt="" width="28" height="28"><span class="brand__name">${brand.productName}</span>`;
  return html`<span class="brand__mark" aria-hidden="true"></span><span class="brand__name">${brand.productName}</span>`;
}

/** The header of the card pages: the operator's header partial, or the brand mark. */
export function brandHeader(pageTitle: string): SafeHtml {
  const { brand, lang } = pageContext();
  const header = brand.partials?.header;
  if (header) return new SafeHtml(`<header class="brand brand--custom">${header(partialVariables(brand, pageTitle, lang))}</header>`);
  return html`<header class="brand">${brandMark()}</header>`;
}

/** The operator's footer partial, if any. */
export function brandFooter(pageTitle: string): SafeHtml {
  const { brand, lang } = pageContext();
  const footer = brand.partials?.footer;
  return footer ? new SafeHtml(`<footer class="brand-footer">${footer(partialVariables(brand, pageTitle, lang))}</footer>`) : html``;
}

/** The links to the operator's terms and privacy policy, when set. */
export function operatorPolicyLinks(): SafeHtml {
  const { termsUrl, privacyUrl } = pageContext().brand;
  if (!termsUrl && !privacyUrl) return html``;
  const name = productName();
  return html`<p class="policy-links small">${termsUrl ? html`<a href="${termsUrl}" rel="noopener noreferrer" target="_blank">${t('brand.terms', { product: name })}</a>` : ''}${
    privacyUrl ? html`<a href="${privacyUrl}" rel="noopener noreferrer" target="_blank">${t('brand.privacy', { product: name })}</a>` : ''
  }</p>`;
}

function partialVariables(brand: PageBrand, pageTitle: string, lang: string): PartialVariables {
  return { product_name: brand.productName, logo_url: brand.logoSrc ?? '', terms_url: brand.termsUrl ?? '', privacy_url: brand.privacyUrl ?? '', page_title: pageTitle, lang };
}
