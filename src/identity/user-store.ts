import type { Kysely } from 'kysely';
import { publishChange } from '../storage/change-feed.ts';
import type { Database } from '../storage/schema.ts';
import { userFromRow, userToRow, usernameKey, type Principal, type User } from './user.ts';

export interface Role {
  name: string;
  description: string;
  allPermissions: boolean;
  builtin: boolean;
  permissions: string[];
  /** Its users must pass a second factor at sign-in (docs/mfa.md). */
  requireMfa: boolean;
}

export interface Permission {
  name: string;
  description: string;
  builtin: boolean;
}

export interface UserStore {
  findById(id: string): Promise<User | undefined>;
  findByUsername(username: string): Promise<User | undefined>;
  /** Users whose email is `email`, ignoring case (sign-in through a provider links by it only when trusted). */
  listByEmail(email: string): Promise<User[]>;
  list(): Promise<User[]>;
  /** The user's language for mail (not a change other nodes need to hear of: mail reads the row). */
  setLocale(userId: string, locale: string | null): Promise<void>;
  insert(user: User, roles: string[]): Promise<void>;
  save(user: User): Promise<void>;
  setRoles(userId: string, roles: string[], now: number): Promise<void>;
  rolesOf(userId: string): Promise<string[]>;
  principal(userId: string): Promise<Principal | undefined>;
  /** Users not disabled holding `role`, other than `exceptUserId` (for "the last active admin"). */
  countActiveWithRole(role: string, exceptUserId: string): Promise<number>;
  /** Apps that act on behalf of the user (client credentials): their client ids. */
  appsActingFor(userId: string): Promise<string[]>;
  /**
   * Deletes the user with their sessions, authorization codes, refresh tokens, consents,
   * provider links and roles, in one transaction, and publishes the change (every node drops
   * the cached user, so access tokens issued for them stop working). False if there was none.
   */
  delete(userId: string, now: number): Promise<boolean>;
}

export interface RoleStore {
  listRoles(): Promise<Role[]>;
  findRole(name: string): Promise<Role | undefined>;
  createRole(role: { name: string; description: string }, now: number): Promise<void>;
  grantPermission(roleName: string, permission: string, now: number): Promise<void>;
  listPermissions(): Promise<Permission[]>;
  findPermission(name: string): Promise<Permission | undefined>;
  createPermission(permission: { name: string; description: string }, now: number): Promise<void>;
  updateRoleDescription(name: string, description: string): Promise<void>;
  setRoleRequireMfa(name: string, required: boolean): Promise<void>;
  /** Replaces a role's permissions in one transaction. */
  setRolePermissions(name: string, permissions: string[], now: number): Promise<void>;
  deleteRole(name: string, now: number): Promise<void>;
  deletePermission(name: string, now: number): Promise<void>;
  /** Roles that hold a permission (to refresh who is affected when it changes). */
  rolesWithPermission(name: string): Promise<string[]>;
}

export class KyselyUserStore implements UserStore, RoleStore {
  readonly #db: Kysely<Database>;
  constructor(db: Kysely<Database>) {
    this.#db = db;
  }

  async findById(id: string): Promise<User | undefined> {
    const row = await this.#db.selectFrom('users').selectAll().where('id', '=', id).executeTakeFirst();
    return row && userFromRow(row);
  }

  async findByUsername(username: string): Promise<User | undefined> {
    const row = await this.#db.selectFrom('users').selectAll().where('username_key', '=', usernameKey(username)).executeTakeFirst();
    return row && userFromRow(row);
  }

  async listByEmail(email: string): Promise<User[]> {
    if (email.includes('\u0000')) return [];
    const rows = await this.#db
      .selectFrom('users')
      .selectAll()
      .where((eb) => eb(eb.fn('lower', ['email']), '=', email.toLowerCase()))
      .orderBy('created_at')
      .execute();
    return rows.map(userFromRow);
  }

  async list(): Promise<User[]> {
    return (await this.#db.selectFrom('users').selectAll().orderBy('username_key').execute()).map(userFromRow);
  }

  async insert(user: User, roles: string[]): Promise<void> {
    await this.#db.transaction().execute(async (trx) => {
      await trx.insertInto('users').values(userToRow(user)).execute();
      if (roles.length) await trx.insertInto('user_roles').values(roles.map((role_name) => ({ user_id: user.id, role_name }))).execute();
    });
  }

  async save(user: User): Promise<void> {
    // The locale is written by setLocale alone: a user object read before a language change must not undo it.
    const { id, created_at, locale, ...rest } = userToRow(user);
    void created_at, void locale;
    await this.#db.transaction().execute(async (trx) => {
      await trx.updateTable('users').set(rest).where('id', '=', id).execute();
      await publishChange(trx, 'user', id, user.updatedAt);
    });
  }

  async setLocale(userId: string, locale: string | null): Promise<void> {
    await this.#db.updateTable('users').set({ locale }).where('id', '=', userId).execute();
  }

  async setRoles(userId: string, roles: string[], now: number): Promise<void> {
    await this.#db.transaction().execute(async (trx) => {
      await trx.deleteFrom('user_roles').where('user_id', '=', userId).execute();
      if (roles.length) await trx.insertInto('user_roles').values(roles.map((role_name) => ({ user_id: userId, role_name }))).execute();
      await trx.updateTable('users').set({ updated_at: now }).where('id', '=', userId).execute();
      await publishChange(trx, 'user', userId, now);
    });
  }

  async rolesOf(userId: string): Promise<string[]> {
    const rows = await this.#db.selectFrom('user_roles').select('role_name').where('user_id', '=', userId).orderBy('role_name').execute();
    return rows.map((r) => r.role_name);
  }

  async principal(userId: string): Promise<Principal | undefined> {
    const user = await this.findById(userId);
    if (!user) return undefined;
    const roles = await this.#db
      .selectFrom('user_roles')
      .innerJoin('roles', 'roles.name', 'user_roles.role_name')
      .select(['roles.name', 'roles.all_permissions'])
      .where('user_roles.user_id', '=', userId)
      .orderBy('roles.name')
      .execute();
    let permissions: string[];
    if (roles.some((r) => r.all_permissions === 1)) {
      permissions = (await this.#db.selectFrom('permissions').select('name').orderBy('name').execute()).map((r) => r.name);
    } else if (roles.length) {
      const rows = await this.#db
        .selectFrom('role_permissions')
        .select('permission_name')
        .distinct()
        .where('role_name', 'in', roles.map((r) => r.name))
        .orderBy('permission_name')
        .execute();
      permissions = rows.map((r) => r.permission_name);
    } else {
      permissions = [];
    }
    return { user, roles: roles.map((r) => r.name), permissions };
  }

  async countActiveWithRole(role: string, exceptUserId: string): Promise<number> {
    const row = await this.#db
      .selectFrom('users')
      .innerJoin('user_roles', 'user_roles.user_id', 'users.id')
      .select((eb) => eb.fn.countAll<number | string | bigint>().as('n'))
      .where('user_roles.role_name', '=', role)
      .where('users.disabled', '=', 0)
      .where('users.id', '!=', exceptUserId)
      .executeTakeFirst();
    return Number(row?.n ?? 0);
  }

  async appsActingFor(userId: string): Promise<string[]> {
    const rows = await this.#db.selectFrom('clients').select('id').where('on_behalf_of_user_id', '=', userId).orderBy('id').execute();
    return rows.map((r) => r.id);
  }

  async delete(userId: string, now: number): Promise<boolean> {
    return this.#db.transaction().execute(async (trx) => {
      // Explicit rather than left to ON DELETE CASCADE, so both dialects do the same whatever
      // their foreign-key settings.
      await trx.deleteFrom('authorization_codes').where('user_id', '=', userId).execute();
      const families = trx.selectFrom('refresh_token_families').select('id').where('user_id', '=', userId);
      await trx.deleteFrom('refresh_tokens').where('family_id', 'in', families).execute();
      await trx.deleteFrom('refresh_token_families').where('user_id', '=', userId).execute();
      await trx.deleteFrom('sessions').where('user_id', '=', userId).execute();
      await trx.deleteFrom('consents').where('user_id', '=', userId).execute();
      await trx.deleteFrom('identity_links').where('user_id', '=', userId).execute();
      await trx.deleteFrom('webauthn_credentials').where('user_id', '=', userId).execute();
      await trx.deleteFrom('user_roles').where('user_id', '=', userId).execute();
      const deleted = await trx.deleteFrom('users').where('id', '=', userId).executeTakeFirst();
      await publishChange(trx, 'user', userId, now);
      return Number(deleted.numDeletedRows) > 0;
    });
  }

  async listRoles(): Promise<Role[]> {
    const roles = await this.#db.selectFrom('roles').selectAll().orderBy('name').execute();
    const grants = await this.#db.selectFrom('role_permissions').selectAll().orderBy('permission_name').execute();
    return roles.map((r) => ({
      name: r.name,
      description: r.description,
      allPermissions: r.all_permissions === 1,
      builtin: r.builtin === 1,
      requireMfa: r.require_mfa === 1,
      permissions: grants.filter((g) => g.role_name === r.name).map((g) => g.permission_name),
    }));
  }

  async findRole(name: string): Promise<Role | undefined> {
    return (await this.listRoles()).find((r) => r.name === name);
  }

  async createRole(role: { name: string; description: string }, now: number): Promise<void> {
    await this.#db.insertInto('roles').values({ name: role.name, description: role.description, all_permissions: 0, builtin: 0, created_at: now }).execute();
  }

  async grantPermission(roleName: string, permission: string, now: number): Promise<void> {
    await this.#db.transaction().execute(async (trx) => {
      // Idempotent and race-free: two concurrent grants of the same permission both succeed.
      await trx
        .insertInto('role_permissions')
        .values({ role_name: roleName, permission_name: permission })
        .onConflict((oc) => oc.columns(['role_name', 'permission_name']).doNothing())
        .execute();
      await publishChange(trx, 'role', roleName, now);
    });
  }

  async listPermissions(): Promise<Permission[]> {
    const rows = await this.#db.selectFrom('permissions').selectAll().orderBy('name').execute();
    return rows.map((r) => ({ name: r.name, description: r.description, builtin: r.builtin === 1 }));
  }

  async findPermission(name: string): Promise<Permission | undefined> {
    const row = await this.#db.selectFrom('permissions').selectAll().where('name', '=', name).executeTakeFirst();
    return row && { name: row.name, description: row.description, builtin: row.builtin === 1 };
  }

  async createPermission(permission: { name: string; description: string }, now: number): Promise<void> {
    await this.#db.insertInto('permissions').values({ ...permission, builtin: 0, created_at: now }).execute();
  }

  async setRoleRequireMfa(name: string, required: boolean): Promise<void> {
    await this.#db.updateTable('roles').set({ require_mfa: required ? 1 : 0 }).where('name', '=', name).execute();
  }

  async updateRoleDescription(name: string, description: string): Promise<void> {
    await this.#db.updateTable('roles').set({ description }).where('name', '=', name).execute();
  }

  async setRolePermissions(name: string, permissions: string[], now: number): Promise<void> {
    await this.#db.transaction().execute(async (trx) => {
      await trx.deleteFrom('role_permissions').where('role_name', '=', name).execute();
      if (permissions.length) {
        await trx.insertInto('role_permissions').values(permissions.map((p) => ({ role_name: name, permission_name: p }))).execute();
      }
      await publishChange(trx, 'role', name, now);
    });
  }

  async deleteRole(name: string, now: number): Promise<void> {
    await this.#db.transaction().execute(async (trx) => {
      await trx.deleteFrom('role_permissions').where('role_name', '=', name).execute();
      await trx.deleteFrom('user_roles').where('role_name', '=', name).execute();
      await trx.deleteFrom('roles').where('name', '=', name).execute();
      await publishChange(trx, 'role', name, now);
    });
  }

  async deletePermission(name: string, now: number): Promise<void> {
    await this.#db.transaction().execute(async (trx) => {
      const roles = await trx.selectFrom('role_permissions').select('role_name').where('permission_name', '=', name).execute();
      await trx.deleteFrom('role_permissions').where('permission_name', '=', name).execute();
      await trx.deleteFrom('permissions').where('name', '=', name).execute();
      for (const r of roles) await publishChange(trx, 'role', r.role_name, now);
      // Roles holding every permission lose it too.
      await publishChange(trx, 'role', '*', now);
    });
  }

  async rolesWithPermission(name: string): Promise<string[]> {
    const rows = await this.#db.selectFrom('role_permissions').select('role_name').where('permission_name', '=', name).execute();
    return rows.map((r) => r.role_name);
  }
}
