import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { Tessera } from '../app/tessera.ts';
import { selfRegistration } from '../audit/actor.ts';
import { OAuthError } from '../oauth/errors.ts';
import { noStore } from './oauth-reply.ts';

/** A registration is a few URIs and names; 16 KiB leaves room and bounds the work per request. */
export const REGISTRATION_BODY_LIMIT = 16 * 1024;

/**
 * Dynamic Client Registration (RFC 7591) at /connect/register and its management protocol
 * (RFC 7592) at /connect/register/{client_id}: adapters from HTTP to RegistrationService.
 * Its own plugin, so the JSON body is parsed here: malformed JSON, another content type or
 * something other than an object is invalid_client_metadata (400), never a 500.
 */
export async function registerRegistrationRoutes(app: FastifyInstance, tessera: Tessera): Promise<void> {
  const registration = tessera.services.registration;
  app.removeContentTypeParser('application/json');
  app.addContentTypeParser('application/json', { parseAs: 'string', bodyLimit: REGISTRATION_BODY_LIMIT }, (_request, body, done) => {
    try {
      done(null, JSON.parse(body as string));
    } catch {
      done(new OAuthError('invalid_client_metadata', 'the body is not valid JSON'), undefined);
    }
  });
  const json = (request: FastifyRequest): unknown => {
    if (!/^application\/json\s*(;|$)/i.test(request.headers['content-type'] ?? '')) {
      throw new OAuthError('invalid_client_metadata', 'the body must be JSON (Content-Type: application/json)');
    }
    return request.body;
  };
  const clientId = (request: FastifyRequest) => (request.params as { clientId: string }).clientId;

  app.post('/connect/register', { bodyLimit: REGISTRATION_BODY_LIMIT }, async (request, reply) => {
    const body = await registration.register(json(request), request.headers.authorization, selfRegistration(null, request.ip));
    return noStore(reply).code(201).send(body);
  });
  app.get('/connect/register/:clientId', async (request, reply) => {
    return noStore(reply).send(await registration.read(clientId(request), request.headers.authorization));
  });
  app.put('/connect/register/:clientId', { bodyLimit: REGISTRATION_BODY_LIMIT }, async (request, reply) => {
    const id = clientId(request);
    const body = await registration.update(id, json(request), request.headers.authorization, selfRegistration(id, request.ip));
    return noStore(reply).send(body);
  });
  app.delete('/connect/register/:clientId', async (request, reply) => {
    const id = clientId(request);
    await registration.delete(id, request.headers.authorization, selfRegistration(id, request.ip));
    return noStore(reply).code(204).send();
  });
}
