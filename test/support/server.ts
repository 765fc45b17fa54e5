import type { AddressInfo } from 'node:net';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { openTessera, type Tessera } from '../../src/app/tessera.ts';
import type { HostResolver } from '../../src/clients/redirect-uri-policy.ts';
import type { Clock } from '../../src/clock.ts';
import { loadConfig } from '../../src/config/config.ts';
import { buildHttpApp } from '../../src/http/app.ts';
import { createTestDatabase, type TestDialect } from './databases.ts';
import { recordingLogger } from './logger.ts';
import { SYSTEM } from '../../src/audit/actor.ts';
import { TesseraMetrics } from '../../src/observability/metrics.ts';
import type { Logger as Pino } from 'pino';

/** Every name resolves to a public documentation-free address: no real DNS in tests. */
export const publicResolver: HostResolver = async () => ['93.184.215.14'];

export interface TestServer {
  url: string;
  tessera: Tessera;
  app: FastifyInstance;
  databaseUrl: string;
  env: Record<string, string>;
  /** What the server's background work logged (unless `logger` was given). */
  log: ReturnType<typeof recordingLogger>;
  /** Present when started with `metrics: true`. */
  metrics: TesseraMetrics | undefined;
  close(): Promise<void>;
}

export interface TestServerOptions {
  env?: Record<string, string>;
  clock?: Clock;
  resolver?: HostResolver;
  /** Reuse a database (e.g. a second node on the same PostgreSQL). */
  databaseUrl?: string;
  /** Collect metrics (served at /metrics when the env sets TESSERA_METRICS_TOKEN). */
  metrics?: boolean;
  /** A pino logger for Fastify and the background work, as `serve` has (default: none for requests). */
  logger?: Pino;
}

/** Tessera in-process on 127.0.0.1 with port 0 and its own fresh database. */
export async function startTestServer(dialect: TestDialect, options: TestServerOptions = {}): Promise<TestServer> {
  const database = options.databaseUrl ? undefined : await createTestDatabase(dialect);
  const databaseUrl = options.databaseUrl ?? database!.url;
  const env: Record<string, string> = {
    TESSERA_DATABASE_URL: databaseUrl,
    TESSERA_KEY_ENCRYPTION_KEY_FILE: join(mkdtempSync(join(tmpdir(), 'tessera-kek-')), 'kek'),
    TESSERA_CHANGE_POLL_MS: '100',
    ...options.env,
  };
  const config = loadConfig(env, { port: 0 });
  const log = recordingLogger();
  const metrics = options.metrics ? new TesseraMetrics() : undefined;
  const tessera = await openTessera(config, { clock: options.clock, resolver: options.resolver ?? publicResolver, log: options.logger ?? log, metrics });
  // As `tessera serve` does: TESSERA_REDIRECT_URI_POLICY becomes the saved setting.
  await tessera.applyEnvironmentSettings();
  await tessera.startBackground();
  const app = buildHttpApp(tessera, { metrics, ...(options.logger ? { loggerInstance: options.logger } : {}) });
  await app.listen({ port: 0, host: '127.0.0.1' });
  const url = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;
  if (!config.server.issuer) tessera.setIssuer(url);
  await tessera.ensureConsoleClient();
  return {
    url,
    tessera,
    app,
    databaseUrl,
    env,
    log,
    metrics,
    close: async () => {
      await app.close();
      await tessera.close();
      await database?.drop();
    },
  };
}

export function basic(id: string, secret: string): string {
  return `Basic ${Buffer.from(`${encodeURIComponent(id)}:${encodeURIComponent(secret)}`).toString('base64')}`;
}

export async function postForm(url: string, form: Record<string, string>, headers: Record<string, string> = {}): Promise<Response> {
  return fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers },
    body: new URLSearchParams(form).toString(),
  });
}

/** Declares scopes on an API (apps may only be given scopes that exist). */
export async function declareScopes(tessera: Tessera, names: string[], basePath = `/test-${Math.random().toString(36).slice(2, 10)}`): Promise<void> {
  await tessera.services.apis.create({
    name: `Test API ${basePath}`,
    basePath,
    upstream: 'http://127.0.0.1:9/',
    scopes: names.map((name) => ({ name, description: `Test scope ${name}` })),
  }, SYSTEM);
}
