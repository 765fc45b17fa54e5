import type { Kysely } from 'kysely';
import type { User } from '../identity/user.ts';
import { userToRow } from '../identity/user.ts';
import type { Database, IdentityLinksTable } from '../storage/schema.ts';

/** A Tessera user's account at an upstream provider, identified by (provider, upstream `sub`). */
export interface IdentityLink {
  providerId: string;
  subject: string;
  userId: string;
  /** The email the provider last reported, for display only (never used to match). */
  email: string | null;
  createdAt: number;
  lastSignInAt: number | null;
}

export interface LinkStore {
  find(providerId: string, subject: string): Promise<IdentityLink | undefined>;
  listForUser(userId: string): Promise<IdentityLink[]>;
  /** Answers false when (provider, subject) is already linked (to this or another user). */
  insert(link: IdentityLink): Promise<boolean>;
  /**
   * A user created just in time with their first link, in one transaction: when another
   * first sign-in of the same upstream account linked first, nothing is stored (false).
   */
  insertWithNewUser(user: User, roles: string[], link: IdentityLink): Promise<boolean>;
  recordSignIn(providerId: string, subject: string, email: string | null, now: number): Promise<void>;
  delete(providerId: string, subject: string): Promise<boolean>;
}

export class KyselyLinkStore implements LinkStore {
  readonly #db: Kysely<Database>;
  constructor(db: Kysely<Database>) {
    this.#db = db;
  }

  async find(providerId: string, subject: string): Promise<IdentityLink | undefined> {
    if (subject.includes('\u0000')) return undefined;
    const row = await this.#db
      .selectFrom('identity_links')
      .selectAll()
      .where('provider_id', '=', providerId)
      .where('subject', '=', subject)
      .executeTakeFirst();
    return row && fromRow(row);
  }

  async listForUser(userId: string): Promise<IdentityLink[]> {
    const rows = await this.#db.selectFrom('identity_links').selectAll().where('user_id', '=', userId).orderBy('created_at').execute();
    return rows.map(fromRow);
  }

  async insert(link: IdentityLink): Promise<boolean> {
    // ON CONFLICT DO NOTHING: two first sign-ins racing for one upstream account link it once.
    const result = await this.#db
      .insertInto('identity_links')
      .values(linkRow(link))
      .onConflict((oc) => oc.columns(['provider_id', 'subject']).doNothing())
      .executeTakeFirst();
    return Number(result.numInsertedOrUpdatedRows ?? 0n) > 0;
  }

  async insertWithNewUser(user: User, roles: string[], link: IdentityLink): Promise<boolean> {
    try {
      await this.#db.transaction().execute(async (trx) => {
        await trx.insertInto('users').values(userToRow(user)).execute();
        if (roles.length) await trx.insertInto('user_roles').values(roles.map((role_name) => ({ user_id: user.id, role_name }))).execute();
        await trx.insertInto('identity_links').values(linkRow(link)).execute();
      });
      return true;
    } catch (error) {
      // The primary key of identity_links decided a race between two first sign-ins.
      if (await this.find(link.providerId, link.subject)) return false;
      throw error;
    }
  }

  async recordSignIn(providerId: string, subject: string, email: string | null, now: number): Promise<void> {
    await this.#db
      .updateTable('identity_links')
      .set({ last_sign_in_at: now, email })
      .where('provider_id', '=', providerId)
      .where('subject', '=', subject)
      .execute();
  }

  async delete(providerId: string, subject: string): Promise<boolean> {
    const result = await this.#db
      .deleteFrom('identity_links')
      .where('provider_id', '=', providerId)
      .where('subject', '=', subject)
      .executeTakeFirst();
    return Number(result.numDeletedRows) > 0;
  }
}

function fromRow(r: IdentityLinksTable): IdentityLink {
  return {
    providerId: r.provider_id,
    subject: r.subject,
    userId: r.user_id,
    email: r.email,
    createdAt: r.created_at,
    lastSignInAt: r.last_sign_in_at,
  };
}

function linkRow(link: IdentityLink): IdentityLinksTable {
  return {
    provider_id: link.providerId,
    subject: link.subject,
    user_id: link.userId,
    email: link.email,
    created_at: link.createdAt,
    last_sign_in_at: link.lastSignInAt,
  };
}
