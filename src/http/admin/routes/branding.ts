import { Type } from '@sinclair/typebox';
import { LIMITS } from '../../../config/limits.ts';
import { validationError } from '../../../errors.ts';
import { AppSchema, BrandingSchema, BrandingUpdateSchema, LogoUploadSchema, ref } from '../schemas.ts';
import { brandingPreview, PREVIEW_PAGES } from '../../brand-preview.ts';
import { actorOf, errors, IdParams, tag, type AdminApi, type AdminRouteDeps } from './route-kit.ts';

/**
 * Room for the base64 of a file half again as large as the largest logo: a file just over
 * the limit reaches the service and gets its clear refusal; far larger is a 413 too_large.
 */
const LOGO_BODY_LIMIT = Math.ceil((LIMITS.logoBytes.max * 1.5) / 3) * 4 + 4096;

/** The brand of the pages (docs/branding.md), shared by every node through the database. */
export function brandingRoutes(api: AdminApi, { tessera }: AdminRouteDeps): void {
  const { branding } = tessera.services;

  api.get('/branding', { schema: { ...tag('branding'), summary: 'The brand of the pages, with its contrast warnings', response: { 200: ref(BrandingSchema), ...errors } } }, async () =>
    branding.view(),
  );

  api.patch(
    '/branding',
    {
      schema: {
        ...tag('branding'),
        summary: 'Change the brand; every node shows it on the next page. The answer carries the contrast warnings.',
        body: ref(BrandingUpdateSchema),
        response: { 200: ref(BrandingSchema), ...errors },
      },
    },
    async (request) => branding.update(request.body, actorOf(request)),
  );

  api.put(
    '/branding/logo',
    {
      bodyLimit: LOGO_BODY_LIMIT,
      schema: {
        ...tag('branding'),
        summary: 'Upload the logo (PNG, JPEG, WebP, GIF, or SVG in the safe subset); refused when too large, of another type than declared, or unsafe',
        body: ref(LogoUploadSchema),
        response: { 200: ref(BrandingSchema), ...errors },
      },
    },
    async (request) => branding.setLogo(base64(request.body.data), request.body.content_type, actorOf(request)),
  );

  api.delete(
    '/branding/logo',
    { schema: { ...tag('branding'), summary: 'Remove the uploaded logo (the default mark, or logo_url, is shown again)', response: { 200: ref(BrandingSchema), ...errors } } },
    async (request) => branding.removeLogo(actorOf(request)),
  );

  // An app's own logo for the consent page: the same checks as the brand's logo.
  api.put(
    '/apps/:id/logo',
    {
      bodyLimit: LOGO_BODY_LIMIT,
      schema: {
        ...tag('apps'),
        summary: "Upload the app's logo for the consent page (checked like the brand's logo); shown before any logo_uri",
        params: IdParams,
        body: ref(LogoUploadSchema),
        response: { 200: ref(AppSchema), ...errors },
      },
    },
    async (request) => branding.setAppLogo(request.params.id, { data: base64(request.body.data), type: request.body.content_type }, actorOf(request)),
  );

  api.delete(
    '/apps/:id/logo',
    { schema: { ...tag('apps'), summary: "Remove the app's uploaded logo", params: IdParams, response: { 200: ref(AppSchema), ...errors } } },
    async (request) => branding.setAppLogo(request.params.id, null, actorOf(request)),
  );

  // The console's live preview: a page rendered with a draft brand, never saved. The console
  // shows it in a sandboxed frame; the draft is checked field by field like an update.
  api.post(
    '/branding/preview',
    {
      schema: {
        ...tag('branding'),
        summary: 'Render the login or consent page with a draft brand (for the console preview); nothing is saved',
        body: Type.Object({ page: Type.Unsafe<(typeof PREVIEW_PAGES)[number]>({ type: 'string', enum: [...PREVIEW_PAGES] }), draft: ref(BrandingUpdateSchema) }, { additionalProperties: false }),
        response: { 200: Type.Object({ html: Type.String(), warnings: Type.Array(Type.String()) }), ...errors },
      },
    },
    async (request) => brandingPreview(branding.live, request.body.page, request.body.draft, tessera.pageTemplates.partials),
  );
}

/** Strict base64 (RFC 4648 §4): anything else is a clear 400, not a silently shortened file. */
function base64(data: string): Buffer {
  const compact = data.replace(/\s+/g, '');
  if (compact.length % 4 !== 0 || !/^[A-Za-z0-9+/]*={0,2}$/.test(compact)) throw validationError('data must be the file in base64', 'data');
  return Buffer.from(compact, 'base64');
}
