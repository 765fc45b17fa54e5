import cluster from 'node:cluster';
import { createServer, type AddressInfo } from 'node:net';
import { Command } from 'commander';
import { openTessera, type Tessera } from '../../app/tessera.ts';
import type { TesseraConfig } from '../../config/config.ts';
import { buildHttpApp } from '../../http/app.ts';
import { listenForMetrics } from '../../http/metrics-endpoint.ts';
import { lowerThreadpoolPriority } from '../../lib/threadpool-priority.ts';
import { createLogger } from '../../observability/logging.ts';
import { answerClusterPrimary, clusterRender, metricsEnabled, renderOf, TesseraMetrics } from '../../observability/metrics.ts';
import { configFrom, withCommon, type GlobalOptions } from '../context.ts';
import { listenError } from '../listen-error.ts';

interface ServeFlags extends GlobalOptions {
  port?: string;
  host?: string;
  issuer?: string;
  workers?: string;
}

/** What a worker tells the primary once it listens. */
interface ListeningMessage {
  type: 'tessera:listening';
  url: string;
}

export function serveCommand(): Command {
  return withCommon(new Command('serve').description('run the server (migrates the database first)'))
    .option('--port <n>', 'port to listen on; 0 picks a free one (env TESSERA_PORT, default 8080)')
    .option('--host <addr>', 'address to listen on (env TESSERA_HOST, default 127.0.0.1)')
    .option('--issuer <url>', 'public base URL (env TESSERA_ISSUER; default: the URL it listens on)')
    .option('--workers <n>', 'processes sharing the port: a number, or "auto" for one per CPU (env TESSERA_WORKERS, default 1)')
    .action(async (f: ServeFlags) => {
      const config = configFrom(f, { port: f.port, host: f.host, issuer: f.issuer, workers: f.workers });
      if (cluster.isWorker) return runWorker(config);
      if (config.server.workers === 1) return runSingle(config);
      return runPrimary(config, config.server.workers);
    });
}

/** Fails like the server would if it cannot listen there (the cluster primary checks before forking workers). */
async function checkListen(config: TesseraConfig): Promise<void> {
  if (config.server.port === 0) return;
  const probe = createServer();
  await new Promise<void>((resolve, reject) => {
    probe.once('error', (error) => reject(listenError(config.server, error)));
    probe.listen({ port: config.server.port, host: config.server.host }, () => probe.close(() => resolve()));
  });
}

/** Opens Tessera and its HTTP app and listens; answers the URL it listens on. */
async function listen(config: TesseraConfig, warn: (m: string) => void, applyEnvironment: boolean) {
  const log = createLogger(config.logLevel);
  // Collected only when something may read them (docs/observability.md).
  const metrics = metricsEnabled(config) ? new TesseraMetrics() : undefined;
  const tessera = await openTessera(config, { warn, log, metrics });
  // Once per deployment start (the primary does it for its workers), before serving.
  if (applyEnvironment) await tessera.applyEnvironmentSettings();
  await tessera.startBackground();
  const app = buildHttpApp(tessera, { loggerInstance: log, metrics });
  await app.ready();
  // Each serving process lowers its own threadpool (src/lib/threadpool-priority.ts).
  const threadpool = await lowerThreadpoolPriority(config.threadpoolNice);
  if (threadpool.warning) log.warn({}, threadpool.warning);
  // Listening on app.server directly keeps Fastify from logging before our first line.
  try {
    await new Promise<void>((resolve, reject) => {
      app.server.once('error', reject);
      app.server.listen({ port: config.server.port, host: config.server.host }, () => resolve());
    });
  } catch (error) {
    await app.close();
    await tessera.close();
    throw listenError(config.server, error);
  }
  const url = urlOf(app.server.address() as AddressInfo);
  if (!config.server.issuer) tessera.setIssuer(url);
  // Its own listener in a single process; under --workers the primary serves their sum.
  const { listen: metricsAddress, token } = config.metrics;
  let metricsServer: Awaited<ReturnType<typeof listenForMetrics>> | undefined;
  if (metrics && metricsAddress) {
    if (cluster.isWorker) answerClusterPrimary(metrics);
    else {
      try {
        metricsServer = await listenForMetrics(renderOf(metrics), metricsAddress, token);
      } catch (error) {
        await app.close();
        await tessera.close();
        throw error;
      }
    }
  }
  const stop = async () => {
    // Stop accepting, let in-flight requests finish, then release the database. A keep-alive
    // connection whose request finishes during the drain would otherwise stay open until its
    // keep-alive timeout (72 s in Fastify) and hold the exit back: close each as it goes idle.
    await metricsServer?.close();
    const closing = app.close();
    const sweep = setInterval(() => app.server.closeIdleConnections(), 100);
    try {
      await closing;
    } finally {
      clearInterval(sweep);
    }
    await tessera.close();
    log.info('stopped');
  };
  return { tessera, app, url, stop, metricsUrl: metricsServer?.url };
}

function urlOf(address: AddressInfo): string {
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  return `http://${host}:${address.port}`;
}

/** First-start work done once per deployment, not per worker. */
async function announce(tessera: Tessera, url: string, config: TesseraConfig, workers: number, warnings: string[], metricsUrl: string | undefined): Promise<void> {
  await tessera.ensureConsoleClient();
  const admin = await tessera.bootstrapAdmin(config.adminPassword);
  const plural = workers > 1 ? `, ${workers} workers` : '';
  process.stdout.write(`Tessera listening on ${url} (issuer ${tessera.issuer}, database ${tessera.database.displayUrl}${plural})\n`);
  if (admin) {
    process.stdout.write(
      admin.generated
        ? `Created the first user "admin" with password ${admin.password} (shown only now). Sign in at ${tessera.issuer}/admin/\n`
        : `Created the first user "admin" with the password from TESSERA_ADMIN_PASSWORD. Sign in at ${tessera.issuer}/admin/\n`,
    );
  }
  if (metricsUrl) process.stdout.write(`Metrics at ${metricsUrl}${config.metrics.token ? ' (bearer token required)' : ''}\n`);
  for (const w of warnings) process.stderr.write(`tessera: warning: ${w}\n`);
}

/** Exits 0 once `stopped` settles, or 1 with the reason on stderr: a failed shutdown is not silent. */
function exitAfter(stopped: Promise<void>): void {
  stopped.then(
    () => process.exit(0),
    (error: unknown) => {
      process.stderr.write(`tessera: shutdown failed: ${error instanceof Error ? error.message : String(error)}\n`);
      process.exit(1);
    },
  );
}

/**
 * SIGTERM and SIGINT stop the server gracefully, once. Repeats are ignored rather than
 * fatal: under `npm start` a Ctrl-C or a stop of the whole process group reaches this
 * process both directly and forwarded by npm, and the second must not cut the drain short.
 */
function onSignals(stop: (signal: string) => Promise<void>): void {
  let stopping = false;
  const handler = (signal: string) => {
    if (stopping) return;
    stopping = true;
    exitAfter(stop(signal));
  };
  process.on('SIGTERM', () => handler('SIGTERM'));
  process.on('SIGINT', () => handler('SIGINT'));
  stopWhenOrphaned(() => handler('parent exited'));
}

/**
 * `npx tessera serve` (npm exec) runs this process under an `sh -c` of npm's; npm forwards
 * SIGTERM to that shell, which dies without passing it on, and this process would serve on
 * as an orphan. So when started by npm (npm sets npm_lifecycle_event) and the parent goes
 * away, stop gracefully as on SIGTERM. Not otherwise: `nohup tessera serve &` must survive
 * its shell.
 */
function stopWhenOrphaned(stop: () => void): void {
  if (!process.env.npm_lifecycle_event) return;
  const parent = process.ppid;
  const timer = setInterval(() => {
    if (process.ppid === parent) return;
    clearInterval(timer);
    stop();
  }, 200);
  timer.unref();
}

async function runSingle(config: TesseraConfig): Promise<void> {
  // Warnings wait until after the first line, which scripts read for the URL.
  const warnings: string[] = [];
  const server = await listen(config, (m) => warnings.push(m), true);
  await announce(server.tessera, server.url, config, 1, warnings, server.metricsUrl);
  onSignals(async (signal) => {
    server.app.log.info({ signal }, 'shutting down');
    await server.stop();
  });
}

async function runWorker(config: TesseraConfig): Promise<void> {
  // The primary printed the warnings already; a worker stays quiet about them.
  const server = await listen(config, () => {}, false);
  let stopped: Promise<void> | undefined;
  const stop = () => (stopped ??= server.stop());
  process.send?.({ type: 'tessera:listening', url: server.url } satisfies ListeningMessage);
  // The primary sends SIGTERM on shutdown; a worker also stops if the primary dies.
  onSignals(stop);
  process.on('disconnect', () => exitAfter(stop()));
}

/**
 * N processes on one port through node:cluster (the primary accepts and hands connections
 * round-robin). The primary migrates and does first-start work once, so workers never race
 * on migrations or the bootstrap admin; each worker is a full node with its own caches,
 * kept coherent by the change feed exactly like separate machines on one database.
 */
async function runPrimary(config: TesseraConfig, workers: number): Promise<void> {
  const warnings: string[] = [];
  await checkListen(config);
  // Migrates once, before any worker opens the database.
  const tessera = await openTessera(config, { warn: (m) => warnings.push(m), log: createLogger(config.logLevel) });
  await tessera.applyEnvironmentSettings();
  // The workers' metrics, summed, on the metrics address (the config refuses a token alone
  // with workers). Listening before any worker starts: a taken address fails the start.
  let metricsServer: Awaited<ReturnType<typeof listenForMetrics>> | undefined;
  try {
    metricsServer = config.metrics.listen ? await listenForMetrics(clusterRender(), config.metrics.listen, config.metrics.token) : undefined;
  } catch (error) {
    await tessera.close();
    throw error;
  }

  let stopping = false;
  let announced = false;
  const fork = () => cluster.fork();
  // Announced once every worker listens, so the first line means "ready at full size".
  let listening = 0;
  const ready = new Promise<string>((resolve, reject) => {
    cluster.on('message', (_worker, message: ListeningMessage) => {
      if (message?.type === 'tessera:listening' && ++listening === workers) resolve(message.url);
    });
    cluster.on('exit', (worker, code, signal) => {
      if (stopping) return;
      if (!announced) {
        reject(new Error(`worker ${worker.process.pid} exited before listening (${signal ?? `code ${code}`})`));
        return;
      }
      // A crashed worker is replaced; the others keep serving meanwhile.
      process.stderr.write(`tessera: worker ${worker.process.pid} exited (${signal ?? `code ${code}`}); starting another\n`);
      setTimeout(fork, 1000).unref();
    });
  });
  for (let i = 0; i < workers; i++) fork();

  let url: string;
  try {
    url = await ready;
  } catch (error) {
    stopping = true;
    for (const worker of Object.values(cluster.workers ?? {})) worker?.kill('SIGTERM');
    await metricsServer?.close();
    await tessera.close();
    throw error;
  }
  announced = true;
  if (!config.server.issuer) tessera.setIssuer(url);
  await announce(tessera, url, config, workers, warnings, metricsServer?.url);
  await tessera.close();

  onSignals(async () => {
    stopping = true;
    await metricsServer?.close();
    const alive = Object.values(cluster.workers ?? {}).filter((w) => w !== undefined);
    await Promise.all(
      alive.map(
        (worker) =>
          new Promise<void>((resolve) => {
            worker.once('exit', () => resolve());
            worker.process.kill('SIGTERM');
          }),
      ),
    );
  });
}
