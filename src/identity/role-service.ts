import { changedFields } from '../audit/actions.ts';
import type { Actor } from '../audit/actor.ts';
import type { AuditLog } from '../audit/audit-log.ts';
import { epochSeconds, type Clock } from '../clock.ts';
import { conflict, notFound, validationError } from '../errors.ts';
import { text } from '../lib/text.ts';
import type { ChangeFeed } from '../storage/change-feed.ts';
import type { Permission, Role, RoleStore } from './user-store.ts';

const NAME = /^[a-z][a-z0-9_.:-]{0,63}$/;

export interface RoleView {
  name: string;
  description: string;
  builtin: boolean;
  permissions: string[] | '*';
  /** Users holding the role must pass a second factor at sign-in. */
  require_mfa: boolean;
}

export interface RoleServiceDeps {
  roles: RoleStore;
  clock: Clock;
  feed: ChangeFeed;
  audit: AuditLog;
  /** Names of the apps that require a permission: such a permission cannot be deleted. */
  appsRequiring: (permission: string) => Promise<string[]>;
}

export class RoleService {
  readonly #roles: RoleStore;
  readonly #clock: Clock;
  readonly #feed: ChangeFeed;
  readonly #audit: AuditLog;
  readonly #appsRequiring: (permission: string) => Promise<string[]>;
  constructor(deps: RoleServiceDeps) {
    this.#roles = deps.roles;
    this.#clock = deps.clock;
    this.#feed = deps.feed;
    this.#audit = deps.audit;
    this.#appsRequiring = deps.appsRequiring;
  }

  async list(): Promise<RoleView[]> {
    return (await this.#roles.listRoles()).map(view);
  }

  /** Creates a role with permissions, creating those that are new. */
  async create(input: { name: string; description?: string; permissions?: string[]; requireMfa?: boolean }, actor: Actor): Promise<RoleView> {
    const name = roleName(input.name, 'name');
    if (await this.#roles.findRole(name)) throw conflict(`role "${name}" already exists`, 'name');
    const now = epochSeconds(this.#clock);
    await this.#roles.createRole({ name, description: text(input.description ?? '', 'description', 0, 500) }, now);
    for (const p of input.permissions ?? []) await this.#grant(name, p);
    if (input.requireMfa) await this.#roles.setRoleRequireMfa(name, true);
    const role = view((await this.#roles.findRole(name))!);
    await this.#audit.record({ action: 'role.create', targetId: role.name, details: { permissions: role.permissions } }, actor);
    return role;
  }

  /** Grants a permission to a role, creating the permission when it is new. */
  async grant(roleRef: string, permission: string, description: string | undefined, actor: Actor): Promise<RoleView> {
    const role = await this.#grant(roleRef, permission, description);
    await this.#audit.record({ action: 'role.grant', targetId: role.name, details: { permission: permission.trim() } }, actor);
    return role;
  }

  async #grant(roleRef: string, permission: string, description?: string): Promise<RoleView> {
    const role = await this.#roles.findRole(roleRef);
    if (!role) throw notFound('role', roleRef);
    const p = roleName(permission, 'permission');
    const now = epochSeconds(this.#clock);
    if (!(await this.#roles.findPermission(p))) {
      await this.#roles.createPermission({ name: p, description: text(description ?? p, 'description', 0, 500) }, now);
    }
    if (!role.allPermissions) await this.#roles.grantPermission(role.name, p, now);
    this.#feed.notifyLocal('role', role.name);
    return view((await this.#roles.findRole(role.name))!);
  }

  async show(name: string): Promise<RoleView> {
    const role = await this.#roles.findRole(name);
    if (!role) throw notFound('role', name);
    return view(role);
  }

  /** Changes a role's description and/or replaces its permissions (which must exist). */
  async update(name: string, input: { description?: string; permissions?: string[]; requireMfa?: boolean }, actor: Actor): Promise<RoleView> {
    const role = await this.#roles.findRole(name);
    if (!role) throw notFound('role', name);
    if (input.requireMfa !== undefined && typeof input.requireMfa !== 'boolean') throw validationError('require_mfa must be true or false', 'require_mfa');
    const now = epochSeconds(this.#clock);
    if (input.requireMfa !== undefined) await this.#roles.setRoleRequireMfa(role.name, input.requireMfa);
    if (input.description !== undefined) await this.#roles.updateRoleDescription(role.name, text(input.description, 'description', 0, 500));
    if (input.permissions !== undefined) {
      if (role.allPermissions) throw validationError(`role "${role.name}" holds every permission; its permissions cannot be listed`, 'permissions');
      const wanted = [...new Set(input.permissions)];
      for (const p of wanted) {
        if (!(await this.#roles.findPermission(p))) throw validationError(`permission "${p.slice(0, 64)}" does not exist`, 'permissions');
      }
      await this.#roles.setRolePermissions(role.name, wanted, now);
    }
    this.#feed.notifyLocal('role', role.name);
    const updated = view((await this.#roles.findRole(role.name))!);
    await this.#audit.record({ action: 'role.update', targetId: role.name, details: { fields: changedFields(input), permissions: updated.permissions } }, actor);
    return updated;
  }

  async delete(name: string, actor: Actor): Promise<void> {
    const role = await this.#roles.findRole(name);
    if (!role) throw notFound('role', name);
    if (role.builtin) throw conflict(`role "${role.name}" is built in and cannot be deleted`, 'name');
    await this.#roles.deleteRole(role.name, epochSeconds(this.#clock));
    this.#feed.notifyLocal('role', role.name);
    await this.#audit.record({ action: 'role.delete', targetId: role.name, details: {} }, actor);
  }

  listPermissions(): Promise<Permission[]> {
    return this.#roles.listPermissions();
  }

  async createPermission(input: { name: string; description?: string }, actor: Actor): Promise<Permission> {
    const name = roleName(input.name, 'name');
    if (await this.#roles.findPermission(name)) throw conflict(`permission "${name}" already exists`, 'name');
    await this.#roles.createPermission({ name, description: text(input.description ?? name, 'description', 0, 500) }, epochSeconds(this.#clock));
    await this.#audit.record({ action: 'permission.create', targetId: name, details: {} }, actor);
    return (await this.#roles.findPermission(name))!;
  }

  /** Removes a permission from every role. An app that requires it then admits no user until its requirement changes. */
  async deletePermission(name: string, actor: Actor): Promise<void> {
    const p = await this.#roles.findPermission(name);
    if (!p) throw notFound('permission', name);
    if (p.builtin) throw conflict(`permission "${p.name}" is built in and cannot be deleted`, 'name');
    // An app gated on a permission nobody can hold again would refuse every user: say so instead.
    const apps = await this.#appsRequiring(p.name);
    if (apps.length) {
      const named = apps.slice(0, 5).map((a) => `"${a}"`).join(', ') + (apps.length > 5 ? ` and ${apps.length - 5} more` : '');
      throw conflict(`permission "${p.name}" is required by ${apps.length === 1 ? 'the app' : 'the apps'} ${named}; change their required permission first`, 'name');
    }
    const roles = await this.#roles.rolesWithPermission(p.name);
    await this.#roles.deletePermission(p.name, epochSeconds(this.#clock));
    for (const r of roles) this.#feed.notifyLocal('role', r);
    this.#feed.notifyLocal('role', '*');
    await this.#audit.record({ action: 'permission.delete', targetId: p.name, details: {} }, actor);
  }
}

function roleName(value: string, field: string): string {
  const v = value.trim();
  if (!NAME.test(v)) throw validationError(`${field} "${v.slice(0, 64)}" must be lowercase letters, digits and _ . : - (starting with a letter)`, field);
  return v;
}

function view(role: Role): RoleView {
  return { name: role.name, description: role.description, builtin: role.builtin, permissions: role.allPermissions ? '*' : role.permissions, require_mfa: role.requireMfa };
}
