import { randomUUID } from 'node:crypto';
import type { Kysely } from 'kysely';
import { parseTranslations } from '../i18n/translations.ts';
import { publishChange } from '../storage/change-feed.ts';
import type { Database } from '../storage/schema.ts';

/** An API behind the gateway: where it lives, where it forwards, and which scopes open what. */
export interface ApiDefinition {
  id: string;
  name: string;
  basePath: string;
  upstream: string;
  audience: string | null;
  timeoutMs: number;
  /**
   * What the upstream gets in `Authorization` (default `forward`): the client's header as it
   * came, nothing, or a short-lived token the gateway mints for `upstreamAudience` (RFC 8693
   * token exchange), so no client token passes through.
   */
  upstreamToken: UpstreamToken;
  /** The `aud` of the token minted for the upstream (`exchange`); null: the upstream URL. */
  upstreamAudience: string | null;
  /** The largest request body in bytes (413 above it); null: no limit. */
  maxBodyBytes: number | null;
  scopes: ApiScope[];
  routes: Array<{ methods: string[]; path: string; scopes: string[] }>;
  createdAt: number;
  updatedAt: number;
}

/** A scope an API declares: its description as people read it, with its translations (docs/languages.md). */
export interface ApiScope {
  name: string;
  description: string;
  /** Language → the description in that language; `{}` for none. */
  descriptionTranslations: Readonly<Record<string, string>>;
}

/** A scope's words for a page: the description and its translations. */
export type ScopeText = Omit<ApiScope, 'name'>;

export const UPSTREAM_TOKEN_MODES = ['forward', 'exchange', 'none'] as const;
export type UpstreamToken = (typeof UPSTREAM_TOKEN_MODES)[number];

function upstreamTokenOf(row: { upstream_token?: string; forward_authorization: number }): UpstreamToken {
  const mode = row.upstream_token;
  if (mode === 'exchange' || mode === 'none' || mode === 'forward') return mode;
  return Number(row.forward_authorization) === 1 ? 'forward' : 'none';
}

/** API definitions with their scopes and routes. Writes announce the change to every node. */
export interface ApiStore {
  loadAll(): Promise<ApiDefinition[]>;
  /** Every declared scope → its description and translations; only `names` when given. */
  scopeDescriptions(names?: string[]): Promise<Map<string, ScopeText>>;
  /** Inserts (`creating`) or replaces an API with its scopes and routes, in one transaction. */
  save(api: ApiDefinition, creating: boolean, now: number): Promise<void>;
  delete(id: string, now: number): Promise<void>;
}

export class KyselyApiStore implements ApiStore {
  readonly #db: Kysely<Database>;
  constructor(db: Kysely<Database>) {
    this.#db = db;
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
      upstreamToken: upstreamTokenOf(a),
      upstreamAudience: a.upstream_audience ?? null,
      maxBodyBytes: a.max_body_bytes === null ? null : Number(a.max_body_bytes),
      scopes: scopes.filter((s) => s.api_id === a.id).map((s) => ({ name: s.name, description: s.description, descriptionTranslations: parseTranslations(s.description_translations) })),
      routes: routes
        .filter((r) => r.api_id === a.id)
        .map((r) => ({ methods: JSON.parse(r.methods) as string[], path: r.path, scopes: JSON.parse(r.scopes) as string[] })),
      createdAt: Number(a.created_at),
      updatedAt: Number(a.updated_at),
    }));
  }

  async scopeDescriptions(names?: string[]): Promise<Map<string, ScopeText>> {
    if (names && !names.length) return new Map();
    let q = this.#db.selectFrom('api_scopes').select(['name', 'description', 'description_translations']);
    if (names) q = q.where('name', 'in', names);
    const rows = await q.execute();
    return new Map(rows.map((r) => [r.name, { description: r.description, descriptionTranslations: parseTranslations(r.description_translations) }]));
  }

  async save(a: ApiDefinition, creating: boolean, now: number): Promise<void> {
    const row = { name: a.name, base_path: a.basePath, upstream: a.upstream, audience: a.audience, timeout_ms: a.timeoutMs, forward_authorization: a.upstreamToken === 'forward' ? 1 : 0, upstream_token: a.upstreamToken, upstream_audience: a.upstreamAudience, max_body_bytes: a.maxBodyBytes, updated_at: a.updatedAt };
    await this.#db.transaction().execute(async (trx) => {
      if (creating) await trx.insertInto('apis').values({ id: a.id, ...row, created_at: a.createdAt }).execute();
      else await trx.updateTable('apis').set(row).where('id', '=', a.id).execute();
      await trx.deleteFrom('api_scopes').where('api_id', '=', a.id).execute();
      if (a.scopes.length) await trx.insertInto('api_scopes').values(a.scopes.map((s) => ({ name: s.name, api_id: a.id, description: s.description, description_translations: JSON.stringify(s.descriptionTranslations) }))).execute();
      await trx.deleteFrom('api_routes').where('api_id', '=', a.id).execute();
      if (a.routes.length) {
        await trx
          .insertInto('api_routes')
          .values(a.routes.map((r, i) => ({ id: randomUUID(), api_id: a.id, position: i, methods: JSON.stringify(r.methods), path: r.path, scopes: JSON.stringify(r.scopes) })))
          .execute();
      }
      await publishChange(trx, 'api', a.id, now);
    });
  }

  async delete(id: string, now: number): Promise<void> {
    await this.#db.transaction().execute(async (trx) => {
      await trx.deleteFrom('api_routes').where('api_id', '=', id).execute();
      await trx.deleteFrom('api_scopes').where('api_id', '=', id).execute();
      await trx.deleteFrom('apis').where('id', '=', id).execute();
      await publishChange(trx, 'api', id, now);
    });
  }
}
