import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Tessera } from '../app/tessera.ts';
import { epochSeconds } from '../clock.ts';
import { OAuthError } from '../oauth/errors.ts';
import { openIdConfiguration, serverMetadata } from '../oauth/endpoints/discovery.ts';
import type { RawParams } from '../oauth/params.ts';
import { formParams } from './form-body.ts';
import { noStore } from './oauth-reply.ts';
import { protectedResourceMetadata } from '../gateway/protected-resources.ts';

/** The /connect/* and /.well-known/* endpoints: adapters from HTTP to the protocol core. */
export function registerProtocolRoutes(app: FastifyInstance, tessera: Tessera): void {
  const { endpoints, clock } = tessera;

  const metadataOptions = () => ({
    protectedResources: tessera.gateway.resources.all.map((r) => r.id),
    clientIdMetadataDocuments: tessera.config.registration.metadataDocuments,
    registrationEndpoint: tessera.services.registration.enabled(),
    uiLocales: tessera.config.languages.available,
    deviceFlow: tessera.config.deviceFlow,
    requirePushedAuthorizationRequests: tessera.services.settings.live.requirePushedAuthorizationRequests,
  });
  app.get('/.well-known/openid-configuration', (_req, reply) => {
    reply.header('cache-control', 'public, max-age=300').send(openIdConfiguration(tessera.issuer, [], metadataOptions()));
  });
  app.get('/.well-known/oauth-authorization-server', (_req, reply) => {
    reply.header('cache-control', 'public, max-age=300').send(serverMetadata(tessera.issuer, [], metadataOptions()));
  });
  // RFC 9728 §3.1: the metadata of the API at `{path}` is at /.well-known/oauth-protected-resource{path}.
  app.get('/.well-known/oauth-protected-resource/*', (request, reply) => {
    const path = `/${(request.params as { '*': string })['*']}`;
    const resource = tessera.gateway.resources.byBasePath(path);
    if (!resource) {
      noStore(reply).code(404).send({ error: 'not_found', error_description: 'no protected resource at this path' });
      return;
    }
    reply.header('cache-control', 'public, max-age=300').send(protectedResourceMetadata(resource, tessera.issuer));
  });
  app.get('/.well-known/jwks.json', (_req, reply) => {
    reply
      .header('cache-control', 'public, max-age=60')
      .type('application/jwk-set+json; charset=utf-8')
      .send(tessera.keyRing.jwksJson());
  });

  app.post('/connect/token', (request, reply) => {
    const now = epochSeconds(clock);
    // RFC 9449: htu is compared with the endpoint's public URL (the issuer's), not with what a proxy passed on.
    const dpopHeaders = dpopHeaderValues(request);
    const result = endpoints.token({
      params: formParams(request),
      authorization: request.headers.authorization,
      now,
      log: request.log,
      ip: () => request.ip,
      dpop: dpopHeaders === undefined ? undefined : { headers: dpopHeaders, url: `${tessera.issuer}/connect/token` },
    });
    // Fastify awaits a returned promise; a synchronous result is sent without one.
    if (result instanceof Promise) {
      // §8.2: with nonces required, each answer to a DPoP request brings the current nonce.
      return result.then((body) => noStore(reply).headers(dpopHeaders === undefined ? {} : tessera.dpop.nonceHeader(now)).send(body));
    }
    noStore(reply).send(result);
    return reply;
  });

  // RFC 8628 §3.1: the device asks for a device code and a user code (not served when TESSERA_DEVICE_FLOW=off).
  if (tessera.config.deviceFlow) {
    app.post('/connect/deviceauthorization', async (request, reply) => {
      const body = await endpoints.deviceAuthorization({ params: formParams(request), authorization: request.headers.authorization, now: epochSeconds(clock) });
      return noStore(reply).send(body);
    });
  }

  // RFC 9126 §2: the app pushes its authorization request and gets a request_uri for /connect/authorize.
  // RFC 9449 §10.1: a DPoP proof with the push binds the code to its key (htu: the public URL).
  app.post('/connect/par', async (request, reply) => {
    const now = epochSeconds(clock);
    const dpopHeaders = dpopHeaderValues(request);
    const body = await endpoints.par({
      params: formParams(request),
      authorization: request.headers.authorization,
      now,
      dpop: dpopHeaders === undefined ? undefined : { headers: dpopHeaders, url: `${tessera.issuer}/connect/par` },
    });
    return noStore(reply)
      .headers(dpopHeaders === undefined ? {} : tessera.dpop.nonceHeader(now))
      .code(201)
      .send(body);
  });

  app.post('/connect/introspect', async (request, reply) => {
    const body = await endpoints.introspect({
      params: formParams(request),
      authorization: request.headers.authorization,
      now: epochSeconds(clock),
    });
    return noStore(reply).send(body);
  });

  app.post('/connect/revocation', async (request, reply) => {
    await endpoints.revoke({ params: formParams(request), authorization: request.headers.authorization, now: epochSeconds(clock), ip: request.ip });
    return noStore(reply).code(200).send();
  });

  // OIDC Core §5.3.1: userinfo answers GET and POST; errors carry WWW-Authenticate (RFC 6750 §3).
  const userinfo = async (request: FastifyRequest, reply: FastifyReply) => {
    const { body, headers } = await endpoints.userinfo({
      authorization: request.headers.authorization,
      dpop: dpopHeaderValues(request),
      method: request.method,
      params: request.method === 'POST' && request.body instanceof Map ? (request.body as RawParams) : new Map(),
      now: epochSeconds(clock),
    });
    return noStore(reply).headers(headers).send(body);
  };
  app.get('/connect/userinfo', userinfo);
  app.post('/connect/userinfo', userinfo);

  for (const path of ['/connect/token', '/connect/introspect', '/connect/revocation', '/connect/par', ...(tessera.config.deviceFlow ? ['/connect/deviceauthorization'] : [])]) {
    app.route({ method: ['GET', 'PUT', 'PATCH', 'DELETE'], url: path, handler: methodNotAllowed });
  }
}

/**
 * The request's DPoP headers (RFC 9449 §4.3: exactly one is allowed); undefined when there is
 * none. Node folds repeated headers into one value joined by commas, which the verifier refuses.
 */
export function dpopHeaderValues(request: FastifyRequest): string[] | undefined {
  const value = request.headers.dpop;
  return value === undefined ? undefined : Array.isArray(value) ? value : [value];
}

function methodNotAllowed(_request: FastifyRequest, reply: FastifyReply): never {
  reply.header('allow', 'POST');
  throw new OAuthError('invalid_request', 'this endpoint accepts only POST', { status: 405 });
}
