import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import type { FastifyBaseLogger, FastifyInstance, FastifyRequest, RawReplyDefaultExpression, RawRequestDefaultExpression, RawServerDefault } from 'fastify';
import type { AdminActor } from '../../../admin/admin-auth.ts';
import type { Tessera } from '../../../app/tessera.ts';
import type { Actor } from '../../../audit/actor.ts';
import { ErrorSchema, ref } from '../schemas.ts';

/** The admin scope with the TypeBox type provider: request and reply types come from each route's schema. */
export type AdminApi = FastifyInstance<RawServerDefault, RawRequestDefaultExpression, RawReplyDefaultExpression, FastifyBaseLogger, TypeBoxTypeProvider>;

/** What every resource's routes are registered with. */
export interface AdminRouteDeps {
  tessera: Tessera;
}

declare module 'fastify' {
  interface FastifyRequest {
    adminActor?: AdminActor;
  }
}

/** Who is calling: set by the admin scope's onRequest hook before any route runs. */
export function callerOf(request: FastifyRequest): AdminActor {
  if (request.adminActor === undefined) throw new Error('an admin route ran without an authenticated caller');
  return request.adminActor;
}

/** The caller as the services' change methods take it: they audit who did what, from where. */
export function actorOf(request: FastifyRequest): Actor {
  return { kind: 'user', ...callerOf(request), ip: request.ip };
}

export const tag = (name: string) => ({ tags: [name], security: [{ bearer: [] }] });

const error = ref(ErrorSchema);
export const errors = { 400: error, 401: error, 403: error, 404: error, 409: error };
/** A 204 has no body: `null` in the document, nothing for the handler to send. */
export const noContent = { 204: Type.Unsafe<undefined>({ type: 'null', description: 'done' }), ...errors };

export const IdParams = Type.Object({ id: Type.String({ maxLength: 200 }) });
export const NameParams = Type.Object({ name: Type.String({ maxLength: 200 }) });
export const SearchQuery = Type.Object({ search: Type.Optional(Type.String({ maxLength: 200 })) });
