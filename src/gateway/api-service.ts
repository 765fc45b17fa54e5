import { randomUUID } from 'node:crypto';
import type { Kysely } from 'kysely';
import { iso } from '../clients/client-view.ts';
import { epochSeconds, type Clock } from '../clock.ts';
import { conflict, notFound, validationError } from '../errors.ts';
import { ADMIN_SCOPE, isScopeToken, OPENID_SCOPES } from '../oauth/scopes.ts';
import { publishChange, type ChangeFeed } from '../storage/change-feed.ts';
import type { Database } from '../storage/schema.ts';
import { compileTemplate, TemplateError } from './route-template.ts';

/** An API behind the gateway: where it lives, where it forwards, and which scopes open what. */
export interface ApiDefinition {
  id: string;
  name: string;
  basePath: string;
  upstream: string;
  audience: string | null;
  timeoutMs: number;
  scopes: Array<{ name: string; description: string }>;
  routes: Array<{ methods: string[]; path: string; scopes: string[] }>;
  createdAt: number;
  updatedAt: number;
}

export interface ApiView {
  id: string;
  name: string;
  base_path: string;
  upstream: string;
  audience: string | null;
  timeout_ms: number;
  scopes: Array<{ name: string; description: string }>;
  routes: Array<{ methods: string[]; path: string; scopes: string[] }>;
  created_at: string;
  updated_at: string;
}

export interface ApiInput {
  name?: string;
  basePath?: string;
  upstream?: string;
  audience?: string | null;
  timeoutMs?: number;
  scopes?: Array<{ name: string; description?: string }>;
  routes?: Array<{ methods: string[]; path: string; scopes: string[] }>;
}

export const METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'] as const;

/** Tessera's own paths: an API may not sit on or under them. */
export const RESERVED_PATHS = ['/connect', '/.well-known', '/login', '/consent', '/logout', '/health', '/admin', '/assets', '/favicon.ico'];

const BASE_PATH = /^(\/[A-Za-z0-9\-._~]+)+$/;

export function apiView(a: ApiDefinition): ApiView {
  return {
    id: a.id,
    name: a.name,
    base_path: a.basePath,
    upstream: a.upstream,
    audience: a.audience,
    timeout_ms: a.timeoutMs,
    scopes: a.scopes,
    routes: a.routes,
    created_at: iso(a.createdAt),
    updated_at: iso(a.updatedAt),
  };
}

/** `a` is `b` or lies under it, at a segment boundary. */
function within(a: string, b: string): boolean {
  return a === b || a.startsWith(`${b}/`);
}

/**
 * API definitions (gateway): validation, storage and change notification. The CLI and the
 * admin API both call this; the gateway reads the definitions into memory.
 */
export class ApiService {
  readonly #db: Kysely<Database>;
  readonly #clock: Clock;
  readonly #feed: ChangeFeed | undefined;

  constructor(deps: { db: Kysely<Database>; clock: Clock; feed?: ChangeFeed }) {
    this.#db = deps.db;
    this.#clock = deps.clock;
    this.#feed = deps.feed;
  }

  async loadAll(): Promise<ApiDefinition[]> {
    const [apis, scopes, routes] = await Promise.all([
      this.#db.selectFrom('apis').selectAll().orderBy('name').execute(),
      this.#db.selectFrom('api_scopes').selectAll().orderBy('name').execute(),
      this.#db.selectFrom('api_routes').selectAll().orderBy('position').execute(),
    ]);
    return apis.map((a) => ({
      id: a.id,
      name: a.name,
      basePath: a.base_path,
      upstream: a.upstream,
      audience: a.audience,
      timeoutMs: Number(a.timeout_ms),
      scopes: scopes.filter((s) => s.api_id === a.id).map((s) => ({ name: s.name, description: s.description })),
      routes: routes
        .filter((r) => r.api_id === a.id)
        .map((r) => ({ methods: JSON.parse(r.methods) as string[], path: r.path, scopes: JSON.parse(r.scopes) as string[] })),
      createdAt: Number(a.created_at),
      updatedAt: Number(a.updated_at),
    }));
  }

  async list(): Promise<ApiView[]> {
    return (await this.loadAll()).map(apiView);
  }

  async show(ref: string): Promise<ApiView> {
    return apiView(await this.#find(ref));
  }

  /** Every scope some API declares (for app registration and the consent page). */
  async declaredScopes(): Promise<Map<string, string>> {
    const rows = await this.#db.selectFrom('api_scopes').select(['name', 'description']).execute();
    return new Map(rows.map((r) => [r.name, r.description]));
  }

  async create(input: ApiInput): Promise<ApiView> {
    const now = epochSeconds(this.#clock);
    for (const field of ['name', 'basePath', 'upstream'] as const) {
      if (input[field] === undefined) throw validationError(`${snake(field)} is required`, snake(field));
    }
    const draft: ApiDefinition = { id: randomUUID(), name: '', basePath: '', upstream: '', audience: null, timeoutMs: 30_000, scopes: [], routes: [], createdAt: now, updatedAt: now };
    const api = await this.#apply(draft, input);
    await this.#save(api, true);
    return apiView(api);
  }

  async update(ref: string, input: ApiInput): Promise<ApiView> {
    const current = await this.#find(ref);
    const next = await this.#apply({ ...current, scopes: [...current.scopes], routes: [...current.routes] }, input);
    next.updatedAt = Math.max(epochSeconds(this.#clock), current.updatedAt);
    await this.#save(next, false);
    return apiView(next);
  }

  /** Apps keep scopes of a deleted API in their registration; tokens simply stop opening anything. */
  async delete(ref: string): Promise<void> {
    const api = await this.#find(ref);
    const now = epochSeconds(this.#clock);
    await this.#db.transaction().execute(async (trx) => {
      await trx.deleteFrom('api_routes').where('api_id', '=', api.id).execute();
      await trx.deleteFrom('api_scopes').where('api_id', '=', api.id).execute();
      await trx.deleteFrom('apis').where('id', '=', api.id).execute();
      await publishChange(trx, 'api', api.id, now);
    });
    this.#feed?.notifyLocal('api', api.id);
  }

  async #find(ref: string): Promise<ApiDefinition> {
    const all = await this.loadAll();
    const api = all.find((a) => a.id === ref || a.name === ref);
    if (!api) throw notFound('API', ref.replaceAll('\0', '?').slice(0, 200));
    return api;
  }

  async #apply(a: ApiDefinition, input: ApiInput): Promise<ApiDefinition> {
    const others = (await this.loadAll()).filter((o) => o.id !== a.id);
    if (input.name !== undefined) {
      const name = input.name.trim();
      if (!name || name.length > 100) throw validationError('name must be 1–100 characters', 'name');
      if (others.some((o) => o.name === name)) throw conflict(`an API named "${name}" already exists`, 'name');
      a.name = name;
    }
    if (input.basePath !== undefined) {
      const p = input.basePath;
      if (!BASE_PATH.test(p) || p.length > 200) {
        throw validationError(`base path "${p.slice(0, 200)}" must look like /segment/segment (letters, digits, - . _ ~; no trailing slash)`, 'base_path');
      }
      if (p.split('/').some((s) => s === '.' || s === '..')) throw validationError('base path must not contain . or .. segments', 'base_path');
      const reserved = RESERVED_PATHS.find((r) => within(p.toLowerCase(), r) || within(r, p.toLowerCase()));
      if (reserved) throw validationError(`base path "${p}" overlaps Tessera's own path ${reserved}`, 'base_path');
      const clash = others.find((o) => within(p, o.basePath) || within(o.basePath, p));
      if (clash) throw conflict(`base path "${p}" overlaps the API "${clash.name}" at ${clash.basePath}`, 'base_path');
      a.basePath = p;
    }
    if (input.upstream !== undefined) a.upstream = upstreamUrl(input.upstream);
    if (input.audience !== undefined) {
      const aud = input.audience?.trim() || null;
      if (aud !== null && aud.length > 500) throw validationError('audience is too long', 'audience');
      a.audience = aud;
    }
    if (input.timeoutMs !== undefined) {
      if (!Number.isInteger(input.timeoutMs) || input.timeoutMs < 100 || input.timeoutMs > 300_000) {
        throw validationError('timeout_ms must be from 100 to 300000', 'timeout_ms');
      }
      a.timeoutMs = input.timeoutMs;
    }
    if (input.scopes !== undefined) {
      const seen = new Set<string>();
      const taken = new Map(others.flatMap((o) => o.scopes.map((s) => [s.name, o.name] as const)));
      a.scopes = input.scopes.map((s) => {
        const name = s.name?.trim() ?? '';
        if (!isScopeToken(name)) throw validationError(`"${name.slice(0, 100)}" is not a valid scope name`, 'scopes');
        if (name in OPENID_SCOPES || name === ADMIN_SCOPE) throw validationError(`scope "${name}" is built in`, 'scopes');
        if (seen.has(name)) throw validationError(`scope "${name}" is listed twice`, 'scopes');
        if (taken.has(name)) throw conflict(`scope "${name}" is already declared by the API "${taken.get(name)}"`, 'scopes');
        seen.add(name);
        const description = (s.description ?? '').trim();
        if (description.length > 300) throw validationError(`the description of "${name}" is too long (300 at most)`, 'scopes');
        return { name, description: description || name };
      });
    }
    if (input.routes !== undefined) {
      a.routes = input.routes.map((r) => {
        const methods = [...new Set(r.methods.map((m) => m.trim().toUpperCase()))];
        if (!methods.length) throw validationError(`route ${r.path}: at least one method is required`, 'routes');
        for (const m of methods) {
          if (!(METHODS as readonly string[]).includes(m)) throw validationError(`route ${r.path}: method "${m.slice(0, 20)}" is not one of ${METHODS.join(', ')}`, 'routes');
        }
        try {
          compileTemplate(r.path);
        } catch (error) {
          if (error instanceof TemplateError) throw validationError(`route: ${error.message}`, 'routes');
          throw error;
        }
        if (!r.scopes.length) throw validationError(`route ${r.path}: at least one scope is required (deny by default)`, 'routes');
        return { methods, path: r.path, scopes: [...new Set(r.scopes)] };
      });
    }
    // Every route scope must be one this API declares.
    const declared = new Set(a.scopes.map((s) => s.name));
    for (const r of a.routes) {
      for (const s of r.scopes) if (!declared.has(s)) throw validationError(`route ${r.path} uses scope "${s}", which this API does not declare`, 'routes');
    }
    return a;
  }

  async #save(a: ApiDefinition, creating: boolean): Promise<void> {
    const now = epochSeconds(this.#clock);
    const row = { name: a.name, base_path: a.basePath, upstream: a.upstream, audience: a.audience, timeout_ms: a.timeoutMs, updated_at: a.updatedAt };
    try {
      await this.#db.transaction().execute(async (trx) => {
        if (creating) await trx.insertInto('apis').values({ id: a.id, ...row, created_at: a.createdAt }).execute();
        else await trx.updateTable('apis').set(row).where('id', '=', a.id).execute();
        await trx.deleteFrom('api_scopes').where('api_id', '=', a.id).execute();
        if (a.scopes.length) await trx.insertInto('api_scopes').values(a.scopes.map((s) => ({ name: s.name, api_id: a.id, description: s.description }))).execute();
        await trx.deleteFrom('api_routes').where('api_id', '=', a.id).execute();
        if (a.routes.length) {
          await trx
            .insertInto('api_routes')
            .values(a.routes.map((r, i) => ({ id: randomUUID(), api_id: a.id, position: i, methods: JSON.stringify(r.methods), path: r.path, scopes: JSON.stringify(r.scopes) })))
            .execute();
        }
        await publishChange(trx, 'api', a.id, now);
      });
    } catch (error) {
      // Two writers raced past the checks above; the unique indexes decided.
      const msg = String((error as Error).message);
      if (/unique|duplicate/i.test(msg)) throw conflict('another API with this name, base path or scope was saved at the same time', 'name');
      throw error;
    }
    this.#feed?.notifyLocal('api', a.id);
  }
}

function upstreamUrl(value: string): string {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw validationError(`upstream "${value.slice(0, 200)}" is not a URL`, 'upstream');
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw validationError('upstream must be an http or https URL', 'upstream');
  if (url.username || url.password) throw validationError('upstream must not contain credentials', 'upstream');
  if (url.search || url.hash) throw validationError('upstream must not have a query or fragment', 'upstream');
  return url.href.replace(/\/+$/, '');
}

function snake(field: string): string {
  return field.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);
}
