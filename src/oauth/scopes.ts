import { isScopeToken } from '../lib/scope-names.ts';
import { invalidScope } from './errors.ts';

/** Parses a space-delimited scope string into a de-duplicated list, in order. */
export function parseScope(value: string | undefined): string[] {
  if (value === undefined) return [];
  const out: string[] = [];
  for (const token of value.split(' ')) {
    if (token === '') continue;
    if (!isScopeToken(token)) throw invalidScope('scope contains characters not allowed by RFC 6749 §3.3');
    if (!out.includes(token)) out.push(token);
  }
  return out;
}

export function formatScope(scopes: readonly string[]): string {
  return scopes.join(' ');
}
