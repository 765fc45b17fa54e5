import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ConfigError } from '../config/config.ts';
import { COMMON_VARIABLES, MESSAGE_NAMES, MESSAGES, type MessageName, type MessageText } from './messages.ts';

export type TemplatePart = 'subject' | 'text' | 'html';
const FILE_SUFFIX: Record<TemplatePart, string> = { subject: '.subject.txt', text: '.txt', html: '.html' };
const PLACEHOLDER = /\{\{\s*([a-z_]+)\s*\}\}/g;

export type MessageVariables = Record<string, string | number>;

const ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };
const escapeHtml = (s: string) => s.replace(/[&<>"']/g, (c) => ESCAPES[c]!);

/**
 * The messages' texts: the built-in ones (messages.ts), each part replaceable by a file in
 * the operator's folder (`password_reset.subject.txt`, `password_reset.txt`,
 * `password_reset.html`, …). Read and checked once at start: an unknown file name or an
 * unknown `{{variable}}` is a configuration error, never a mail with a hole in it.
 */
export class Templates {
  readonly #texts: Record<MessageName, Record<TemplatePart, string>>;
  /** Which parts came from the operator's folder, e.g. `invite.html`. */
  readonly overridden: string[] = [];

  constructor(dir: string | undefined) {
    this.#texts = Object.fromEntries(MESSAGE_NAMES.map((name) => [name, { subject: MESSAGES[name].subject, text: MESSAGES[name].text, html: MESSAGES[name].html }])) as Record<
      MessageName,
      Record<TemplatePart, string>
    >;
    if (dir) this.#load(dir);
  }

  #load(dir: string): void {
    let files: string[];
    try {
      files = readdirSync(dir).filter((f) => !f.startsWith('.'));
    } catch (error) {
      throw new ConfigError(`TESSERA_EMAIL_TEMPLATES_DIR: cannot read the folder ${dir} (${(error as NodeJS.ErrnoException).code ?? 'error'})`);
    }
    for (const file of files.sort()) {
      const match = MESSAGE_NAMES.flatMap((name) => (Object.keys(FILE_SUFFIX) as TemplatePart[]).map((part) => ({ name, part }))).find(
        ({ name, part }) => file === `${name}${FILE_SUFFIX[part]}`,
      );
      if (!match) {
        throw new ConfigError(`TESSERA_EMAIL_TEMPLATES_DIR: "${file}" is not a template name (expected <message>.subject.txt, <message>.txt or <message>.html; messages: ${MESSAGE_NAMES.join(', ')})`);
      }
      const content = readFileSync(join(dir, file), 'utf8');
      const allowed = new Set<string>([...COMMON_VARIABLES, ...MESSAGES[match.name].variables]);
      for (const [, variable] of content.matchAll(PLACEHOLDER)) {
        if (!allowed.has(variable!)) {
          throw new ConfigError(`TESSERA_EMAIL_TEMPLATES_DIR: ${file} uses {{${variable}}}, which ${match.name} does not have (it has: ${[...allowed].join(', ')})`);
        }
      }
      if (match.part === 'subject' && content.trim() === '') throw new ConfigError(`TESSERA_EMAIL_TEMPLATES_DIR: ${file} is empty`);
      this.#texts[match.name][match.part] = match.part === 'subject' ? content.trim() : content;
      this.overridden.push(`${match.name}.${match.part}`);
    }
  }

  /** The message with its variables filled in: escaped in the HTML part, never a line break in the subject. */
  render(name: MessageName, variables: MessageVariables): { subject: string; text: string; html: string } {
    const texts = this.#texts[name];
    const value = (key: string) => String(variables[key] ?? '');
    return {
      subject: texts.subject.replace(PLACEHOLDER, (_, k: string) => value(k)).replace(/[\r\n]+/g, ' '),
      text: texts.text.replace(PLACEHOLDER, (_, k: string) => value(k)),
      html: texts.html.replace(PLACEHOLDER, (_, k: string) => escapeHtml(value(k))),
    };
  }
}

export type { MessageText };
