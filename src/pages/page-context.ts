import { AsyncLocalStorage } from 'node:async_hooks';
import { translator, type Translator } from '../i18n/translator.ts';

/**
 * What every page's shell needs to know about the request it answers, without each route
 * passing it down: the brand (product name, logo, brand stylesheet, links) and the language
 * of `<html lang>`. The pages' Fastify scope enters a context before each handler
 * (src/http/brand-routes.ts: `enterPageContext`), so `layout()` and `accountLayout()` —
 * and so every page, whoever wrote it — show the brand. Outside a request (unit tests of a
 * template) the defaults apply.
 */
export interface PageBrand {
  productName: string;
  /** The brand stylesheet (colours), linked after tessera.css. */
  stylesheetHref: string | undefined;
  /** A same-origin URL of the logo (uploaded: /assets/logo-<hash>.<ext>). */
  logoSrc: string | undefined;
  /** Shown on the consent page when set. */
  termsUrl: string | undefined;
  privacyUrl: string | undefined;
  /** Operator partials from the templates folder (docs/branding.md), already loaded and checked. */
  partials: PagePartials | undefined;
}

/** A partial renders with the variables of `PartialVariables`, each escaped. */
export interface PagePartials {
  header?: (vars: PartialVariables) => string;
  footer?: (vars: PartialVariables) => string;
}

export interface PartialVariables {
  product_name: string;
  logo_url: string;
  terms_url: string;
  privacy_url: string;
  page_title: string;
  lang: string;
}

export interface PageContext {
  brand: PageBrand;
  /** BCP 47 language of the page (`<html lang>`). */
  lang: string;
  /** The page's words, dates and numbers in `lang` (docs/languages.md); `i18n.dir` is `<html dir>`. */
  i18n: Translator;
  /** The languages the chooser offers, and where it sends the browser back to (this page). */
  languages: { available: readonly string[]; here: string | undefined };
}

export const DEFAULT_PAGE_CONTEXT: PageContext = Object.freeze({
  brand: Object.freeze({ productName: 'Tessera', stylesheetHref: undefined, logoSrc: undefined, termsUrl: undefined, privacyUrl: undefined, partials: undefined }),
  lang: 'en',
  i18n: translator('en'),
  languages: Object.freeze({ available: Object.freeze([]), here: undefined }),
});

const storage = new AsyncLocalStorage<PageContext>();

/** Runs `fn` (and everything it awaits) with `context` as the page context. */
export function runInPageContext<T>(context: PageContext, fn: () => T): T {
  return storage.run(context, fn);
}

export function pageContext(): PageContext {
  return storage.getStore() ?? DEFAULT_PAGE_CONTEXT;
}
