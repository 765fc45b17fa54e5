import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ConfigError } from '../config/config.ts';
import { SHIPPED_LOCALES } from '../i18n/catalogues.ts';
import { translator } from '../i18n/translator.ts';
import { COMMON_VARIABLES, FOOTER_KEY, MESSAGE_NAMES, MESSAGES, type MessageName, type MessageText } from './messages.ts';

export type TemplatePart = 'subject' | 'text' | 'html';
const FILE_SUFFIX: Record<TemplatePart, string> = { subject: '.subject.txt', text: '.txt', html: '.html' };
const PLACEHOLDER = /\{\{\s*([a-z_]+)\s*\}\}/g;

export type MessageVariables = Record<string, string | number>;
export interface RenderedMessage {
  subject: string;
  text: string;
  html: string;
}

const ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };
const escapeHtml = (s: string) => s.replace(/[&<>"']/g, (c) => ESCAPES[c]!);
const oneLine = (s: string) => s.replace(/[\r\n]+/g, ' ');

/**
 * The messages' texts in each language: the built-in ones from the catalogues (messages.ts),
 * each part replaceable by a file in the operator's folder, for every language
 * (`password_reset.subject.txt`, `password_reset.txt`, `password_reset.html`) or for one
 * (`password_reset.de.txt`, which wins for German). Read and checked once at start: an unknown
 * file name or an unknown `{{variable}}` is a configuration error, never a mail with a hole in it.
 */
export class Templates {
  /** Operator texts by `<message>.<part>` and `<message>.<locale>.<part>`. */
  readonly #overrides = new Map<string, string>();
  /** Which parts came from the operator's folder, e.g. `invite.html`, `invite.de.txt`. */
  readonly overridden: string[] = [];
  readonly #locales: readonly string[];

  /** `locales`: the languages a file may name (the shipped ones). */
  constructor(dir: string | undefined, locales: readonly string[] = SHIPPED_LOCALES) {
    this.#locales = locales;
    if (dir) this.#load(dir);
  }

  #load(dir: string): void {
    let files: string[];
    try {
      files = readdirSync(dir).filter((f) => !f.startsWith('.'));
    } catch (error) {
      throw new ConfigError(`TESSERA_EMAIL_TEMPLATES_DIR: cannot read the folder ${dir} (${(error as NodeJS.ErrnoException).code ?? 'error'})`);
    }
    const names = MESSAGE_NAMES.flatMap((name) =>
      (Object.keys(FILE_SUFFIX) as TemplatePart[]).flatMap((part) => [undefined, ...this.#locales].map((locale) => ({ name, part, locale, file: `${name}${locale ? `.${locale}` : ''}${FILE_SUFFIX[part]}` }))),
    );
    for (const file of files.sort()) {
      const match = names.find((n) => n.file === file);
      if (!match) {
        throw new ConfigError(
          `TESSERA_EMAIL_TEMPLATES_DIR: "${file}" is not a template name (expected <message>[.<language>].subject.txt, <message>[.<language>].txt or <message>[.<language>].html; messages: ${MESSAGE_NAMES.join(', ')}; languages: ${this.#locales.join(', ')})`,
        );
      }
      const content = readFileSync(join(dir, file), 'utf8');
      const allowed = new Set<string>([...COMMON_VARIABLES, ...MESSAGES[match.name].variables]);
      for (const [, variable] of content.matchAll(PLACEHOLDER)) {
        if (!allowed.has(variable!)) {
          throw new ConfigError(`TESSERA_EMAIL_TEMPLATES_DIR: ${file} uses {{${variable}}}, which ${match.name} does not have (it has: ${[...allowed].join(', ')})`);
        }
      }
      if (match.part === 'subject' && content.trim() === '') throw new ConfigError(`TESSERA_EMAIL_TEMPLATES_DIR: ${file} is empty`);
      const key = `${match.name}${match.locale ? `.${match.locale}` : ''}.${match.part}`;
      this.#overrides.set(key, match.part === 'subject' ? content.trim() : content);
      this.overridden.push(key);
    }
  }

  /**
   * The message in `locale` with its variables filled in: escaped in the HTML part, never a
   * line break in the subject. Each part: the operator's file for this language, else their
   * file for every language, else the catalogue's words.
   */
  render(name: MessageName, locale: string, variables: MessageVariables): RenderedMessage {
    const builtIn = builtInParts(MESSAGES[name], locale, variables);
    const part = (p: TemplatePart): string => {
      const own = this.#overrides.get(`${name}.${locale}.${p}`) ?? this.#overrides.get(`${name}.${p}`);
      if (own === undefined) return builtIn[p];
      const value = (key: string) => String(variables[key] ?? '');
      return own.replace(PLACEHOLDER, (_, k: string) => (p === 'html' ? escapeHtml(value(k)) : value(k)));
    };
    return { subject: oneLine(part('subject')), text: part('text'), html: part('html') };
  }
}

/** The catalogue's message: paragraphs, the link on its own line (text) or as a link (HTML), the footer last. */
function builtInParts(message: MessageText, locale: string, variables: MessageVariables): RenderedMessage {
  const { t } = translator(locale);
  const escaped = Object.fromEntries(Object.entries(variables).map(([k, v]) => [k, typeof v === 'string' ? escapeHtml(v) : v]));
  const link = String(variables.link ?? '');
  const text = message.body.map((p) => (typeof p === 'string' ? t(p, variables) : `${t(p.link, variables)}:\n${link}`));
  const html = message.body.map((p) => (typeof p === 'string' ? `<p>${t(p, escaped)}</p>` : `<p><a href="${escapeHtml(link)}">${t(p.link, escaped)}</a></p>`));
  return {
    subject: t(message.subject, variables),
    text: `${text.join('\n\n')}\n\n-- \n${t(FOOTER_KEY, variables)}`,
    html: `${html.join('')}<p style="color:#666;font-size:12px">${t(FOOTER_KEY, escaped)}</p>`,
  };
}

export type { MessageText };
