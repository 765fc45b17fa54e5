import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ConfigError } from '../config/config.ts';

/** The files an operator may put in TESSERA_PAGE_TEMPLATES_DIR (docs/branding.md#template-overrides). */
export const PAGE_TEMPLATE_FILES = ['header.html', 'footer.html', 'extra.css'] as const;
/** What a partial may say; every value is escaped for HTML (there is no unescaped form). */
export const PARTIAL_VARIABLES = ['product_name', 'logo_url', 'terms_url', 'privacy_url', 'page_title', 'lang'] as const;
export type PartialVariable = (typeof PARTIAL_VARIABLES)[number];
export type Partial = (vars: Record<PartialVariable, string>) => string;

export interface PageTemplates {
  partials: { header?: Partial; footer?: Partial } | undefined;
  /** Appended to the brand stylesheet (served from our origin under its content hash). */
  extraCss: string;
  /** Which files came from the folder, for the start-up log. */
  loaded: string[];
}

const PLACEHOLDER = /\{\{\s*([a-z_]+)\s*\}\}/g;
const ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;', '`': '&#96;' };
const escapeHtml = (s: string) => s.replace(/[&<>"'`]/g, (c) => ESCAPES[c]!);
/** Largest file read from the folder: a partial is a few lines, extra.css a few rules. */
const MAX_FILE_BYTES = 64 * 1024;

/**
 * The operator's overrides for the pages, read and checked once at start: a header and a
 * footer partial (HTML with `{{variable}}` placeholders, each value escaped) and extra CSS.
 * An unknown file, an unknown variable, a `{{{raw}}}` form, a script or an event handler is
 * a configuration error (one line, exit 2) — the pages' CSP would block the script anyway, and
 * failing at start says so instead of leaving a silently dead header.
 */
export function loadPageTemplates(dir: string | undefined): PageTemplates {
  if (!dir) return { partials: undefined, extraCss: '', loaded: [] };
  const where = `TESSERA_PAGE_TEMPLATES_DIR`;
  let files: string[];
  try {
    files = readdirSync(dir).filter((f) => !f.startsWith('.'));
  } catch (error) {
    throw new ConfigError(`${where}: cannot read the folder ${dir} (${(error as NodeJS.ErrnoException).code ?? 'error'})`);
  }
  const read = (file: string): string | undefined => {
    if (!files.includes(file)) return undefined;
    const content = readFileSync(join(dir, file), 'utf8');
    if (Buffer.byteLength(content) > MAX_FILE_BYTES) throw new ConfigError(`${where}: ${file} is larger than ${MAX_FILE_BYTES} bytes`);
    return content;
  };
  for (const file of files) {
    if (!(PAGE_TEMPLATE_FILES as readonly string[]).includes(file)) {
      throw new ConfigError(`${where}: "${file}" is not a page template (expected ${PAGE_TEMPLATE_FILES.join(', ')})`);
    }
  }
  const partial = (file: string): Partial | undefined => {
    const source = read(file);
    if (source === undefined) return undefined;
    if (/\{\{\{/.test(source)) throw new ConfigError(`${where}: ${file} uses {{{…}}}: every variable is escaped, write {{name}}`);
    for (const [, name] of source.matchAll(PLACEHOLDER)) {
      if (!(PARTIAL_VARIABLES as readonly string[]).includes(name!)) {
        throw new ConfigError(`${where}: ${file} uses {{${name}}}, which is not a page variable (they are: ${PARTIAL_VARIABLES.join(', ')})`);
      }
    }
    if (/<script\b|\son[a-z]+\s*=|javascript:/i.test(source)) {
      throw new ConfigError(`${where}: ${file} has a script, an event handler or a javascript: URL; the pages run no script (CSP)`);
    }
    return (vars) => source.replace(PLACEHOLDER, (_, name: PartialVariable) => escapeHtml(vars[name] ?? ''));
  };
  const header = partial('header.html');
  const footer = partial('footer.html');
  const extraCss = read('extra.css') ?? '';
  if (/<\/?style|<script/i.test(extraCss)) throw new ConfigError(`${where}: extra.css must be plain CSS`);
  return {
    partials: header || footer ? { header, footer } : undefined,
    extraCss,
    loaded: files.sort(),
  };
}
