import { randomBytes, randomUUID } from 'node:crypto';
import { SYSTEM } from '../audit/actor.ts';
import type { AuditLog } from '../audit/audit-log.ts';
import { epochSeconds, type Clock } from '../clock.ts';
import type { UserStore } from '../identity/user-store.ts';
import type { User } from '../identity/user.ts';
import type { LinkStore } from './link-store.ts';
import type { UpstreamProfile } from './profile.ts';
import type { IdentityProvider } from './provider.ts';

export type AccountOutcome =
  | { ok: true; user: User; how: 'linked' | 'created' | 'linked_by_email' }
  /** `email_in_use`: a local user has the profile's email and linking by it is not allowed. */
  | { ok: false; reason: 'user_disabled' | 'email_in_use' };

export interface FederatedAccountsDeps {
  links: LinkStore;
  users: UserStore;
  clock: Clock;
  audit: AuditLog;
}

const USERNAME = /^[A-Za-z0-9][A-Za-z0-9._@+-]{0,99}$/;

/**
 * Which Tessera user an upstream sign-in is (issue #11, "Accounts"):
 * - a linked upstream account (provider, `sub`) is its user, whose profile is refreshed;
 * - otherwise, a local user with the same email is linked only when the provider is trusted
 *   for email (`--trust-email`) and says `email_verified: true` — and never silently otherwise:
 *   the sign-in is refused rather than creating a second account with that email;
 * - otherwise a user is created just in time with the provider's default roles.
 * A disabled user cannot sign in through a provider either.
 */
export class FederatedAccounts {
  readonly #d: FederatedAccountsDeps;
  constructor(deps: FederatedAccountsDeps) {
    this.#d = deps;
  }

  async resolve(provider: IdentityProvider, profile: UpstreamProfile): Promise<AccountOutcome> {
    const now = epochSeconds(this.#d.clock);
    const link = await this.#d.links.find(provider.id, profile.subject);
    const linked = link && (await this.#d.users.findById(link.userId));
    if (linked) {
      if (linked.disabled) return { ok: false, reason: 'user_disabled' };
      await this.#d.links.recordSignIn(provider.id, profile.subject, profile.email, now);
      return { ok: true, user: await this.#refresh(linked, profile, now), how: 'linked' };
    }

    if (profile.email !== null) {
      const sameEmail = await this.#d.users.listByEmail(profile.email);
      if (sameEmail.length > 0) {
        const [only] = sameEmail;
        if (!provider.trustEmail || !profile.emailVerified || sameEmail.length !== 1 || !only) return { ok: false, reason: 'email_in_use' };
        if (only.disabled) return { ok: false, reason: 'user_disabled' };
        const inserted = await this.#d.links.insert({ providerId: provider.id, subject: profile.subject, userId: only.id, email: profile.email, createdAt: now, lastSignInAt: now });
        // A concurrent first sign-in linked the account already: take that link.
        if (!inserted) return this.resolve(provider, profile);
        await this.#d.audit.record({ action: 'user.link', targetId: only.id, details: { provider: provider.slug, by: 'verified_email' } }, SYSTEM);
        return { ok: true, user: only, how: 'linked_by_email' };
      }
    }

    const user: User = {
      id: randomUUID(),
      username: await this.#username(provider, profile),
      email: profile.email,
      emailVerified: profile.emailVerified,
      name: profile.name,
      givenName: profile.givenName,
      familyName: profile.familyName,
      passwordHash: null,
      passwordChangedAt: null,
      disabled: false,
      tokensValidAfter: 0,
      createdAt: now,
      updatedAt: now,
    };
    const newLink = { providerId: provider.id, subject: profile.subject, userId: user.id, email: profile.email, createdAt: now, lastSignInAt: now };
    let created: boolean;
    try {
      created = await this.#d.links.insertWithNewUser(user, provider.defaultRoles, newLink);
    } catch (error) {
      // Another account took the username between the check and the insert: once more with a suffix.
      if (!(await this.#d.users.findByUsername(user.username))) throw error;
      user.username = `${user.username.slice(0, 90)}-${randomBytes(3).toString('hex')}`;
      created = await this.#d.links.insertWithNewUser(user, provider.defaultRoles, newLink);
    }
    if (!created) return this.resolve(provider, profile);
    await this.#d.audit.record({ action: 'user.create', targetId: user.id, details: { username: user.username, roles: provider.defaultRoles } }, SYSTEM);
    await this.#d.audit.record({ action: 'user.link', targetId: user.id, details: { provider: provider.slug, by: 'first_sign_in' } }, SYSTEM);
    return { ok: true, user, how: 'created' };
  }

  /** Later sign-ins bring the profile the provider sends now; absent claims leave fields alone. */
  async #refresh(user: User, profile: UpstreamProfile, now: number): Promise<User> {
    const next: User = {
      ...user,
      email: profile.email ?? user.email,
      emailVerified: profile.email !== null ? profile.emailVerified : user.emailVerified,
      name: profile.name ?? user.name,
      givenName: profile.givenName ?? user.givenName,
      familyName: profile.familyName ?? user.familyName,
    };
    const changed = (['email', 'emailVerified', 'name', 'givenName', 'familyName'] as const).some((k) => next[k] !== user[k]);
    if (!changed) return user;
    const saved = { ...next, updatedAt: now };
    await this.#d.users.save(saved);
    return saved;
  }

  /** The upstream username, else the email's local part, else `{slug}-{subject}`; made unique. */
  async #username(provider: IdentityProvider, profile: UpstreamProfile): Promise<string> {
    const candidates = [profile.preferredUsername, profile.email?.split('@')[0], `${provider.slug}-${profile.subject}`]
      .map((c) => c?.replace(/[^A-Za-z0-9._@+-]/g, '').replace(/^[^A-Za-z0-9]+/, '').slice(0, 80))
      .filter((c): c is string => c !== undefined && USERNAME.test(c));
    const base = candidates[0] ?? `${provider.slug}-user`;
    for (const name of [...candidates, `${base}-${provider.slug}`]) {
      if (!(await this.#d.users.findByUsername(name))) return name;
    }
    return `${base}-${randomBytes(3).toString('hex')}`;
  }
}
