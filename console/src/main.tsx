import 'uplot/dist/uPlot.min.css';
import '../styles.css';
import { render } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import { ApiError, consoleApi, describe, rememberSession, whenSignedOut, type SessionInfo } from './api.js';
import { AuditDetailPage, AuditPage } from './pages/audit.js';
import { CredentialsPage } from './pages/credentials.js';
import { KeyDetailPage } from './pages/key-detail.js';
import { KeysPage } from './pages/keys.js';
import { LockdownPage } from './pages/lockdown.js';
import { OverviewPage } from './pages/overview.js';
import { SignInPage } from './pages/sign-in.js';
import { UsagePage } from './pages/usage.js';
import { UsersPage } from './pages/users.js';
import { navigate, useRoute, type Route } from './router.js';
import { ErrorText, PageTitle, Session } from './ui.js';

const NAV: { path: string; label: string; permission?: 'secrets:read' }[] = [
  { path: '', label: 'Overview' },
  { path: 'keys', label: 'Keys' },
  { path: 'users', label: 'Users' },
  { path: 'usage', label: 'Usage' },
  { path: 'audit', label: 'Audit' },
  { path: 'credentials', label: 'Credentials', permission: 'secrets:read' },
  { path: 'lockdown', label: 'Lockdown' },
];

function App() {
  const route = useRoute();
  /** undefined: still asking the gateway; null: signed out. */
  const [session, setSession] = useState<SessionInfo | null | undefined>(undefined);
  const [bootError, setBootError] = useState<string | null>(null);

  useEffect(() => {
    whenSignedOut(() => setSession(null));
    consoleApi<SessionInfo>('GET', 'api/session').then(
      (info) => {
        rememberSession(info);
        setSession(info);
      },
      (err: unknown) => {
        if (err instanceof ApiError && err.status === 401) setSession(null);
        else setBootError(describe(err));
      },
    );
  }, []);

  const onSignIn = route.segments[0] === 'sign-in';
  useEffect(() => {
    if (session === null && !onSignIn) navigate('#/sign-in', true);
    if (session && onSignIn) navigate('#/', true);
  }, [session, onSignIn]);

  if (bootError) {
    return (
      <main id="main">
        <PageTitle>Console unavailable</PageTitle>
        <ErrorText error={bootError} />
        <button type="button" onClick={() => location.reload()}>
          Try again
        </button>
      </main>
    );
  }
  if (session === undefined) return <p class="boot" role="status">Loading the console…</p>;
  if (session === null) {
    return (
      <>
        <header class="top">
          <span class="brand">llm-proxy-auth console</span>
        </header>
        <main id="main" class="narrow">
          <SignInPage
            error={route.params.get('error')}
            onSignedIn={(info) => {
              rememberSession(info);
              setSession(info);
            }}
          />
        </main>
      </>
    );
  }
  return (
    <Session.Provider value={session}>
      <Shell
        route={route}
        session={session}
        onSignedOut={() => {
          rememberSession(null);
          setSession(null);
        }}
      />
    </Session.Provider>
  );
}

function Shell({ route, session, onSignedOut }: { route: Route; session: SessionInfo; onSignedOut: () => void }) {
  const [menuOpen, setMenuOpen] = useState(false);
  const [signOutError, setSignOutError] = useState<string | null>(null);
  const page = route.segments[0] ?? '';
  useEffect(() => setMenuOpen(false), [route.segments.join('/')]);

  async function signOut() {
    setSignOutError(null);
    try {
      await consoleApi('DELETE', 'api/session');
    } catch (err) {
      // 401: already signed out; anything else is worth saying
      if (!(err instanceof ApiError && err.status === 401)) {
        setSignOutError(describe(err));
        return;
      }
    }
    onSignedOut();
  }

  return (
    <>
      <a class="skip" href="#main" onClick={(e) => (e.preventDefault(), document.getElementById('main')?.focus())}>
        Skip to content
      </a>
      <header class="top">
        <a class="brand" href="#/">
          llm-proxy-auth console
        </a>
        <button type="button" class="menu" aria-expanded={menuOpen} aria-controls="nav" onClick={() => setMenuOpen(!menuOpen)}>
          Menu
        </button>
        <nav id="nav" aria-label="Main" class={menuOpen ? 'open' : undefined}>
          <ul>
            {NAV.filter((n) => !n.permission || session.permissions.includes(n.permission)).map((n) => (
              <li key={n.path}>
                <a href={`#/${n.path}`} aria-current={page === n.path ? 'page' : undefined}>
                  {n.label}
                </a>
              </li>
            ))}
          </ul>
        </nav>
        <div class="who">
          <span title={`${session.principal.kind}: ${session.principal.id}`}>
            {session.principal.name} <span class="muted">({session.principal.roles.join(', ') || 'no role'})</span>
          </span>
          <button type="button" onClick={signOut}>
            Sign out
          </button>
          <ErrorText error={signOutError} />
        </div>
      </header>
      <main id="main" tabIndex={-1}>
        <Page route={route} />
      </main>
    </>
  );
}

function Page({ route }: { route: Route }) {
  const [page, id] = route.segments;
  switch (page) {
    case undefined:
      return <OverviewPage />;
    case 'keys':
      return id ? <KeyDetailPage key={id} id={id} /> : <KeysPage />;
    case 'users':
      return <UsersPage />;
    case 'usage':
      return <UsagePage />;
    case 'audit':
      return id ? <AuditDetailPage key={id} id={id} /> : <AuditPage />;
    case 'credentials':
      return <CredentialsPage />;
    case 'lockdown':
      return <LockdownPage />;
    default:
      return (
        <>
          <PageTitle>Page not found</PageTitle>
          <p>
            There is no console page at this address. <a href="#/">Go to the overview</a>.
          </p>
        </>
      );
  }
}

render(<App />, document.getElementById('app')!);
