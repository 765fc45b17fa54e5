import type { Actor } from '../audit/actor.ts';
import type { AuditLog } from '../audit/audit-log.ts';
import { epochSeconds, type Clock } from '../clock.ts';
import { validationError } from '../errors.ts';
import type { ChangeFeed } from '../storage/change-feed.ts';
import type { SettingsStore } from './settings-store.ts';

/**
 * Settings an operator may change while Tessera runs (admin API, console). The environment
 * gives the defaults; a value saved here wins over it, on every node (the change feed
 * carries the change). Consumers hold the one `RuntimeSettings` object and read it per use,
 * so a change applies to the next request without a restart.
 */
export interface RuntimeSettings {
  accessTokenTtl: number;
  refreshTokenTtl: number;
  codeTtl: number;
  idTokenTtl: number;
  sessionTtl: number;
  redirectUriPolicy: 'strict' | 'development';
}

export interface SettingsView {
  access_token_ttl: number;
  refresh_token_ttl: number;
  code_ttl: number;
  id_token_ttl: number;
  session_ttl: number;
  redirect_uri_policy: 'strict' | 'development';
}

type Field = keyof SettingsView;

/** Allowed ranges: the same as the environment variables' (src/config/config.ts). */
const RANGES: Record<Exclude<Field, 'redirect_uri_policy'>, { key: keyof RuntimeSettings; min: number; max: number }> = {
  access_token_ttl: { key: 'accessTokenTtl', min: 60, max: 7 * 86_400 },
  refresh_token_ttl: { key: 'refreshTokenTtl', min: 60, max: 365 * 86_400 },
  code_ttl: { key: 'codeTtl', min: 10, max: 3600 },
  id_token_ttl: { key: 'idTokenTtl', min: 60, max: 86_400 },
  session_ttl: { key: 'sessionTtl', min: 60, max: 30 * 86_400 },
};

export interface SettingsServiceDeps {
  store: SettingsStore;
  clock: Clock;
  defaults: RuntimeSettings;
  feed: ChangeFeed;
  audit: AuditLog;
}

export class SettingsService {
  readonly #d: SettingsServiceDeps;
  readonly #defaults: Readonly<RuntimeSettings>;
  /** The live object every consumer reads. */
  readonly live: RuntimeSettings;

  constructor(deps: SettingsServiceDeps) {
    this.#d = deps;
    this.#defaults = { ...deps.defaults };
    this.live = { ...deps.defaults };
  }

  /** Reads saved values over the defaults (at start, and when another node changed them). */
  async load(): Promise<void> {
    const rows = await this.#d.store.all();
    const next: RuntimeSettings = { ...this.#defaults };
    for (const row of rows) {
      try {
        applyField(next, row.key as Field, JSON.parse(row.value));
      } catch {
        // A value no longer valid (e.g. a range narrowed in an upgrade) falls back to the default.
      }
    }
    Object.assign(this.live, next);
  }

  view(): SettingsView {
    const s = this.live;
    return {
      access_token_ttl: s.accessTokenTtl,
      refresh_token_ttl: s.refreshTokenTtl,
      code_ttl: s.codeTtl,
      id_token_ttl: s.idTokenTtl,
      session_ttl: s.sessionTtl,
      redirect_uri_policy: s.redirectUriPolicy,
    };
  }

  /** Validates every field first, then saves them all; nothing changes when one is invalid. */
  async update(input: Partial<Record<string, unknown>>, actor: Actor): Promise<SettingsView> {
    const next: RuntimeSettings = { ...this.live };
    const changed: Partial<Record<Field, unknown>> = {};
    for (const [field, value] of Object.entries(input)) {
      if (value === undefined) continue;
      applyField(next, field as Field, value);
      changed[field as Field] = value;
    }
    const fields = Object.keys(changed) as Field[];
    if (fields.length) {
      await this.#d.store.save(fields.map((key) => ({ key, value: JSON.stringify(changed[key]) })), epochSeconds(this.#d.clock));
      Object.assign(this.live, next);
      this.#d.feed.notifyLocal('settings', fields.join(','));
    }
    await this.#d.audit.record({ action: 'settings.update', targetId: null, details: { changed } }, actor);
    return this.view();
  }
}

function applyField(target: RuntimeSettings, field: Field, value: unknown): void {
  if (field === 'redirect_uri_policy') {
    if (value !== 'strict' && value !== 'development') throw validationError('redirect_uri_policy must be "strict" or "development"', field);
    target.redirectUriPolicy = value;
    return;
  }
  const range = RANGES[field];
  if (!range) throw validationError(`unknown setting "${String(field).slice(0, 64)}"`, String(field).slice(0, 64));
  if (typeof value !== 'number' || !Number.isInteger(value) || value < range.min || value > range.max) {
    throw validationError(`${field} must be a whole number of seconds from ${range.min} to ${range.max}`, field);
  }
  (target[range.key] as number) = value;
}
