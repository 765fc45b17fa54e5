/**
 * Path templates of gateway routes: literal segments, `{param}` placeholders (a whole segment
 * or part of one, as in OData's `/Account({id})`), and a trailing `/**` for a subtree.
 * Matching works on the raw (still percent-encoded) path, segment by segment, so an encoded
 * slash (`%2F`) can never smuggle a request into another route.
 */
export interface CompiledTemplate {
  template: string;
  segments: RegExp[];
  /** Ends in `/**`: matches the prefix and anything below it. */
  subtree: boolean;
}

export class TemplateError extends Error {}

const PARAM = /\{([A-Za-z_][A-Za-z0-9_]*)\}/g;
/** RFC 3986 pchar, without the braces used for placeholders. */
const LITERAL = /^[A-Za-z0-9\-._~!$&'()*+,;=:@%]*$/;

export function compileTemplate(template: string): CompiledTemplate {
  if (!template.startsWith('/')) throw new TemplateError(`path "${template}" must start with /`);
  if (template.length > 500) throw new TemplateError('path is too long');
  let body = template;
  let subtree = false;
  if (body === '/**' || body.endsWith('/**')) {
    subtree = true;
    body = body.slice(0, -3);
  }
  const raw = body === '' || body === '/' ? [] : body.slice(1).split('/');
  const segments = raw.map((segment) => {
    if (segment === '') throw new TemplateError(`path "${template}" has an empty segment`);
    if (segment.includes('*')) throw new TemplateError(`path "${template}": "**" is allowed only as the last segment`);
    let pattern = '';
    let last = 0;
    for (const m of segment.matchAll(PARAM)) {
      pattern += literal(segment.slice(last, m.index), template);
      pattern += '[^/]+';
      last = m.index! + m[0].length;
    }
    pattern += literal(segment.slice(last), template);
    return new RegExp(`^${pattern}$`);
  });
  return { template, segments, subtree };
}

function literal(text: string, template: string): string {
  if (!LITERAL.test(text)) throw new TemplateError(`path "${template}" contains characters not allowed in a URL path`);
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** Does `path` (the part after the API's base path, starting with `/` or empty) match? */
export function matchTemplate(t: CompiledTemplate, path: string): boolean {
  return matchSegments(t, pathSegments(path));
}

/** A path's segments for `matchSegments`, split once for every route of an API. */
export function pathSegments(path: string): string[] {
  // A trailing slash is its own (empty) segment: "/Account/" is not "/Account".
  return path === '' || path === '/' ? [] : path.slice(1).split('/');
}

export function matchSegments(t: CompiledTemplate, parts: readonly string[]): boolean {
  if (t.subtree) {
    if (parts.length < t.segments.length) return false;
  } else if (parts.length !== t.segments.length) {
    return false;
  }
  for (let i = 0; i < t.segments.length; i++) if (!t.segments[i]!.test(parts[i]!)) return false;
  return true;
}
