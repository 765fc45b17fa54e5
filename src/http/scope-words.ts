import type { Tessera } from '../app/tessera.ts';
import type { MessageKey } from '../i18n/index.ts';
import { OPENID_SCOPES } from '../lib/scope-names.ts';
import { t, tEntered } from '../pages/i18n-html.ts';

/**
 * Scopes as people read them: an API scope's declared description (its translation for the
 * page's language when the operator entered one), OpenID's own in Tessera's
 * words (in the page's language), else the name. The consent page and the account's Connected apps use the same words.
 */
export async function scopesInWords(tessera: Tessera, names: string[]): Promise<Array<{ name: string; description: string }>> {
  const descriptions = await tessera.scopeDescriptions(names);
  return names.map((name) => {
    const declared = descriptions.get(name);
    return { name, description: declared ? tEntered(declared.description, declared.descriptionTranslations) : name in OPENID_SCOPES ? t(`scope.${name}` as MessageKey) : name };
  });
}
