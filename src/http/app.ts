import Fastify, { type FastifyInstance, type FastifyServerOptions } from 'fastify';
import cookie from '@fastify/cookie';
import type { Tessera } from '../app/tessera.ts';
import { checkHealth } from '../observability/health.ts';
import { LOG_SERIALIZERS } from '../observability/logging.ts';
import type { TesseraMetrics } from '../observability/metrics.ts';
import { registerMetricsRoute } from './metrics-endpoint.ts';
import { requestIdOf } from './request-id.ts';
import { registerFormParser } from './form-body.ts';
import { registerAccountRoutes } from './account-routes.ts';
import { registerDeviceRoutes } from './device-routes.ts';
import { registerAdminApi } from './admin/admin-api.ts';
import { applyCors } from './cors.ts';
import { registerConsoleRoutes } from './console-routes.ts';
import { GatewayEdge } from './gateway-edge.ts';
import { serveGateway } from './gateway-hook.ts';
import { fastifyTrustProxy } from './trust-proxy.ts';
import { PageKit } from './page-kit.ts';
import { registerEmailRoutes } from './email-routes.ts';
import { registerPageRoutes } from './page-routes.ts';
import { registerAccountMfaRoutes } from './account-mfa-routes.ts';
import { registerSecondFactorRoutes } from './second-factor-routes.ts';
import { SignInSteps } from './sign-in-steps.ts';
import { registerPasskeyRoutes } from './passkey-routes.ts';
import { registerProviderRoutes } from './provider-routes.ts';
import { registerProtocolRoutes } from './protocol-routes.ts';
import { registerRegistrationRoutes } from './registration-routes.ts';
import { registerErrorHandler } from './error-reply.ts';
import { registerBrandRoutes } from './brand-routes.ts';
import { registerLanguageRoutes } from './language-routes.ts';
import { responseSerializers } from './response-serializers.ts';

declare module 'fastify' {
  interface FastifyRequest {
    viaGateway: boolean;
  }
}

export interface HttpAppOptions {
  logger?: FastifyServerOptions['logger'];
  /** A logger made by the caller (serve shares one with the background work); wins over `logger`. */
  loggerInstance?: FastifyServerOptions['loggerInstance'];
  /**
   * Records HTTP and gateway requests, and is served at `/metrics` on this app when the config
   * has a metrics token and no separate metrics address (src/http/metrics-endpoint.ts).
   */
  metrics?: TesseraMetrics;
  /**
   * When response serializers are compiled: on each route's first answer (default, fast
   * starts), or all at `ready()` (src/http/response-serializers.ts; tests use it to prove
   * every response schema compiles).
   */
  serializers?: 'lazy' | 'eager';
}

/** Builds the Fastify app around a composed Tessera. It only adapts; the rules live in the core. */
export function buildHttpApp(tessera: Tessera, options: HttpAppOptions = {}): FastifyInstance {
  const trustProxy = fastifyTrustProxy(tessera.config.server.trustProxy);
  const app = Fastify({
    ...(options.loggerInstance ? { loggerInstance: options.loggerInstance } : { logger: withSerializers(options.logger ?? false) }),
    bodyLimit: tessera.config.server.bodyLimit,
    trustProxy,
    // Request ids for log correlation (the caller's X-Request-Id when sane, else a UUID), and
    // no secrets in logs: paths, never query strings or headers (LOG_SERIALIZERS).
    requestIdHeader: false,
    genReqId: requestIdOf,
    routerOptions: { maxParamLength: 200 },
    // The admin API's schemas reject unknown fields (400) rather than silently dropping them.
    ajv: { customOptions: { removeAdditional: false, coerceTypes: 'array', useDefaults: true } },
    schemaController: { compilersFactory: { buildSerializer: responseSerializers(options.serializers ?? 'lazy') } },
  });
  app.log.level = tessera.config.logLevel;

  // Set for requests under a gateway API (their route label is "gateway", not "unmatched").
  app.decorateRequest('viaGateway', false);
  registerFormParser(app);
  // Gateway requests are served in front of Fastify, on node:http's request and response
  // (src/http/gateway-edge.ts): Fastify's per-request work is pure cost on a request that
  // only streams through. They never reach the hooks below: a new per-request behaviour
  // that gateway requests must have too goes into gateway-edge.ts as well.
  new GatewayEdge(tessera, options.metrics, trustProxy).install(app);

  // One callback-style hook in front of everything, rather than a global hook per concern:
  // every hook Fastify runs sits on the token path. Headers set here stay on whatever reply
  // follows. A gateway request the edge leaves to Fastify (a `%` in its path; `inject()`) is
  // served here, before the body is read, the same way.
  const { gateway } = tessera;
  app.addHook('onRequest', (request, reply, done) => {
    reply.header('x-content-type-options', 'nosniff');
    reply.header('x-request-id', request.id);
    if (request.headers.origin !== undefined && applyCors(request, reply)) return; // a preflight, answered
    const match = gateway.match(request.url);
    if (match === undefined) return done();
    request.viaGateway = true;
    // Fastify still runs the onResponse hook (metrics) and logs the answer of a hijacked reply.
    reply.hijack();
    serveGateway(tessera, options.metrics, match, request.raw, reply.raw, {
      id: request.id,
      // Fastify's `ips` (only with a trust setting) runs from the peer to the client and stops
      // at the first address it does not trust; without trust only the peer counts.
      forwardedFor: () => (request.ips ? [...request.ips].reverse() : [request.ip]),
      protocol: () => request.protocol,
      log: () => request.log,
    });
  });

  const { metrics } = options;
  if (metrics) {
    metrics.attach(tessera);
    // The route's pattern, never the raw URL: the label set stays bounded whatever is requested.
    app.addHook('onResponse', (request, reply, done) => {
      const route = request.routeOptions.url ?? (request.viaGateway ? 'gateway' : 'unmatched');
      metrics.httpRequest(request.method, route, reply.statusCode, reply.elapsedTime / 1000);
      done();
    });
    const { token, listen } = tessera.config.metrics;
    if (token !== undefined && listen === undefined) registerMetricsRoute(app, metrics, token);
  }

  registerErrorHandler(app);

  app.setNotFoundHandler((_request, reply) => {
    reply.code(404).send({ error: 'not_found', error_description: 'no such endpoint' });
  });

  registerProtocolRoutes(app, tessera);
  void app.register(async (scope) => registerRegistrationRoutes(scope, tessera));
  // Cookies (sessions, CSRF) belong to the pages alone: scoped here, the cookie plugin's
  // onRequest and onSend hooks stay off the token, introspection and gateway paths.
  void app.register(async (pages) => {
    await pages.register(cookie);
    // First: every page below renders inside the brand's page context.
    registerBrandRoutes(pages, tessera, tessera.pageTemplates.partials);
    const kit = new PageKit(tessera);
    // The steps between a right password and a session (second factor, enrolment): shared by
    // /login and the second-factor pages; other methods (passkeys) add themselves to it.
    const steps = new SignInSteps(tessera, kit);
    registerPageRoutes(pages, tessera, kit, steps);
    registerAccountRoutes(pages, tessera, kit);
    if (tessera.config.deviceFlow) registerDeviceRoutes(pages, tessera, kit);
    registerSecondFactorRoutes(pages, tessera, kit, steps);
    registerAccountMfaRoutes(pages, tessera, kit);
    registerPasskeyRoutes(pages, tessera, kit, steps);
    registerProviderRoutes(pages, tessera);
    registerEmailRoutes(pages, tessera, kit);
    registerLanguageRoutes(pages, tessera, kit);
  });
  void app.register(async (scope) => registerAdminApi(scope, tessera));
  registerConsoleRoutes(app, tessera);

  const health = async (_request: unknown, reply: import('fastify').FastifyReply) => {
    const report = await checkHealth(tessera);
    return reply.code(report.status === 'ok' ? 200 : 503).header('cache-control', 'no-store').send(report);
  };
  app.get('/health', health);
  app.get('/health/ready', health);

  return app;
}

/** Logger options with Tessera's serializers (Fastify's own `req` one logs the query string). */
function withSerializers(logger: NonNullable<HttpAppOptions['logger']>): HttpAppOptions['logger'] {
  if (typeof logger !== 'object') return logger ? { serializers: LOG_SERIALIZERS } : false;
  return { ...logger, serializers: { ...LOG_SERIALIZERS, ...logger.serializers } };
}
