import { randomUUID } from 'node:crypto';
import { changedFields } from '../audit/actions.ts';
import type { Actor } from '../audit/actor.ts';
import type { AuditLog } from '../audit/audit-log.ts';
import { epochSeconds, type Clock } from '../clock.ts';
import { inRange, LIMITS } from '../config/limits.ts';
import { conflict, notFound, validationError } from '../errors.ts';
import { ADMIN_SCOPE, isScopeToken, OPENID_SCOPES } from '../lib/scope-names.ts';
import { iso } from '../lib/time.ts';
import type { ChangeFeed } from '../storage/change-feed.ts';
import { checkTranslations } from '../i18n/translations.ts';
import { UPSTREAM_TOKEN_MODES, type ApiDefinition, type ApiStore, type ScopeText, type UpstreamToken } from './api-store.ts';
import { compileTemplate, TemplateError } from './route-template.ts';

export type { ApiDefinition, UpstreamToken } from './api-store.ts';

export interface ApiView {
  id: string;
  name: string;
  base_path: string;
  upstream: string;
  audience: string | null;
  timeout_ms: number;
  /** Whether the client's Authorization header reaches the upstream (`upstream_token` is `forward`). */
  forward_authorization: boolean;
  /** forward: the client's token; exchange: a token minted for `upstream_audience`; none. */
  upstream_token: UpstreamToken;
  upstream_audience: string | null;
  max_body_bytes: number | null;
  /** `description_translations`: language → the description on pages in that language. */
  scopes: Array<{ name: string; description: string; description_translations: Record<string, string> }>;
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
  /** true: `upstreamToken` forward; false: none (the setting before token exchange). */
  forwardAuthorization?: boolean;
  upstreamToken?: string;
  /** null or "": the upstream URL. */
  upstreamAudience?: string | null;
  /** null removes the limit. */
  maxBodyBytes?: number | null;
  /** `descriptionTranslations`: language → text; replaces the scope's translations (absent: none). */
  scopes?: Array<{ name: string; description?: string; descriptionTranslations?: Readonly<Record<string, string>> | null }>;
  routes?: Array<{ methods: string[]; path: string; scopes: string[] }>;
}

export const METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'] as const;

/** Tessera's own paths: an API may not sit on or under them. */
export const RESERVED_PATHS = ['/connect', '/.well-known', '/login', '/consent', '/logout', '/health', '/admin', '/assets', '/favicon.ico'];

/** The longest scope description, in any language. */
const SCOPE_DESCRIPTION_MAX = 300;

const BASE_PATH = /^(\/[A-Za-z0-9\-._~]+)+$/;

export function apiView(a: ApiDefinition): ApiView {
  return {
    id: a.id,
    name: a.name,
    base_path: a.basePath,
    upstream: a.upstream,
    audience: a.audience,
    timeout_ms: a.timeoutMs,
    forward_authorization: a.upstreamToken === 'forward',
    upstream_token: a.upstreamToken,
    upstream_audience: a.upstreamAudience,
    max_body_bytes: a.maxBodyBytes,
    scopes: a.scopes.map((s) => ({ name: s.name, description: s.description, description_translations: { ...s.descriptionTranslations } })),
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
export interface ApiServiceDeps {
  store: ApiStore;
  clock: Clock;
  feed: ChangeFeed;
  audit: AuditLog;
}

export class ApiService {
  readonly #d: ApiServiceDeps;

  constructor(deps: ApiServiceDeps) {
    this.#d = deps;
  }

  loadAll(): Promise<ApiDefinition[]> {
    return this.#d.store.loadAll();
  }

  async list(): Promise<ApiView[]> {
    return (await this.loadAll()).map(apiView);
  }

  async show(ref: string): Promise<ApiView> {
    return apiView(await this.#find(ref));
  }

  /** Every scope some API declares, with its description (app registration, the consent page). */
  async declaredScopes(names?: string[]): Promise<Map<string, string>> {
    return new Map([...(await this.#d.store.scopeDescriptions(names))].map(([name, s]) => [name, s.description]));
  }

  /** The descriptions of these declared scopes with their translations (the pages pick the reader's language). */
  scopeTexts(names: string[]): Promise<Map<string, ScopeText>> {
    return this.#d.store.scopeDescriptions(names);
  }

  async create(input: ApiInput, actor: Actor): Promise<ApiView> {
    const now = epochSeconds(this.#d.clock);
    for (const field of ['name', 'basePath', 'upstream'] as const) {
      if (input[field] === undefined) throw validationError(`${snake(field)} is required`, snake(field));
    }
    const draft: ApiDefinition = { id: randomUUID(), name: '', basePath: '', upstream: '', audience: null, timeoutMs: 30_000, upstreamToken: 'forward', upstreamAudience: null, maxBodyBytes: null, scopes: [], routes: [], createdAt: now, updatedAt: now };
    const api = await this.#apply(draft, input);
    await this.#save(api, true);
    await this.#d.audit.record({ action: 'api.create', targetId: api.id, details: { name: api.name, base_path: api.basePath, upstream: api.upstream } }, actor);
    return apiView(api);
  }

  async update(ref: string, input: ApiInput, actor: Actor): Promise<ApiView> {
    const current = await this.#find(ref);
    const next = await this.#apply({ ...current, scopes: [...current.scopes], routes: [...current.routes] }, input);
    next.updatedAt = Math.max(epochSeconds(this.#d.clock), current.updatedAt);
    await this.#save(next, false);
    await this.#d.audit.record({ action: 'api.update', targetId: next.id, details: { fields: changedFields(input) } }, actor);
    return apiView(next);
  }

  /** Apps keep scopes of a deleted API in their registration; tokens simply stop opening anything. */
  async delete(ref: string, actor: Actor): Promise<void> {
    const api = await this.#find(ref);
    await this.#d.store.delete(api.id, epochSeconds(this.#d.clock));
    this.#d.feed.notifyLocal('api', api.id);
    await this.#d.audit.record({ action: 'api.delete', targetId: api.id, details: { name: api.name } }, actor);
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
      if (!inRange(input.timeoutMs, LIMITS.apiTimeoutMs)) {
        throw validationError(`timeout_ms must be from ${LIMITS.apiTimeoutMs.min} to ${LIMITS.apiTimeoutMs.max}`, 'timeout_ms');
      }
      a.timeoutMs = input.timeoutMs;
    }
    if (input.forwardAuthorization !== undefined && input.upstreamToken !== undefined) {
      throw validationError('send upstream_token or forward_authorization, not both', 'upstream_token');
    }
    if (input.forwardAuthorization !== undefined) a.upstreamToken = input.forwardAuthorization ? 'forward' : 'none';
    if (input.upstreamToken !== undefined) {
      if (!(UPSTREAM_TOKEN_MODES as readonly string[]).includes(input.upstreamToken)) {
        throw validationError(`upstream_token must be one of ${UPSTREAM_TOKEN_MODES.join(', ')}`, 'upstream_token');
      }
      a.upstreamToken = input.upstreamToken as UpstreamToken;
    }
    if (input.upstreamAudience !== undefined) {
      const aud = input.upstreamAudience?.trim() || null;
      if (aud !== null && (aud.length > 500 || /\s/.test(aud))) throw validationError('upstream_audience must be one value of at most 500 characters, without spaces', 'upstream_audience');
      a.upstreamAudience = aud;
    }
    if (input.maxBodyBytes !== undefined) {
      if (input.maxBodyBytes !== null && !inRange(input.maxBodyBytes, LIMITS.apiMaxBodyBytes)) {
        throw validationError(`max_body_bytes must be from ${LIMITS.apiMaxBodyBytes.min} to ${LIMITS.apiMaxBodyBytes.max}, or null for no limit`, 'max_body_bytes');
      }
      a.maxBodyBytes = input.maxBodyBytes;
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
        if (description.length > SCOPE_DESCRIPTION_MAX) throw validationError(`the description of "${name}" is too long (${SCOPE_DESCRIPTION_MAX} at most)`, 'scopes');
        const descriptionTranslations = checkTranslations(s.descriptionTranslations ?? null, 'scopes', SCOPE_DESCRIPTION_MAX, `the description_translations of "${name}"`);
        return { name, description: description || name, descriptionTranslations };
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
    try {
      await this.#d.store.save(a, creating, epochSeconds(this.#d.clock));
    } catch (error) {
      // Two writers raced past the checks above; the unique indexes decided.
      const msg = String((error as Error).message);
      if (/unique|duplicate/i.test(msg)) throw conflict('another API with this name, base path or scope was saved at the same time', 'name');
      throw error;
    }
    this.#d.feed.notifyLocal('api', a.id);
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
