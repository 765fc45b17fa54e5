import { join } from 'node:path';
import { createPostgresDatabase } from '../../test/support/databases.ts';
import { startChild, type Child } from './child.ts';
import { oidcProviderSignIn, tesseraSignIn, type OAuthServer } from './flows.ts';
import { PASSWORD, POSTGRES_ADMIN_URL, provisionTessera, REDIRECT_URI, ROOT, startTessera, USERNAME, type Dialect, type TesseraSetup } from './tessera.ts';

export type TesseraId = 'tessera-sqlite' | 'tessera-sqlite-full' | 'tessera-postgres' | 'tessera-sqlite-2w' | 'tessera-baseline' | 'tessera-baseline-postgres';

export interface Running extends OAuthServer {
  child: Child;
  /** PostgreSQL rows: the database's name, whose backends' CPU time the bench reads. */
  databaseName?: string;
  /** The sign-in session's Cookie header, made once. */
  session(): Promise<string>;
}

export interface LabOptions {
  postgres: boolean;
  /** Why there are no PostgreSQL rows, when there are none. */
  noPostgresReason?: string;
  workers: boolean;
  /** When set, every Tessera child runs with `--cpu-prof` into this directory. */
  cpuProfDir?: string;
  /** Another checkout (with its dependencies installed) served as `tessera-baseline` on SQLite (and `tessera-baseline-postgres`). */
  baselineRoot?: string;
}

const node = process.execPath;
const server = (file: string) => join(ROOT, 'bench', 'servers', file);

/**
 * Every contender, started on first use in its own process and kept until close(), so
 * rounds can alternate between them without restarts.
 */
export class Lab {
  readonly options: LabOptions;
  private readonly children = new Map<string, Promise<unknown>>();
  private readonly setups: Array<Pick<TesseraSetup, 'drop'>> = [];
  private readonly all: Child[] = [];

  constructor(options: LabOptions) {
    this.options = options;
  }

  private once<T>(key: string, start: () => Promise<T>): Promise<T> {
    let p = this.children.get(key) as Promise<T> | undefined;
    if (!p) this.children.set(key, (p = start()));
    return p;
  }

  private track(child: Child): Child {
    this.all.push(child);
    return child;
  }

  upstream(): Promise<Child> {
    return this.once('upstream', async () => this.track(await startChild('upstream', node, [server('upstream.ts')])));
  }

  floor(kind: 'json' | 'es256', workers = 1): Promise<Child> {
    const id = workers > 1 ? `fastify-${kind}-${workers}w` : `fastify-${kind}`;
    return this.once(id, async () => this.track(await startChild(id, node, [server(`floor-${kind}.ts`)], workers > 1 ? { env: { BENCH_WORKERS: String(workers) } } : {})));
  }

  /** A bare node:http reverse proxy to the upstream (the gateway's floor). */
  proxyFloor(): Promise<Child> {
    return this.once('floor-proxy', async () => {
      const upstream = await this.upstream();
      return this.track(await startChild('proxy-floor', node, [server('floor-proxy.ts')], { env: { BENCH_UPSTREAM: upstream.url } }));
    });
  }

  /** A Tessera on a fresh, CLI-provisioned database. `fresh` gives one not shared with other scenarios. */
  tessera(id: TesseraId, fresh = false): Promise<Running> {
    const start = async () => {
      const dialect: Dialect = id.endsWith('postgres') ? 'postgres' : 'sqlite';
      const upstream = await this.upstream();
      const root = id.startsWith('tessera-baseline') ? this.options.baselineRoot : undefined;
      const setup = await provisionTessera(dialect, upstream.url, root);
      this.setups.push(setup);
      // Every commit synced to disk before its answer (docs/configuration.md): the durability cost, group commit included.
      if (id === 'tessera-sqlite-full') setup.env.TESSERA_SQLITE_SYNCHRONOUS = 'full';
      const child = this.track(
        await startTessera(id, setup, { workers: id === 'tessera-sqlite-2w' ? 2 : 1, ...(this.options.cpuProfDir ? { cpuProfDir: this.options.cpuProfDir } : {}) }),
      );
      let cookie: Promise<string> | undefined;
      const running: Running = {
        id,
        url: child.url,
        child,
        ...(dialect === 'postgres' ? { databaseName: new URL(setup.databaseUrl).pathname.slice(1) } : {}),
        tokenPath: '/connect/token',
        introspectPath: '/connect/introspect',
        authorizePath: '/connect/authorize',
        redirectUri: REDIRECT_URI,
        service: setup.service,
        serviceScope: 'bench.read',
        web: setup.web,
        webScope: 'openid offline_access',
        signIn: () => tesseraSignIn(running, USERNAME, PASSWORD),
        session: () => (cookie ??= running.signIn()),
      };
      return running;
    };
    return fresh ? start() : this.once(id, start);
  }

  /** node-oidc-provider in memory (`oidc-provider`) or persisting to PostgreSQL (`oidc-provider-postgres`). */
  oidcProvider(store: 'memory' | 'postgres' = 'memory'): Promise<Running> {
    const id = store === 'memory' ? 'oidc-provider' : 'oidc-provider-postgres';
    return this.once(id, async () => {
      const client = { id: 'bench-client', secret: 'bench-secret-0123456789abcdef0123456789abcdef' };
      let databaseUrl: string | undefined;
      let databaseName: string | undefined;
      if (store === 'postgres') {
        const db = await createPostgresDatabase(POSTGRES_ADMIN_URL, 'tessera_bench_oidc');
        this.setups.push(db);
        databaseUrl = db.url;
        databaseName = new URL(db.url).pathname.slice(1);
      }
      const child = this.track(
        await startChild(id, node, [server('oidc-provider.ts')], {
          env: { BENCH_CLIENT_ID: client.id, BENCH_CLIENT_SECRET: client.secret, BENCH_REDIRECT_URI: REDIRECT_URI, ...(databaseUrl ? { BENCH_DATABASE_URL: databaseUrl } : {}) },
        }),
      );
      let cookie: Promise<string> | undefined;
      const running: Running = {
        id,
        ...(databaseName ? { databaseName } : {}),
        url: child.url,
        child,
        tokenPath: '/token',
        introspectPath: '/token/introspection',
        authorizePath: '/auth',
        redirectUri: REDIRECT_URI,
        service: client,
        serviceScope: 'api:read',
        web: client,
        webScope: 'openid offline_access api:read',
        introspectableTokenParams: { resource: 'urn:tessera-bench:opaque' },
        signIn: () => oidcProviderSignIn(running, USERNAME),
        session: () => (cookie ??= running.signIn()),
      };
      return running;
    });
  }

  /** Stops every child (Tessera writes its CPU profile now) and drops the databases. */
  async close(): Promise<void> {
    await Promise.allSettled(this.all.map((c) => c.stop()));
    await Promise.allSettled(this.setups.map((s) => s.drop()));
  }
}
