import { useEffect, useState, type ReactNode } from 'react';
import { get, onSessionExpired, type Me } from './api.ts';
import { completeSignIn, isSignedIn, loadAuth, signIn, signOut, type ConsoleConfig } from './auth.ts';
import { Link, navigate, useLocation } from './router.tsx';
import { ErrorBox, Loading, useAction } from './ui.tsx';

const NAV: Array<{ to: string; label: string }> = [
  { to: '/admin/apps', label: 'Apps' },
  { to: '/admin/users', label: 'Users' },
  { to: '/admin/roles', label: 'Roles & permissions' },
  { to: '/admin/apis', label: 'APIs' },
  { to: '/admin/providers', label: 'Identity providers' },
  { to: '/admin/settings', label: 'Settings' },
  { to: '/admin/branding', label: 'Branding' },
  { to: '/admin/keys', label: 'Signing keys' },
  { to: '/admin/audit', label: 'Audit log' },
];

type Phase =
  | { kind: 'loading' }
  | { kind: 'error'; error: unknown }
  | { kind: 'wrong-origin'; config: ConsoleConfig }
  | { kind: 'signed-out'; expired?: boolean; error?: unknown }
  | { kind: 'signed-in' };

/** Loads the settings, completes a sign-in at /admin/callback, then shows the console. */
export function Shell({ children }: { children: ReactNode }) {
  const [phase, setPhase] = useState<Phase>({ kind: 'loading' });
  useEffect(() => {
    let live = true;
    (async () => {
      const config = await loadAuth();
      if (new URL(config.issuer).origin !== location.origin) return { kind: 'wrong-origin', config } as const;
      if (location.pathname === '/admin/callback') {
        try {
          const to = await completeSignIn(location.search);
          navigate(to, true);
        } catch (error) {
          navigate('/admin/', true);
          return { kind: 'signed-out', error } as const;
        }
      }
      return isSignedIn() ? ({ kind: 'signed-in' } as const) : ({ kind: 'signed-out' } as const);
    })().then(
      (p) => live && setPhase(p),
      (error: unknown) => live && setPhase({ kind: 'error', error }),
    );
    const off = onSessionExpired(() => setPhase({ kind: 'signed-out', expired: true }));
    return () => {
      live = false;
      off();
    };
  }, []);

  switch (phase.kind) {
    case 'loading':
      return (
        <Centered>
          <Loading what="Starting the console" />
        </Centered>
      );
    case 'error':
      return (
        <Centered>
          <h1>The console could not start</h1>
          <ErrorBox error={phase.error} onRetry={() => location.reload()} />
        </Centered>
      );
    case 'wrong-origin':
      return (
        <Centered>
          <h1>Open the console on its own address</h1>
          <p>
            This Tessera’s issuer is <code>{phase.config.issuer}</code>. Sign-in only works there: <a href={`${phase.config.issuer}/admin/`}>{phase.config.issuer}/admin/</a>
          </p>
        </Centered>
      );
    case 'signed-out':
      return <SignedOut expired={phase.expired} error={phase.error} />;
    case 'signed-in':
      return <Layout>{children}</Layout>;
  }
}

function Centered({ children }: { children: ReactNode }) {
  return (
    <div className="centered">
      <main className="card card--compact">
        <header className="brand" aria-label="Tessera">
          <span className="brand__mark" aria-hidden="true" />
          Tessera
        </header>
        {children}
      </main>
    </div>
  );
}

function SignedOut({ expired, error }: { expired?: boolean; error?: unknown }) {
  const signing = useAction();
  const { busy } = signing;
  const failed = signing.error;
  // After a refused sign-in (say, an account without the admin role) Tessera would sign the
  // same person in again silently: ask for the login page instead.
  const again = Boolean(error);
  const start = () =>
    void signing.run(async () => {
      await signIn(undefined, again ? { prompt: 'login' } : {});
      // The browser is on its way to the login page: stay busy ("Redirecting…") until it leaves.
      await new Promise(() => {});
    });
  return (
    <Centered>
      <h1>Tessera console</h1>
      {expired ? <p className="note">Your console session ended. Sign in again to continue.</p> : null}
      <ErrorBox error={failed ?? error} />
      <p className="muted">Manage apps, users, roles, APIs and settings. Sign in with an account that holds the admin role.</p>
      <div className="actions">
        <button type="button" className="primary" onClick={start} disabled={busy}>
          {busy ? 'Redirecting…' : again ? 'Sign in as someone else' : 'Sign in'}
        </button>
      </div>
    </Centered>
  );
}

function Layout({ children }: { children: ReactNode }) {
  const { path } = useLocation();
  const [menu, setMenu] = useState(false);
  const [me, setMe] = useState<Me | undefined>();
  useEffect(() => {
    get<Me>('/me').then(setMe, () => undefined);
  }, []);
  useEffect(() => setMenu(false), [path]);
  return (
    <div className="shell">
      <header className="topbar">
        <Link to="/admin/apps" className="brand brand--bar" aria-label="Tessera console, home">
          <span className="brand__mark" aria-hidden="true" />
          Tessera <span className="brand__sub">console</span>
        </Link>
        <button type="button" className="menu-button" aria-expanded={menu} aria-controls="nav" onClick={() => setMenu((m) => !m)}>
          Menu
        </button>
      </header>
      <nav id="nav" className={`sidebar${menu ? ' sidebar--open' : ''}`} aria-label="Console">
        <Link to="/admin/apps" className="brand brand--side" aria-label="Tessera console, home">
          <span className="brand__mark" aria-hidden="true" />
          Tessera <span className="brand__sub">console</span>
        </Link>
        <ul>
          {NAV.map((n) => (
            <li key={n.to}>
              <Link to={n.to} aria-current={path === n.to || path.startsWith(`${n.to}/`) ? 'page' : undefined}>
                {n.label}
              </Link>
            </li>
          ))}
        </ul>
        <div className="sidebar__foot">
          {me ? (
            <p className="small muted">
              Signed in as <strong>{me.username}</strong>
            </p>
          ) : null}
          <button type="button" onClick={signOut}>
            Sign out
          </button>
        </div>
      </nav>
      <main className="content" id="main">
        {children}
      </main>
    </div>
  );
}
