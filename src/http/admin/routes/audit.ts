import { Type } from '@sinclair/typebox';
import { validationError } from '../../../errors.ts';
import { AuditEventSchema, ref } from '../schemas.ts';
import { errors, tag, type AdminApi, type AdminRouteDeps } from './route-kit.ts';

const AuditQuery = Type.Object(
  {
    actor: Type.Optional(Type.String({ maxLength: 300 })),
    action: Type.Optional(Type.String({ maxLength: 100 })),
    target_type: Type.Optional(Type.String({ maxLength: 100 })),
    target_id: Type.Optional(Type.String({ maxLength: 300 })),
    since: Type.Optional(Type.String({ format: 'date-time' })),
    until: Type.Optional(Type.String({ format: 'date-time' })),
    limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 500 })),
    before: Type.Optional(Type.String({ maxLength: 100, description: 'the `next` cursor of the previous page' })),
  },
  { additionalProperties: false },
);
const AuditPage = Type.Object({ items: Type.Array(ref(AuditEventSchema)), next: Type.Optional(Type.Union([Type.String(), Type.Null()])) });

/** The audit trail, read-only. */
export function auditRoutes(api: AdminApi, { tessera }: AdminRouteDeps): void {
  api.get(
    '/audit',
    { schema: { ...tag('audit'), summary: 'Audit events, newest first', querystring: AuditQuery, response: { 200: AuditPage, ...errors } } },
    async (request) => {
      const q = request.query;
      return tessera.services.audit.list({
        actor: q.actor,
        action: q.action,
        targetType: q.target_type,
        targetId: q.target_id,
        since: q.since ? toEpoch(q.since, 'since') : undefined,
        until: q.until ? toEpoch(q.until, 'until') : undefined,
        limit: q.limit,
        before: q.before,
      });
    },
  );
}

function toEpoch(value: string, field: string): number {
  const ms = Date.parse(value);
  if (Number.isNaN(ms)) throw validationError(`${field} must be an ISO 8601 date-time`, field);
  return Math.floor(ms / 1000);
}
