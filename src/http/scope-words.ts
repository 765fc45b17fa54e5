import type { Tessera } from '../app/tessera.ts';
import { OPENID_SCOPES } from '../lib/scope-names.ts';

/**
 * Scopes as people read them: an API scope's declared description, OpenID's own in Tessera's
 * words, else the name. The consent page and the account's Connected apps use the same words.
 */
export async function scopesInWords(tessera: Tessera, names: string[]): Promise<Array<{ name: string; description: string }>> {
  const descriptions = await tessera.scopeDescriptions(names);
  return names.map((name) => ({ name, description: descriptions.get(name) ?? OPENID_SCOPES[name] ?? name }));
}
