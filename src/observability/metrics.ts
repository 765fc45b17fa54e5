import { AggregatorRegistry, collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { Tessera } from '../app/tessera.ts';
import type { MailOutcome, MetricsRecorder, SignInOutcome } from '../lib/metrics.ts';

/** Seconds; from a cached token (~0.1 ms) to a slow upstream. */
const LATENCY_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

type HistogramChild = ReturnType<Histogram<string>['labels']>;
type CounterChild = ReturnType<Counter<string>['labels']>;

/**
 * Tessera's Prometheus metrics (docs/observability.md lists them). One registry per instance
 * (tests build several servers in one process). The labelled children the hot paths use are
 * made once and kept, so recording a request is a few map lookups and prom-client's own work.
 *
 * Three ways in: the core's events through `MetricsRecorder` (tokens issued, sign-ins); the
 * HTTP layer's calls (`httpRequest`, `gatewayRequest`); and counters and gauges read from the
 * composed Tessera when Prometheus scrapes (`attach`: caches, database, change feed).
 */
export class TesseraMetrics implements MetricsRecorder {
  readonly registry = new Registry();
  readonly #http: Histogram<'method' | 'route' | 'status'>;
  readonly #tokens: Counter<'grant_type'>;
  readonly #signIns: Counter<'method' | 'outcome'>;
  readonly #throttled: Counter<'endpoint'>;
  readonly #mails: Counter<'message' | 'outcome'>;
  readonly #gatewayRequests: Counter<'api' | 'upstream_status'>;
  readonly #upstreamLatency: Histogram<'api'>;
  /** route → method → status → child. Route patterns and methods are bounded; so are statuses. */
  readonly #httpChildren = new Map<string, Map<string, Map<number, HistogramChild>>>();
  readonly #tokenChildren = new Map<string, CounterChild>();
  readonly #attached: Tessera[] = [];

  constructor() {
    const registers = [this.registry];
    collectDefaultMetrics({ register: this.registry });
    this.#http = new Histogram({
      name: 'tessera_http_request_duration_seconds',
      help: 'HTTP requests by method, route pattern and status, with their latency (the _count is the number of requests)',
      labelNames: ['method', 'route', 'status'],
      buckets: LATENCY_BUCKETS,
      registers,
    });
    this.#tokens = new Counter({ name: 'tessera_tokens_issued_total', help: 'Token responses issued, by grant type', labelNames: ['grant_type'], registers });
    this.#signIns = new Counter({
      name: 'tessera_sign_ins_total',
      help: 'Sign-ins by method (password, provider) and outcome',
      labelNames: ['method', 'outcome'],
      registers,
    });
    this.#throttled = new Counter({
      name: 'tessera_throttled_requests_total',
      help: 'Requests refused because their account or address is throttled, by endpoint',
      labelNames: ['endpoint'],
      registers,
    });
    this.#mails = new Counter({
      name: 'tessera_emails_total',
      help: 'Email send attempts by message (password_reset, invite, …) and outcome: sent, retry (failed, tried again later), dropped (given up)',
      labelNames: ['message', 'outcome'],
      registers,
    });
    this.#gatewayRequests = new Counter({
      name: 'tessera_gateway_requests_total',
      help: 'Gateway requests by API and upstream status (a code; or timeout, unreachable, cancelled, or rejected when Tessera answered itself)',
      labelNames: ['api', 'upstream_status'],
      registers,
    });
    this.#upstreamLatency = new Histogram({
      name: 'tessera_gateway_upstream_duration_seconds',
      help: 'Time until an upstream answered (status line and headers), by API',
      labelNames: ['api'],
      buckets: LATENCY_BUCKETS,
      registers,
    });
    for (const outcome of ['success', 'invalid_credentials', 'throttled'] as const) this.#signIns.labels('password', outcome);
    this.#throttled.labels('sign_in');

    // Read when scraped, from the instances attached.
    const attached = this.#attached;
    new Gauge({
      name: 'tessera_database_pool_connections',
      help: 'PostgreSQL pool connections by state (idle, busy) and the pool size (max); none on SQLite',
      labelNames: ['state'],
      registers,
      collect() {
        this.reset();
        for (const t of attached) {
          const pool = t.database.pool();
          if (!pool) continue;
          this.inc({ state: 'idle' }, pool.idle);
          this.inc({ state: 'busy' }, pool.total - pool.idle);
          this.inc({ state: 'max' }, pool.max);
        }
      },
    });
    new Gauge({
      name: 'tessera_database_pool_waiting',
      help: 'Queries waiting for a PostgreSQL pool connection',
      registers,
      collect() {
        this.set(attached.reduce((n, t) => n + (t.database.pool()?.waiting ?? 0), 0));
      },
    });
    new Counter({
      name: 'tessera_database_query_errors_total',
      help: 'Database statements that failed (refused, timed out, or lost their connection)',
      registers,
      collect() {
        this.reset();
        this.inc(attached.reduce((n, t) => n + t.database.stats.queryErrors, 0));
      },
    });
    new Counter({
      name: 'tessera_database_connection_errors_total',
      help: 'PostgreSQL connections lost under a client (database restarted, backend terminated)',
      registers,
      collect() {
        this.reset();
        this.inc(attached.reduce((n, t) => n + t.database.stats.connectionErrors, 0));
      },
    });
    new Gauge({
      name: 'tessera_change_feed_lag_seconds',
      // Summed over --workers processes, seconds would mean nothing: the worst one counts.
      aggregator: 'max',
      help: 'How stale this node\'s caches may be, in seconds: 0 while PostgreSQL notifications arrive (LISTEN), else the time since the change feed was last read (about the poll interval when healthy; grows while the database is unreachable)',
      registers,
      collect() {
        const now = Date.now();
        const lags = attached
          .filter((t) => t.feed.lastPolledAt > 0)
          .map((t) => (t.feed.listening && !t.feed.failing ? 0 : (now - t.feed.lastPolledAt) / 1000));
        this.set(lags.length ? Math.max(...lags) : 0);
      },
    });
    new Gauge({
      name: 'tessera_change_feed_listening',
      help: '1 while the change feed receives PostgreSQL notifications (LISTEN), 0 while it only polls',
      aggregator: 'min',
      registers,
      collect() {
        this.set(attached.length > 0 && attached.every((t) => t.feed.listening) ? 1 : 0);
      },
    });
    new Counter({
      name: 'tessera_change_feed_poll_failures_total',
      help: 'Change-feed polls that failed',
      registers,
      collect() {
        this.reset();
        this.inc(attached.reduce((n, t) => n + t.feed.pollFailures, 0));
      },
    });
    new Counter({
      name: 'tessera_cache_requests_total',
      help: 'Lookups in the in-memory caches (clients, principals, verified_tokens, upstream_jwks) by result (hit, miss)',
      labelNames: ['cache', 'result'],
      registers,
      collect() {
        this.reset();
        for (const t of attached) {
          for (const [cache, stats] of Object.entries(t.cacheStats)) {
            this.inc({ cache, result: 'hit' }, stats.hits);
            this.inc({ cache, result: 'miss' }, stats.misses);
          }
        }
      },
    });
  }

  /** Reads the caches', the database's and the change feed's counters from this instance at each scrape. */
  attach(tessera: Tessera): void {
    if (!this.#attached.includes(tessera)) this.#attached.push(tessera);
  }

  tokenIssued(grantType: string): void {
    let child = this.#tokenChildren.get(grantType);
    if (child === undefined) {
      child = this.#tokens.labels(grantType);
      this.#tokenChildren.set(grantType, child);
    }
    child.inc();
  }

  signIn(method: 'password' | 'provider' | 'passkey', outcome: SignInOutcome): void {
    this.#signIns.labels(method, outcome).inc();
    if (outcome === 'throttled') this.#throttled.labels('sign_in').inc();
  }

  mail(message: string, outcome: MailOutcome): void {
    this.#mails.labels(message, outcome).inc();
  }

  /** One HTTP request: `route` is the route's pattern (never the raw URL), so the label set stays bounded. */
  httpRequest(method: string, route: string, status: number, seconds: number): void {
    let byMethod = this.#httpChildren.get(route);
    if (byMethod === undefined) this.#httpChildren.set(route, (byMethod = new Map()));
    let byStatus = byMethod.get(method);
    if (byStatus === undefined) byMethod.set(method, (byStatus = new Map()));
    let child = byStatus.get(status);
    if (child === undefined) byStatus.set(status, (child = this.#http.labels(method, route, String(status))));
    child.observe(seconds);
  }

  /**
   * One gateway request. `upstreamStatus` is the upstream's status code, or why there was none:
   * `timeout` (504), `unreachable` (502), `rejected` (Tessera answered: no token, wrong scope,
   * body too large or too slow), `cancelled` (the client went away first). `upstreamSeconds` is the time until the upstream's headers.
   */
  gatewayRequest(api: string, upstreamStatus: number | 'timeout' | 'unreachable' | 'rejected' | 'cancelled', upstreamSeconds: number | undefined): void {
    this.#gatewayRequests.labels(api, String(upstreamStatus)).inc();
    if (upstreamSeconds !== undefined) this.#upstreamLatency.labels(api).observe(upstreamSeconds);
  }

  /** The exposition in Prometheus text format. */
  render(): Promise<string> {
    return this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }
}

/** Whether the config exposes `/metrics` at all; without it nothing is collected. */
export function metricsEnabled(config: { metrics: { token: string | undefined; listen: unknown } }): boolean {
  return config.metrics.token !== undefined || config.metrics.listen !== undefined;
}

/** The exposition of one process. */
export function renderOf(metrics: TesseraMetrics): () => Promise<{ contentType: string; body: string }> {
  return async () => ({ contentType: metrics.contentType, body: await metrics.render() });
}

/**
 * `serve --workers N`: each worker answers the primary's requests with its own metrics (call
 * in the worker), and the primary serves their sum (`clusterRender`, with prom-client's
 * per-metric aggregators: sums, the worst lag, process metrics per their own rules).
 */
export function answerClusterPrimary(metrics: TesseraMetrics): void {
  AggregatorRegistry.setRegistries([metrics.registry]);
  // Constructing one installs the worker's message listener.
  new AggregatorRegistry();
}

export function clusterRender(): () => Promise<{ contentType: string; body: string }> {
  const aggregator = new AggregatorRegistry();
  return async () => ({ contentType: aggregator.contentType, body: await aggregator.clusterMetrics() });
}
