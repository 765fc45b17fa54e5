import { visitor, type Actor } from '../audit/actor.ts';
import { ServiceError } from '../errors.ts';
import type { SignedIn } from './session-service.ts';
import type { UserService, UserUpdate } from './user-service.ts';

/** Where the account page was used from (the audit entry's address). */
export interface AccountMeta {
  ip: string | null;
  userAgent: string | null;
}

/** Profile fields as the form sends them (the name may be empty: no name). */
export interface ProfileInput {
  name: string;
  email: string;
}

/** Field → message, shown next to the field. */
export type FieldErrors = Partial<Record<string, string>>;

export type ProfileResult = { ok: true; emailChanged: boolean } | { ok: false; errors: FieldErrors };

/**
 * Starts verification of a user's (new) email address: the email area's service once it
 * exists. Without one the address is only marked unverified (UserService does that on change).
 */
export type StartEmailVerification = (userId: string, actor: Actor) => Promise<void>;

export interface AccountServiceDeps {
  users: Pick<UserService, 'find' | 'update'>;
  startEmailVerification?: StartEmailVerification;
}

/**
 * What a signed-in user may do to their own account at /account. Each change goes through the
 * service that owns it (users, sessions, grants), so it is validated and audited there; the
 * actor is the user at the pages (`user:<username>` with their address).
 */
export class AccountService {
  readonly #d: AccountServiceDeps;
  constructor(deps: AccountServiceDeps) {
    this.#d = deps;
  }

  /** The user's own actor at the pages. */
  actor(signedIn: SignedIn, meta: AccountMeta): Actor {
    return visitor(signedIn.principal.user.username, meta.ip);
  }

  /**
   * Name and email. Only what differs is saved (the audit entry's `fields` says what changed);
   * a new email is stored unverified and its verification started.
   */
  async updateProfile(signedIn: SignedIn, input: ProfileInput, meta: AccountMeta): Promise<ProfileResult> {
    const user = await this.#d.users.find(signedIn.principal.user.id);
    const name = input.name.trim() === '' ? null : input.name.trim();
    const email = input.email.trim() === '' ? null : input.email.trim();
    const change: UserUpdate = {};
    if (name !== user.name) change.name = name;
    if (email !== user.email) change.email = email;
    // A change of case only is the same mailbox: it stays verified (as UserService keeps it).
    const emailChanged = email?.toLowerCase() !== user.email?.toLowerCase();
    if (!Object.keys(change).length) return { ok: true, emailChanged: false };
    const actor = this.actor(signedIn, meta);
    try {
      await this.#d.users.update(user.id, change, actor);
    } catch (error) {
      if (error instanceof ServiceError && error.code === 'validation_failed') return { ok: false, errors: { [error.field ?? 'form']: error.message } };
      throw error;
    }
    if (emailChanged && email !== null) await this.#d.startEmailVerification?.(user.id, actor);
    return { ok: true, emailChanged };
  }
}
