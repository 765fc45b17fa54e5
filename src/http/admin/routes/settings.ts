import { ref, SettingsSchema, SettingsUpdateSchema } from '../schemas.ts';
import { actorOf, errors, tag, type AdminApi, type AdminRouteDeps } from './route-kit.ts';

/** Runtime settings, shared by every node through the database. */
export function settingsRoutes(api: AdminApi, { tessera }: AdminRouteDeps): void {
  const { settings } = tessera.services;

  api.get('/settings', { schema: { ...tag('settings'), summary: 'Current settings', response: { 200: ref(SettingsSchema), ...errors } } }, async () => settings.view());

  api.patch(
    '/settings',
    {
      schema: {
        ...tag('settings'),
        summary: 'Change settings; they apply to the next request on every node',
        body: ref(SettingsUpdateSchema),
        response: { 200: ref(SettingsSchema), ...errors },
      },
    },
    async (request) => settings.update(request.body, actorOf(request)),
  );
}
