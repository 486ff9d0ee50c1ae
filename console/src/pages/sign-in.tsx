import { useEffect, useRef, useState } from 'preact/hooks';
import { ApiError, BASE, consoleApi, describe, type SessionInfo, type SignInOptions } from '../api.js';
import { ErrorText, Loading, PageTitle, useLoad } from '../ui.js';

/** Sign in with an API key, a Basic user and password, or an OIDC provider (each with TOTP when asked). */
export function SignInPage({ error, onSignedIn }: { error: string | null; onSignedIn: (info: SessionInfo) => void }) {
  const info = useLoad(() => consoleApi<SignInOptions>('GET', 'api/info'), []);
  const methods = info.data?.sign_in;
  return (
    <>
      <PageTitle>Sign in</PageTitle>
      <ErrorText error={error} />
      {info.loading && !methods && <Loading what="the sign-in options" />}
      <ErrorText error={info.error} />
      {methods && !methods.api_key && !methods.basic && methods.oidc.length === 0 && <p>No sign-in method is enabled on this gateway.</p>}
      {methods?.api_key && <KeySignIn onSignedIn={onSignedIn} />}
      {methods?.basic && <PasswordSignIn onSignedIn={onSignedIn} />}
      {methods && methods.oidc.length > 0 && (
        <section class="card">
          <h2 id="oidc-title">Single sign-on</h2>
          <ul class="plain">
            {methods.oidc.map((p) => (
              <li key={p.id}>
                <a class="button primary" href={`${BASE}api/oidc/start?provider=${encodeURIComponent(p.id)}`}>
                  Sign in with {p.label}
                </a>
              </li>
            ))}
          </ul>
        </section>
      )}
    </>
  );
}

/** Posts a sign-in; a `totp_required` answer reveals the code field instead of failing. */
function useSignIn(onSignedIn: (info: SessionInfo) => void) {
  const [needTotp, setNeedTotp] = useState(false);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  async function submit(body: Record<string, string>) {
    setBusy(true);
    setError(null);
    try {
      onSignedIn(await consoleApi<SessionInfo>('POST', 'api/session', body));
    } catch (err) {
      if (err instanceof ApiError && err.code === 'totp_required') {
        setNeedTotp(true);
        setError(body['totp'] ? err.message : 'Enter the 6-digit code from your authenticator app (or a backup code).');
      } else setError(describe(err));
      setBusy(false);
    }
  }
  return { needTotp, busy, error, submit };
}

function TotpField({ id, value, onInput }: { id: string; value: string; onInput: (v: string) => void }) {
  // the field appears after a submit: move there (autofocus only works on page load)
  const ref = useRef<HTMLInputElement>(null);
  useEffect(() => ref.current?.focus(), []);
  return (
    <div class="field">
      <label for={id}>One-time code</label>
      <input id={id} ref={ref} value={value} inputMode="numeric" autoComplete="one-time-code" required onInput={(e) => onInput(e.currentTarget.value.trim())} />
    </div>
  );
}

function KeySignIn({ onSignedIn }: { onSignedIn: (info: SessionInfo) => void }) {
  const [key, setKey] = useState('');
  const [totp, setTotp] = useState('');
  const s = useSignIn(onSignedIn);
  return (
    <section class="card">
      <h2 id="key-title">With an API key</h2>
      <form
        onSubmit={(e) => {
          e.preventDefault();
          void s.submit({ method: 'api_key', key: key.trim(), ...(s.needTotp ? { totp } : {}) });
        }}
      >
        <div class="field">
          <label for="signin-key">API key</label>
          <input id="signin-key" type="password" value={key} required autoComplete="off" spellcheck={false} onInput={(e) => setKey(e.currentTarget.value)} />
        </div>
        {s.needTotp && <TotpField id="signin-key-totp" value={totp} onInput={setTotp} />}
        <ErrorText error={s.error} />
        <button type="submit" class="primary" disabled={s.busy}>
          Sign in with key
        </button>
      </form>
    </section>
  );
}

function PasswordSignIn({ onSignedIn }: { onSignedIn: (info: SessionInfo) => void }) {
  const [user, setUser] = useState('');
  const [password, setPassword] = useState('');
  const [totp, setTotp] = useState('');
  const s = useSignIn(onSignedIn);
  return (
    <section class="card">
      <h2 id="basic-title">With a user name and password</h2>
      <form
        onSubmit={(e) => {
          e.preventDefault();
          void s.submit({ method: 'basic', user: user.trim(), password, ...(s.needTotp ? { totp } : {}) });
        }}
      >
        <div class="field">
          <label for="signin-user">User name</label>
          <input id="signin-user" value={user} required autoComplete="username" onInput={(e) => setUser(e.currentTarget.value)} />
        </div>
        <div class="field">
          <label for="signin-password">Password</label>
          <input id="signin-password" type="password" value={password} required autoComplete="current-password" onInput={(e) => setPassword(e.currentTarget.value)} />
        </div>
        {s.needTotp && <TotpField id="signin-basic-totp" value={totp} onInput={setTotp} />}
        <ErrorText error={s.error} />
        <button type="submit" class="primary" disabled={s.busy}>
          Sign in with password
        </button>
      </form>
    </section>
  );
}
