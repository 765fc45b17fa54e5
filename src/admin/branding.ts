import { LIMITS } from '../config/limits.ts';
import { validationError } from '../errors.ts';
import { httpsUrl } from '../lib/https-url.ts';
import { AA_TEXT_RATIO, bestTextOn, contrastRatio } from './contrast.ts';

/**
 * The operator's brand on the pages people see (docs/branding.md): what is saved (one JSON
 * document, `BrandingDocument`), how each field is checked, and the contrast warnings.
 * The uploaded logo itself is an asset stored apart, named by its content hash.
 */
export interface BrandingDocument {
  product_name: string;
  /** `#rrggbb`: buttons, links, focus rings. */
  primary_color: string;
  /** `#rrggbb`: the page behind the card. */
  background_color: string;
  /** A path on Tessera's own origin (e.g. `/static/logo.svg` behind the same proxy), when no logo is uploaded. */
  logo_url: string | null;
  /** The uploaded logo: its asset hash and type (set by uploading, not by an update). */
  logo: { hash: string; content_type: string } | null;
  /** Shown on the consent page when set (https). */
  terms_url: string | null;
  privacy_url: string | null;
  /** Whether an app's own `logo_uri` (https) may be shown on the consent page (off: only uploaded ones). */
  allow_remote_app_logos: boolean;
}

export const DEFAULT_BRANDING: Readonly<BrandingDocument> = Object.freeze({
  product_name: 'Tessera',
  primary_color: '#2f5bea',
  background_color: '#f4f6fb',
  logo_url: null,
  logo: null,
  terms_url: null,
  privacy_url: null,
  allow_remote_app_logos: false,
});

/** The fields an update may set (the logo has its own upload). */
export const BRANDING_FIELDS = ['product_name', 'primary_color', 'background_color', 'logo_url', 'terms_url', 'privacy_url', 'allow_remote_app_logos'] as const;
export type BrandingField = (typeof BRANDING_FIELDS)[number];

/** The page text colour, and the two a button label may take: the one that reads best on the primary colour is used. */
export const TEXT_COLOR = '#1b2333';
export const BUTTON_TEXT_CANDIDATES = ['#ffffff', TEXT_COLOR] as const;
/** The card behind the text and links. */
export const CARD_COLOR = '#ffffff';

const HEX = /^#[0-9a-f]{6}$/;

/** Checks one field's value and answers it normalised; a wrong one is a validation error naming the field. */
export function checkBrandingField(field: string, value: unknown): BrandingDocument[BrandingField] {
  switch (field) {
    case 'product_name': {
      const { min, max } = LIMITS.productName;
      if (typeof value !== 'string') throw validationError('product_name must be a string', field);
      const name = value.trim();
      if (name.length < min || name.length > max) throw validationError(`product_name must be ${min} to ${max} characters`, field);
      if (/[\p{Cc}\p{Cf}\u2028\u2029]/u.test(name)) throw validationError('product_name must not contain control or formatting characters', field);
      return name;
    }
    case 'primary_color':
    case 'background_color': {
      const hex = typeof value === 'string' ? expandHex(value.trim().toLowerCase()) : undefined;
      if (!hex) throw validationError(`${field} must be a colour as #rrggbb (or #rgb)`, field);
      return hex;
    }
    case 'logo_url':
      if (value === null || value === '') return null;
      return sameOriginPath(value, field);
    case 'terms_url':
    case 'privacy_url':
      if (value === null || value === '') return null;
      return httpsUrl(value, field);
    case 'allow_remote_app_logos':
      if (typeof value !== 'boolean') throw validationError('allow_remote_app_logos must be true or false', field);
      return value;
    default:
      throw validationError(`unknown branding field "${String(field).slice(0, 64)}"; the fields are ${BRANDING_FIELDS.join(', ')}`, String(field).slice(0, 64));
  }
}

function expandHex(value: string): string | undefined {
  const short = /^#([0-9a-f])([0-9a-f])([0-9a-f])$/.exec(value);
  const hex = short ? `#${short[1]!.repeat(2)}${short[2]!.repeat(2)}${short[3]!.repeat(2)}` : value;
  return HEX.test(hex) ? hex : undefined;
}

/**
 * A logo URL must be on Tessera's own origin (the pages' CSP allows images from 'self' only):
 * an absolute path, no scheme, no `//host`, no backslash, no dot segments, printable ASCII.
 */
export function sameOriginPath(value: unknown, field: string): string {
  if (typeof value !== 'string' || value.length > 2000) throw validationError(`${field} must be a path on this server, e.g. /static/logo.svg`, field);
  if (!/^\/(?![/\\])[\x21-\x7e]*$/.test(value) || /\\|(^|\/)\.\.?(\/|$|\?)/.test(value)) {
    throw validationError(`${field} must be a path on this server starting with a single "/", e.g. /static/logo.svg`, field);
  }
  return value;
}

/**
 * The WCAG AA checks (4.5:1, normal text) that the brand's colours can fail: the button
 * label on the primary colour (the better of white and the text colour is used), links in
 * the primary colour on the card, and text on the background. Warnings, not refusals: the
 * operator decides, knowing.
 */
export function contrastWarnings(doc: Pick<BrandingDocument, 'primary_color' | 'background_color'>): string[] {
  const out: string[] = [];
  const fmt = (r: number) => `${(Math.floor(r * 100) / 100).toFixed(2)}:1`;
  const label = bestTextOn(doc.primary_color, BUTTON_TEXT_CANDIDATES);
  const onButton = contrastRatio(label, doc.primary_color);
  if (onButton < AA_TEXT_RATIO) out.push(`button text on primary_color ${doc.primary_color} has a contrast of ${fmt(onButton)}, below the 4.5:1 of WCAG AA`);
  const links = contrastRatio(doc.primary_color, CARD_COLOR);
  if (links < AA_TEXT_RATIO) out.push(`links in primary_color ${doc.primary_color} on the white card have a contrast of ${fmt(links)}, below the 4.5:1 of WCAG AA`);
  const text = contrastRatio(TEXT_COLOR, doc.background_color);
  if (text < AA_TEXT_RATIO) out.push(`text on background_color ${doc.background_color} has a contrast of ${fmt(text)}, below the 4.5:1 of WCAG AA`);
  return out;
}

/** A saved document read back: each field checked again, a field no longer valid falls back to its default. */
export function parseBrandingDocument(json: string | undefined): BrandingDocument {
  const doc: BrandingDocument = { ...DEFAULT_BRANDING };
  if (!json) return doc;
  let saved: Record<string, unknown>;
  try {
    saved = JSON.parse(json) as Record<string, unknown>;
  } catch {
    return doc;
  }
  for (const field of BRANDING_FIELDS) {
    if (!(field in saved)) continue;
    try {
      (doc as unknown as Record<string, unknown>)[field] = checkBrandingField(field, saved[field]);
    } catch {
      // An upgrade narrowed a rule: the default stands.
    }
  }
  const logo = saved.logo as { hash?: unknown; content_type?: unknown } | null | undefined;
  if (logo && typeof logo.hash === 'string' && /^[0-9a-f]{64}$/.test(logo.hash) && typeof logo.content_type === 'string') {
    doc.logo = { hash: logo.hash, content_type: logo.content_type };
  }
  return doc;
}
