import { useEffect } from 'react';
import { match, navigate, useLocation } from './router.tsx';
import { AppDetailPage } from './pages/app-detail.tsx';
import { AppFormPage } from './pages/app-form.tsx';
import { AppsPage } from './pages/apps.tsx';
import { ApiFormPage } from './pages/api-form.tsx';
import { ApiDetailPage, ApisPage } from './pages/apis.tsx';
import { AuditPage } from './pages/audit.tsx';
import { KeysPage } from './pages/keys.tsx';
import { ProvidersPage } from './pages/providers.tsx';
import { RolesPage } from './pages/roles.tsx';
import { SettingsPage } from './pages/settings.tsx';
import { BrandingPage } from './pages/branding.tsx';
import { UserDetailPage } from './pages/user-detail.tsx';
import { UsersPage } from './pages/users.tsx';

/** Page paths under /admin/ (the server answers index.html for each). */
const ROUTES: Array<[string, (p: Record<string, string>) => React.ReactNode]> = [
  ['/admin/apps', () => <AppsPage />],
  ['/admin/apps/new', () => <AppFormPage />],
  ['/admin/apps/:id', (p) => <AppDetailPage key={p.id} id={p.id!} />],
  ['/admin/apps/:id/edit', (p) => <AppFormPage key={p.id} id={p.id!} />],
  ['/admin/users', () => <UsersPage />],
  ['/admin/users/:id', (p) => <UserDetailPage key={p.id} id={p.id!} />],
  ['/admin/roles', () => <RolesPage />],
  ['/admin/apis', () => <ApisPage />],
  ['/admin/apis/new', () => <ApiFormPage />],
  ['/admin/apis/:id', (p) => <ApiDetailPage key={p.id} id={p.id!} />],
  ['/admin/apis/:id/edit', (p) => <ApiFormPage key={p.id} id={p.id!} />],
  ['/admin/providers', () => <ProvidersPage />],
  ['/admin/settings', () => <SettingsPage />],
  ['/admin/branding', () => <BrandingPage />],
  ['/admin/keys', () => <KeysPage />],
  ['/admin/audit', () => <AuditPage />],
];

export function Routes() {
  const { path } = useLocation();
  const home = path === '/admin/' || path === '/admin';
  useEffect(() => {
    if (home) navigate('/admin/apps', true);
  }, [home]);
  if (home) return null;
  for (const [pattern, render] of ROUTES) {
    const params = match(pattern, path);
    if (params) return <>{render(params)}</>;
  }
  return (
    <section>
      <h1>Page not found</h1>
      <p>
        There is no console page at <code>{path}</code>. <a href="/admin/apps">Go to the apps</a>.
      </p>
    </section>
  );
}
