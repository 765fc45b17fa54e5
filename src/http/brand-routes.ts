import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { LiveBrand } from '../admin/branding-service.ts';
import { brandStylesheet } from '../admin/brand-stylesheet.ts';
import type { Tessera } from '../app/tessera.ts';
import { translator } from '../i18n/index.ts';
import { pageHere, requestLocale } from './language-routes.ts';
import { runInPageContext, type PageContext, type PagePartials } from '../pages/page-context.ts';

/** A year: the URLs carry a hash of the content, so a change is a new URL. */
const IMMUTABLE = 'public, max-age=31536000, immutable';
/** A served SVG is a document: no script, no plugins, no requests, a unique origin (docs/branding.md). */
const SVG_CSP = "default-src 'none'; style-src 'unsafe-inline'; sandbox";
/** A node that has not heard of a newer brand yet reads it at most this often when asked for an unknown stylesheet. */
const RELOAD_MIN_INTERVAL_MS = 1000;

/**
 * The brand on every page (docs/branding.md). Before each handler of the pages' scope, the
 * page context is entered with the live brand (so layout() shows it, whichever module
 * renders the page); the brand stylesheet and the uploaded logos are served under /assets
 * with a content hash in their names and a year's immutable cache.
 */
export function registerBrandRoutes(pages: FastifyInstance, tessera: Tessera, partials: PagePartials | undefined): void {
  const { branding } = tessera.services;
  const { available, defaultLocale } = tessera.config.languages;
  const brands = new WeakMap<LiveBrand, PageContext['brand']>();
  const brandOf = (live: LiveBrand): PageContext['brand'] => {
    let brand = brands.get(live);
    if (!brand) {
      brand = pageBrand(live, partials);
      brands.set(live, brand);
    }
    return brand;
  };
  const contextOf = (request: FastifyRequest): PageContext => {
    const lang = requestLocale(request, available, defaultLocale);
    return { brand: brandOf(branding.live), lang, i18n: translator(lang), languages: { available, here: pageHere(request) } };
  };
  // preHandler, not onRequest: the body has been read by then (ui_locales may be in a form),
  // so the handler (and all it awaits) runs inside the context. Callback style: the handler
  // starts inside `done`.
  pages.addHook('preHandler', (request, reply, done) => {
    // The answer depends on the language headers and cookie (a cache must not mix languages);
    // the hashed assets do not, and a Vary on them would keep shared caches from reusing them.
    if (!request.url.startsWith('/assets/')) reply.header('vary', 'accept-language, cookie');
    runInPageContext(contextOf(request), done);
  });

  let lastReload = 0;
  pages.get<{ Params: { file: string } }>('/assets/:file', async (request, reply) => {
    const { file } = request.params;
    const css = /^brand-([0-9a-f]{16})\.css$/.exec(file);
    if (css) {
      if (branding.live.stylesheet.hash !== css[1] && Date.now() - lastReload > RELOAD_MIN_INTERVAL_MS) {
        // Another node may have saved a newer brand that this one has not heard of yet.
        lastReload = Date.now();
        await branding.load();
      }
      const { stylesheet } = branding.live;
      if (stylesheet.hash !== css[1]) return notFound(reply);
      return reply.header('cache-control', IMMUTABLE).type('text/css; charset=utf-8').send(stylesheet.css);
    }
    // The console's live preview: colours not saved yet. The file is fully determined by its
    // name (two validated colours), so it is as safe to serve to anyone as the saved one.
    const preview = /^brand-preview-([0-9a-f]{6})-([0-9a-f]{6})\.css$/.exec(file);
    if (preview) {
      return reply.header('cache-control', IMMUTABLE).type('text/css; charset=utf-8').send(brandStylesheet({ primary_color: `#${preview[1]}`, background_color: `#${preview[2]}` }));
    }
    // An app's uploaded logo has no extension in its URL: its type is the stored one (nosniff).
    const logo = /^logo-([0-9a-f]{64})(?:\.(png|jpg|webp|gif|svg))?$/.exec(file);
    if (logo) {
      const asset = await branding.asset(logo[1]!);
      if (!asset) return notFound(reply);
      if (asset.contentType === 'image/svg+xml') reply.header('content-security-policy', SVG_CSP);
      return reply
        .header('cache-control', IMMUTABLE)
        .header('x-content-type-options', 'nosniff')
        .header('cross-origin-resource-policy', 'same-origin')
        .type(asset.contentType)
        .send(asset.data);
    }
    return notFound(reply);
  });
}

/** The page context's brand for a live brand (and, for the console's preview, a draft one). */
export function pageBrand(live: LiveBrand, partials: PagePartials | undefined): PageContext['brand'] {
  const d = live.document;
  return {
    productName: d.product_name,
    stylesheetHref: live.stylesheet.href,
    logoSrc: live.logoSrc,
    termsUrl: d.terms_url ?? undefined,
    privacyUrl: d.privacy_url ?? undefined,
    partials,
  };
}

function notFound(reply: FastifyReply): FastifyReply {
  return reply.code(404).header('cache-control', 'no-store').send({ error: 'not_found', error_description: 'no such asset' });
}
