import { createHash } from 'node:crypto';
import type { Actor } from '../audit/actor.ts';
import type { AuditLog } from '../audit/audit-log.ts';
import { epochSeconds, type Clock } from '../clock.ts';
import { LIMITS } from '../config/limits.ts';
import { validationError } from '../errors.ts';
import type { ClientView } from '../clients/client-view.ts';
import type { ChangeFeed } from '../storage/change-feed.ts';
import { brandStylesheet, contentHash } from './brand-stylesheet.ts';
import { checkBrandingField, contrastWarnings, parseBrandingDocument, BRANDING_FIELDS, type BrandingDocument, type BrandingField } from './branding.ts';
import type { BrandAsset, BrandingStore } from './branding-store.ts';
import { checkLogo, LOGO_TYPES } from './logo-check.ts';

/** What the admin API, the CLI and the console show. */
export interface BrandingView {
  product_name: string;
  primary_color: string;
  background_color: string;
  logo_url: string | null;
  /** The uploaded logo, if any: where it is served, its type and size. */
  logo: { url: string; content_type: string } | null;
  terms_url: string | null;
  privacy_url: string | null;
  allow_remote_app_logos: boolean;
  /** The stylesheet with the brand's colours, as the pages link it. */
  stylesheet_url: string;
  /** The largest logo an upload may be (LIMITS.logoBytes), for the console's hint. */
  logo_max_bytes: number;
  /** Contrast checks that fail WCAG AA (empty when every one passes). */
  warnings: string[];
}

/** What the pages need, computed once per change (read on every page). */
export interface LiveBrand {
  document: BrandingDocument;
  /** /assets/logo-<hash>.<ext> for an uploaded logo, else the same-origin logo_url, else undefined. */
  logoSrc: string | undefined;
  stylesheet: { href: string; hash: string; css: string };
  /** The uploaded logo's bytes, served from memory. */
  logo: BrandAsset | undefined;
}

export interface BrandingServiceDeps {
  store: BrandingStore;
  clock: Clock;
  feed: ChangeFeed;
  audit: AuditLog;
  /** Operator CSS appended to the brand stylesheet (extra.css in the templates folder). */
  extraCss?: string;
  /** Records an app's uploaded logo (ClientService.setLogo; bound late: the apps are built after the brand). */
  setClientLogo?: (clientId: string, hash: string | null, actor: Actor) => Promise<ClientView>;
  /** The app, or a not_found error: checked before a logo is stored for it. */
  showClient?: (clientId: string) => Promise<ClientView>;
}

/**
 * The operator's brand (docs/branding.md): product name, colours, logo, links. Saved in the
 * database; every node holds the live brand in memory and reloads it when the change feed
 * says `branding` (a few milliseconds on PostgreSQL, the poll interval on SQLite).
 */
export class BrandingService {
  readonly #d: BrandingServiceDeps;
  #live: LiveBrand;

  constructor(deps: BrandingServiceDeps) {
    this.#d = deps;
    this.#live = this.#compute(parseBrandingDocument(undefined), undefined);
  }

  get live(): LiveBrand {
    return this.#live;
  }

  /** Reads the saved brand (at start, and when another node changed it). */
  async load(): Promise<void> {
    const document = parseBrandingDocument(await this.#d.store.document());
    const logo = document.logo ? await this.#d.store.asset(document.logo.hash) : undefined;
    if (document.logo && !logo) document.logo = null;
    this.#live = this.#compute(document, logo);
  }

  view(): BrandingView {
    const { document: d, stylesheet } = this.#live;
    return {
      product_name: d.product_name,
      primary_color: d.primary_color,
      background_color: d.background_color,
      logo_url: d.logo_url,
      logo: d.logo ? { url: logoPath(d.logo.hash, d.logo.content_type), content_type: d.logo.content_type } : null,
      terms_url: d.terms_url,
      privacy_url: d.privacy_url,
      allow_remote_app_logos: d.allow_remote_app_logos,
      stylesheet_url: stylesheet.href,
      logo_max_bytes: LIMITS.logoBytes.max,
      warnings: contrastWarnings(d),
    };
  }

  /** Checks every field first, then saves them all; nothing changes when one is wrong. Audited as `branding.update`. */
  async update(input: Partial<Record<string, unknown>>, actor: Actor): Promise<BrandingView> {
    const next: BrandingDocument = { ...this.#live.document };
    const fields: BrandingField[] = [];
    for (const [field, value] of Object.entries(input)) {
      if (value === undefined) continue;
      (next as unknown as Record<string, unknown>)[field] = checkBrandingField(field, value);
      fields.push(field as BrandingField);
    }
    if (!fields.length) throw validationError(`nothing to change: give one of ${BRANDING_FIELDS.join(', ')}`);
    await this.#save(next, undefined);
    const view = this.view();
    await this.#d.audit.record({ action: 'branding.update', targetId: null, details: { fields: fields.sort(), warnings: view.warnings.length } }, actor);
    return view;
  }

  /**
   * Replaces the logo with an uploaded file after `checkLogo` (size, type by magic bytes, the
   * SVG subset). Audited as `branding.update` with fields ['logo'].
   */
  async setLogo(data: Uint8Array, declaredType: string, actor: Actor): Promise<BrandingView> {
    const type = checkLogo(data, declaredType);
    const asset = { hash: createHash('sha256').update(data).digest('hex'), contentType: type, data: Buffer.from(data) };
    await this.#save({ ...this.#live.document, logo: { hash: asset.hash, content_type: type } }, asset);
    const view = this.view();
    await this.#d.audit.record({ action: 'branding.update', targetId: null, details: { fields: ['logo'], warnings: view.warnings.length } }, actor);
    return view;
  }

  async removeLogo(actor: Actor): Promise<BrandingView> {
    await this.#save({ ...this.#live.document, logo: null }, undefined);
    await this.#d.audit.record({ action: 'branding.update', targetId: null, details: { fields: ['logo'], warnings: this.view().warnings.length } }, actor);
    return this.view();
  }

  /**
   * The logo at a hashed URL: the live one from memory, else (another node's newer upload
   * not yet heard of, or a page rendered just before a change) from the database.
   */
  async asset(hash: string): Promise<BrandAsset | undefined> {
    const live = this.#live.logo;
    if (live && live.hash === hash) return live;
    return this.#d.store.asset(hash);
  }

  /**
   * An app's own logo for the consent page, checked like the brand's (checkLogo), stored as an
   * asset, then set on the app (audited there as `app.update` {fields: ['logo']}); null removes it.
   */
  async setAppLogo(clientId: string, upload: { data: Uint8Array; type: string } | null, actor: Actor): Promise<ClientView> {
    if (!this.#d.setClientLogo) throw new Error('BrandingService.setClientLogo is not bound');
    if (!upload) return this.#d.setClientLogo(clientId, null, actor);
    await this.#d.showClient?.(clientId); // an unknown app: not_found, nothing stored
    const type = checkLogo(upload.data, upload.type);
    const hash = createHash('sha256').update(upload.data).digest('hex');
    await this.#d.store.putAsset({ hash, contentType: type, data: Buffer.from(upload.data) }, epochSeconds(this.#d.clock));
    return this.#d.setClientLogo(clientId, hash, actor);
  }

  async #save(document: BrandingDocument, asset: BrandAsset | undefined): Promise<void> {
    await this.#d.store.save(JSON.stringify(document), epochSeconds(this.#d.clock), asset);
    const logo = document.logo ? (asset ?? (this.#live.logo?.hash === document.logo.hash ? this.#live.logo : await this.#d.store.asset(document.logo.hash))) : undefined;
    this.#live = this.#compute(document, logo);
    this.#d.feed.notifyLocal('branding', 'default');
  }

  #compute(document: BrandingDocument, logo: BrandAsset | undefined): LiveBrand {
    const css = brandStylesheet(document, this.#d.extraCss);
    const hash = contentHash(css);
    const logoSrc = document.logo ? logoPath(document.logo.hash, document.logo.content_type) : (document.logo_url ?? undefined);
    return { document, logoSrc, stylesheet: { href: `/assets/brand-${hash}.css`, hash, css }, logo };
  }
}

/** /assets/logo-<hash>.<ext>: the hash is the asset's own (SHA-256 of its bytes). */
export function logoPath(hash: string, contentType: string): string {
  return `/assets/logo-${hash}.${LOGO_TYPES[contentType as keyof typeof LOGO_TYPES] ?? 'img'}`;
}
