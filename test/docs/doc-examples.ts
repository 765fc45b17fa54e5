import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

/**
 * The shell examples of README.md and docs/*.md, as the doc test runs them (CONTRIBUTING.md,
 * "Shell examples in the docs"): fences tagged sh, bash or shell run; a `console` fence's
 * `$ ` lines run; `<!-- doc-test: skip (reason) -->` before a fence makes it a syntax check
 * only, `<!-- doc-test: fails -->` an example that must exit non-zero.
 */
export const ROOT = join(import.meta.dirname, '..', '..');

export type Mode = 'run' | 'skip' | 'fails';

export interface Example {
  /** `docs/cli.md:142`: the fence's line. */
  where: string;
  /** The document line of the example's first line. */
  firstLine: number;
  mode: Mode;
  reason: string | undefined;
  /** The shell text: for a console fence, only its commands. */
  script: string;
}

export interface DocumentExamples {
  file: string;
  examples: Example[];
  /** Markers that are not understood (a typo would otherwise silently run or skip). */
  problems: string[];
}

const SHELL = new Set(['sh', 'bash', 'shell']);
const MARKER = /^<!--\s*doc-test:\s*(.*?)\s*-->$/;

/** README.md, then docs/*.md in name order. */
export function documents(): string[] {
  const docs = readdirSync(join(ROOT, 'docs'))
    .filter((f) => f.endsWith('.md'))
    .sort()
    .map((f) => `docs/${f}`);
  return ['README.md', ...docs];
}

export function examplesOf(file: string, text = readFileSync(join(ROOT, file), 'utf8')): DocumentExamples {
  const lines = text.split('\n');
  const examples: Example[] = [];
  const problems: string[] = [];
  for (let i = 0; i < lines.length; i++) {
    const open = /^(\s*)(`{3,}|~{3,})\s*([\w-]*)/.exec(lines[i]!);
    if (!open) continue;
    const [, indent, fence, info] = open as unknown as [string, string, string, string];
    const body: string[] = [];
    let j = i + 1;
    for (; j < lines.length; j++) {
      const line = lines[j]!;
      if (line.trim().startsWith(fence) && line.trim().replace(/[`~]/g, '') === '') break;
      body.push(line.startsWith(indent) ? line.slice(indent.length) : line.trimStart());
    }
    const marker = markerBefore(lines, i);
    const where = `${file}:${i + 1}`;
    if (SHELL.has(info) || info === 'console') {
      const parsed = parseMarker(marker);
      if (typeof parsed === 'string') problems.push(`${where}: ${parsed}`);
      else {
        const script = info === 'console' ? consoleCommands(body) : body.join('\n');
        examples.push({ where, firstLine: i + 2, mode: parsed.mode, reason: parsed.reason, script });
      }
    } else if (marker !== undefined) {
      problems.push(`${where}: a doc-test marker before a \`${info || 'plain'}\` fence (only sh, bash, shell and console fences are examples)`);
    }
    i = j;
  }
  return { file, examples, problems };
}

/** The marker comment on the closest non-blank line above the fence, if any. */
function markerBefore(lines: string[], fenceIndex: number): string | undefined {
  for (let k = fenceIndex - 1; k >= 0; k--) {
    const line = lines[k]!.trim();
    if (line === '') continue;
    return MARKER.exec(line)?.[1];
  }
  return undefined;
}

function parseMarker(marker: string | undefined): { mode: Mode; reason: string | undefined } | string {
  if (marker === undefined) return { mode: 'run', reason: undefined };
  const skip = /^skip\s*\((.+)\)$/.exec(marker);
  if (skip) return { mode: 'skip', reason: skip[1]! };
  if (marker === 'fails') return { mode: 'fails', reason: undefined };
  return `unknown doc-test marker "${marker}" (use "skip (reason)" or "fails")`;
}

/** A console transcript's commands: `$ ` lines and their `\` continuations. */
function consoleCommands(body: string[]): string {
  const out: string[] = [];
  let continuing = false;
  for (const line of body) {
    if (continuing || line.startsWith('$ ')) {
      out.push(continuing ? line : line.slice(2));
      continuing = line.endsWith('\\');
    } else {
      // Output lines stay as blank lines, so line numbers still match the document.
      out.push('');
    }
  }
  return out.join('\n');
}

/**
 * The documented addresses, replaced for the test: `127.0.0.1:8080` / `localhost:8080` by the
 * test server's address, every other loopback port by a free one for this document.
 */
export function substituteAddresses(script: string, server: string, portFor: (port: string) => string): string {
  return script.replace(/\b(127\.0\.0\.1|localhost):(\d{1,5})\b/g, (_, host: string, port: string) =>
    port === '8080' ? server : `${host}:${portFor(port)}`,
  );
}
