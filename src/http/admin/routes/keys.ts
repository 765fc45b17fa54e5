import { listOf, SigningKeySchema } from '../schemas.ts';
import { actorOf, errors, tag, type AdminApi, type AdminRouteDeps } from './route-kit.ts';

/** Signing keys: the same service as `tessera keys`. */
export function keyRoutes(api: AdminApi, { tessera }: AdminRouteDeps): void {
  const { keys } = tessera.services;

  api.get('/keys', { schema: { ...tag('keys'), summary: 'Signing keys', response: { 200: listOf(SigningKeySchema), ...errors } } }, async () => ({ items: await keys.list() }));

  api.post(
    '/keys/rotate',
    {
      schema: {
        ...tag('keys'),
        summary: 'New active signing keys; the previous ones stay published until their tokens expire',
        response: { 200: listOf(SigningKeySchema), ...errors },
      },
    },
    async (request) => {
      const items = await keys.rotate(actorOf(request));
      return { items };
    },
  );
}
