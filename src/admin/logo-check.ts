import { SaxesParser } from 'saxes';
import { LIMITS } from '../config/limits.ts';
import { validationError } from '../errors.ts';

/** The image types a logo may have, and the file extension its URL gets. */
export const LOGO_TYPES = {
  'image/png': 'png',
  'image/jpeg': 'jpg',
  'image/webp': 'webp',
  'image/gif': 'gif',
  'image/svg+xml': 'svg',
} as const;

export type LogoType = keyof typeof LOGO_TYPES;

export function isLogoType(value: string): value is LogoType {
  return Object.hasOwn(LOGO_TYPES, value);
}

/**
 * Checks an uploaded logo before anything is stored, and answers its real type. Refused (a
 * validation error on `field`): an empty or oversized file; a declared type that is not one
 * of LOGO_TYPES, or that the bytes contradict (PNG, JPEG, WebP and GIF by their magic
 * bytes; anything else claiming to be one of them is refused, so a file cannot lie its way
 * into an `<img>` as another type); an SVG outside the safe subset of `checkSvg`.
 */
export function checkLogo(data: Uint8Array, declaredType: string, field = 'logo'): LogoType {
  const max = LIMITS.logoBytes.max;
  if (data.byteLength === 0) throw validationError('the logo is empty', field);
  if (data.byteLength > max) throw validationError(`the logo is ${data.byteLength} bytes; at most ${max} bytes are accepted`, field);
  const type = declaredType.toLowerCase().split(';')[0]!.trim();
  if (!isLogoType(type)) throw validationError(`a logo must be PNG, JPEG, WebP, GIF or SVG (image/png, image/jpeg, image/webp, image/gif, image/svg+xml), not "${type.slice(0, 64)}"`, field);
  const sniffed = sniffRaster(data);
  if (type === 'image/svg+xml') {
    if (sniffed) throw validationError(`the file is ${sniffed}, not SVG`, field);
    checkSvg(data, field);
    return type;
  }
  if (sniffed !== type) throw validationError(`the file is not ${type}${sniffed ? ` (it is ${sniffed})` : ' (its first bytes say otherwise)'}`, field);
  return type;
}

/** The raster type the first bytes announce, if any. */
export function sniffRaster(data: Uint8Array): LogoType | undefined {
  const starts = (bytes: number[], at = 0) => bytes.every((b, i) => data[at + i] === b);
  if (starts([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a])) return 'image/png';
  if (starts([0xff, 0xd8, 0xff])) return 'image/jpeg';
  if (starts([0x47, 0x49, 0x46, 0x38]) && (data[4] === 0x37 || data[4] === 0x39) && data[5] === 0x61) return 'image/gif';
  if (starts([0x52, 0x49, 0x46, 0x46]) && starts([0x57, 0x45, 0x42, 0x50], 8)) return 'image/webp';
  return undefined;
}

/**
 * SVG is a document format: it can carry script, event handlers, foreign HTML, external
 * references and styles that fetch. Rather than clean a hostile file (and get the cleaning
 * wrong), a logo must already be in a small, static subset, and anything else is refused
 * with the reason:
 *
 * - well-formed XML (a strict parser), no DOCTYPE (no entities), no processing instructions
 *   beyond the XML declaration, no CDATA;
 * - only the elements of SAFE_ELEMENTS (shapes, groups, gradients, clip paths, text);
 * - only presentation and geometry attributes of SAFE_ATTRIBUTES and the SVG namespace
 *   declaration: no `on*` handlers, no `style`, no `href`/`xlink:href` (so no `<use>` of
 *   another file and no links), no `<style>`;
 * - a `url(…)` in an attribute value only as a reference inside the file (`url(#id)`).
 *
 * The served file also has a CSP sandbox and nosniff (src/http/brand-routes.ts), and an
 * `<img>` never runs script: three locks, each enough for the common attacks.
 */
export function checkSvg(data: Uint8Array, field = 'logo'): void {
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(data);
  } catch {
    throw validationError('the SVG is not UTF-8 text', field);
  }
  const refuse = (why: string): never => {
    throw validationError(`the SVG is refused: ${why} (docs/branding.md lists what a logo may contain)`, field);
  };
  const parser = new SaxesParser({ xmlns: false, position: false });
  let root: string | undefined;
  let problem: string | undefined;
  const fail = (why: string) => {
    problem ??= why;
  };
  parser.on('doctype', () => fail('it has a DOCTYPE'));
  parser.on('processinginstruction', (pi) => fail(`it has a processing instruction <?${pi.target}?>`));
  parser.on('cdata', () => fail('it has a CDATA section'));
  parser.on('opentag', (tag) => {
    root ??= tag.name;
    if (!SAFE_ELEMENTS.has(tag.name)) return fail(`<${tag.name.slice(0, 40)}> is not allowed`);
    for (const [name, value] of Object.entries(tag.attributes)) {
      const v = String(value);
      const declaration = name === 'xmlns' ? v === SVG_NS : name === 'xmlns:xlink' ? v === XLINK_NS : undefined;
      if (declaration === false || (declaration === undefined && !SAFE_ATTRIBUTES.has(name))) return fail(`the attribute ${name.slice(0, 40)} on <${tag.name}> is not allowed`);
      for (const m of v.matchAll(/url\s*\(([^)]*)\)/gi)) {
        if (!/^\s*['"]?#[\w.-]+['"]?\s*$/.test(m[1]!)) return fail(`${name} refers outside the file`);
      }
      if (/javascript:|data:|&#|\\/i.test(v)) return fail(`the value of ${name} on <${tag.name}> is not allowed`);
    }
  });
  parser.on('error', (error) => fail(`it is not well-formed XML (${String(error.message).split('\n')[0]!.slice(0, 80)})`));
  try {
    parser.write(text).close();
  } catch (error) {
    fail(`it is not well-formed XML (${String((error as Error).message).split('\n')[0]!.slice(0, 80)})`);
  }
  if (problem) refuse(problem);
  if (root !== 'svg') refuse('its root element is not <svg>');
}

const SVG_NS = 'http://www.w3.org/2000/svg';
/** Declared by many editors' exports; harmless without an xlink:href (which is refused). */
const XLINK_NS = 'http://www.w3.org/1999/xlink';

const SAFE_ELEMENTS: ReadonlySet<string> = new Set([
  'svg', 'g', 'path', 'rect', 'circle', 'ellipse', 'line', 'polyline', 'polygon', 'text', 'tspan',
  'title', 'desc', 'defs', 'linearGradient', 'radialGradient', 'stop', 'clipPath', 'mask',
]);

const SAFE_ATTRIBUTES: ReadonlySet<string> = new Set([
  'id', 'class', 'version', 'width', 'height', 'viewBox', 'preserveAspectRatio', 'x', 'y', 'x1', 'y1', 'x2', 'y2', 'cx', 'cy', 'r', 'rx', 'ry',
  'fx', 'fy', 'd', 'points', 'transform', 'fill', 'fill-opacity', 'fill-rule', 'stroke', 'stroke-width', 'stroke-opacity', 'stroke-linecap',
  'stroke-linejoin', 'stroke-miterlimit', 'stroke-dasharray', 'stroke-dashoffset', 'opacity', 'clip-path', 'clip-rule', 'mask',
  'gradientUnits', 'gradientTransform', 'spreadMethod', 'offset', 'stop-color', 'stop-opacity', 'clipPathUnits', 'maskUnits',
  'maskContentUnits', 'font-family', 'font-size', 'font-weight', 'font-style', 'text-anchor', 'dominant-baseline', 'letter-spacing',
  'dx', 'dy', 'role', 'aria-label', 'aria-hidden', 'focusable', 'xml:space', 'color', 'display', 'visibility', 'vector-effect',
]);
