import type { Kysely, Migration, MigrationProvider } from 'kysely';
import * as m0001 from './0001-initial.ts';
import * as m0002 from './0002-interactive-sign-in.ts';
import * as m0003 from './0003-code-replay-marker.ts';
import * as m0004 from './0004-identity-providers.ts';
import * as m0005 from './0005-api-forwarding-limits.ts';
import * as m0006 from './0006-client-secret-grace.ts';
import * as m0007 from './0007-guess-throttle.ts';
import * as m0008 from './0008-cleanup-indexes.ts';
import * as m0009 from './0009-second-factors.ts';
import * as m0010 from './0010-webauthn.ts';
import * as m0011 from './0011-email-links.ts';
import * as m0014 from './0014-branding.ts';
import * as m0015 from './0015-resource-indicators.ts';
import * as m0017 from './0017-device-authorizations.ts';
import * as m0018 from './0018-client-registration.ts';
import * as m0019 from './0019-user-locale.ts';
import * as m0020 from './0020-translations.ts';
import * as m0021 from './0021-private-key-jwt-and-par.ts';
import * as m0022 from './0022-dpop.ts';
import * as m0023 from './0023-token-exchange.ts';
import * as m0024 from './0024-email-outbox.ts';
import * as m0025 from './0025-destroy-retired-private-keys.ts';
import * as m0026 from './0026-refresh-token-generations.ts';
import type { MigrationContext } from './context.ts';

interface MigrationModule {
  up(db: Kysely<any>, ctx: MigrationContext): Promise<void>;
  down?(db: Kysely<any>, ctx: MigrationContext): Promise<void>;
}

/** Migrations in order. A schema change is a new file here, never an edit of an old one. */
const MIGRATIONS: Record<string, MigrationModule> = {
  '0001-initial': m0001,
  '0002-interactive-sign-in': m0002,
  '0003-code-replay-marker': m0003,
  '0004-identity-providers': m0004,
  '0005-api-forwarding-limits': m0005,
  '0006-client-secret-grace': m0006,
  '0007-guess-throttle': m0007,
  '0008-cleanup-indexes': m0008,
  '0009-second-factors': m0009,
  '0010-webauthn': m0010,
  '0011-email-links': m0011,
  '0014-branding': m0014,
  '0015-resource-indicators': m0015,
  '0017-device-authorizations': m0017,
  '0018-client-registration': m0018,
  '0019-user-locale': m0019,
  '0020-translations': m0020,
  '0021-private-key-jwt-and-par': m0021,
  '0022-dpop': m0022,
  '0023-token-exchange': m0023,
  '0024-email-outbox': m0024,
  '0025-destroy-retired-private-keys': m0025,
  '0026-refresh-token-generations': m0026,
};

/** Every migration this code knows, in order. */
export const MIGRATION_NAMES: readonly string[] = Object.keys(MIGRATIONS);

export class StaticMigrationProvider implements MigrationProvider {
  readonly #ctx: MigrationContext;
  constructor(ctx: MigrationContext) {
    this.#ctx = ctx;
  }
  async getMigrations(): Promise<Record<string, Migration>> {
    const out: Record<string, Migration> = {};
    for (const [name, mod] of Object.entries(MIGRATIONS)) {
      const ctx = this.#ctx;
      out[name] = {
        up: (db) => mod.up(db, ctx),
        ...(mod.down ? { down: (db: Kysely<any>) => mod.down!(db, ctx) } : {}),
      };
    }
    return out;
  }
}
