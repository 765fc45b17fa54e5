import { invalidRequest } from './errors.ts';

/** Request parameters as the HTTP layer hands them over: every value of every name. */
export type RawParams = Map<string, string[]>;

/** Longest value accepted for any single parameter (IdentityServer keeps central limits too). */
export const MAX_PARAM_LENGTH = 4096;

/**
 * RFC 6749 §3.1 and §3.2: "Request and response parameters MUST NOT be included more than
 * once." Also caps every value's length, so no later step sees an oversized field.
 */
export function singleValued(raw: RawParams): Map<string, string> {
  const out = new Map<string, string>();
  for (const [name, values] of raw) {
    if (values.length > 1) throw invalidRequest(`parameter "${truncate(name)}" is included more than once`);
    const value = values[0] ?? '';
    if (value.length > MAX_PARAM_LENGTH) throw invalidRequest(`parameter "${truncate(name)}" is too long`);
    // An empty value is treated as omitted (RFC 6749 §3.1).
    if (value !== '') out.set(name, value);
  }
  return out;
}

/** Parses an application/x-www-form-urlencoded string into RawParams. */
export function parseForm(body: string): RawParams {
  const out: RawParams = new Map();
  // Nothing escaped (no "%", no "+") and no leading "?": the WHATWG form parser would return
  // the pairs as written, so split them here without URLSearchParams' per-pair decoding
  // (a token request's body is usually such; tests compare both paths).
  if (isPlainForm(body)) {
    let start = 0;
    while (start <= body.length) {
      let end = body.indexOf('&', start);
      if (end < 0) end = body.length;
      if (end > start) {
        const eq = body.indexOf('=', start);
        const name = eq < 0 || eq > end ? body.slice(start, end) : body.slice(start, eq);
        const value = eq < 0 || eq > end ? '' : body.slice(eq + 1, end);
        add(out, name, value);
      }
      start = end + 1;
    }
    return out;
  }
  for (const [name, value] of new URLSearchParams(body)) add(out, name, value);
  return out;
}

function isPlainForm(body: string): boolean {
  return body.indexOf('%') < 0 && body.indexOf('+') < 0 && body.charCodeAt(0) !== 63; /* ? */
}

function add(out: RawParams, name: string, value: string): void {
  const list = out.get(name);
  if (list) list.push(value);
  else out.set(name, [value]);
}

export function truncate(s: string, max = 40): string {
  return s.length > max ? `${s.slice(0, max)}…` : s;
}
