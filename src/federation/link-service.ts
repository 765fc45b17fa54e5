import type { Actor } from '../audit/actor.ts';
import type { AuditLog } from '../audit/audit-log.ts';
import { notFound } from '../errors.ts';
import type { User } from '../identity/user.ts';
import { iso } from '../lib/time.ts';
import type { LinkStore } from './link-store.ts';
import type { ProviderStore } from './provider-store.ts';

/** A user's account at an upstream provider, as the admin API shows it. */
export interface LinkView {
  provider: string;
  provider_name: string;
  /** The provider's id for the account (`sub`). */
  subject: string;
  /** The email the provider last reported (for recognising the account only). */
  email: string | null;
  created_at: string;
  last_sign_in_at: string | null;
}

export interface LinkServiceDeps {
  links: LinkStore;
  providers: ProviderStore;
  /** Finds a user by id or username, or throws not_found (UserService.find). */
  findUser: (ref: string) => Promise<User>;
  audit: AuditLog;
}

/** A user's links to upstream accounts: shown to admins, and removable (audited as user.unlink). */
export class LinkService {
  readonly #d: LinkServiceDeps;
  constructor(deps: LinkServiceDeps) {
    this.#d = deps;
  }

  async list(userRef: string): Promise<LinkView[]> {
    const user = await this.#d.findUser(userRef);
    const [links, providers] = await Promise.all([this.#d.links.listForUser(user.id), this.#d.providers.list()]);
    return links.map((link) => {
      const provider = providers.find((p) => p.id === link.providerId);
      return {
        provider: provider?.slug ?? link.providerId,
        provider_name: provider?.name ?? '',
        subject: link.subject,
        email: link.email,
        created_at: iso(link.createdAt),
        last_sign_in_at: link.lastSignInAt === null ? null : iso(link.lastSignInAt),
      };
    });
  }

  /** The user can no longer sign in through that upstream account (a new sign-in would create or link anew). */
  async remove(userRef: string, providerSlug: string, subject: string, actor: Actor): Promise<void> {
    const user = await this.#d.findUser(userRef);
    const provider = providerSlug.length <= 100 ? await this.#d.providers.findBySlug(providerSlug) : undefined;
    const link = provider && subject.length <= 255 ? await this.#d.links.find(provider.id, subject) : undefined;
    if (!provider || !link || link.userId !== user.id) throw notFound('identity link', `${providerSlug.slice(0, 100)}/${subject.slice(0, 100)}`);
    await this.#d.links.delete(provider.id, subject);
    await this.#d.audit.record({ action: 'user.unlink', targetId: user.id, details: { provider: provider.slug, subject } }, actor);
  }
}
