import { useState } from 'preact/hooks';
import { admin, describe, type Credentials, type InstanceCredential } from '../api.js';
import { Countdown, Empty, ErrorText, Loading, PageTitle, StatusBadge, Time, useCan, useLoad } from '../ui.js';

/** Provider credential health per instance and secret reference; "Refresh now" with secrets:write. */
export function CredentialsPage() {
  const creds = useLoad(() => admin<Credentials>('GET', 'credentials'), []);
  const canRefresh = useCan('secrets:write');
  const data = creds.data;
  return (
    <>
      <PageTitle>Credentials</PageTitle>
      <div class="toolbar">
        <button type="button" onClick={creds.reload} disabled={creds.loading}>
          Reload
        </button>
      </div>
      <ErrorText error={creds.error} />
      {creds.loading && !data && <Loading what="credential health" />}
      {data && (
        <>
          <section aria-labelledby="cred-instances-title">
            <h2 id="cred-instances-title">Provider credentials</h2>
            {data.instances.length === 0 ? (
              <Empty>No provider instances are configured.</Empty>
            ) : (
              <div class="table-wrap" tabIndex={0}>
                <table>
                  <caption class="visually-hidden">Provider credential per instance</caption>
                  <thead>
                    <tr>
                      <th scope="col">Instance</th>
                      <th scope="col">Method</th>
                      <th scope="col">Status</th>
                      <th scope="col">Last refresh</th>
                      <th scope="col">Expires</th>
                      <th scope="col">Last error</th>
                      {canRefresh && (
                        <th scope="col">
                          <span class="visually-hidden">Actions</span>
                        </th>
                      )}
                    </tr>
                  </thead>
                  <tbody>
                    {data.instances.map((c) => (
                      <CredentialRow key={c.instance} c={c} canRefresh={canRefresh} onRefreshed={creds.reload} />
                    ))}
                  </tbody>
                </table>
              </div>
            )}
          </section>
          <section aria-labelledby="cred-secrets-title">
            <h2 id="cred-secrets-title">Secret references</h2>
            {data.secrets.length === 0 ? (
              <Empty>The configuration references no external secrets.</Empty>
            ) : (
              <div class="table-wrap" tabIndex={0}>
                <table>
                  <caption class="visually-hidden">Secret references</caption>
                  <thead>
                    <tr>
                      <th scope="col">Reference</th>
                      <th scope="col">Status</th>
                      <th scope="col">Last refresh</th>
                      <th scope="col">Last error</th>
                    </tr>
                  </thead>
                  <tbody>
                    {data.secrets.map((s) => (
                      <tr key={s.reference}>
                        <th scope="row">
                          <code>{s.reference}</code>
                        </th>
                        <td>
                          <StatusBadge status={s.status} />
                        </td>
                        <td>
                          <Time iso={s.last_refresh} empty="never" />
                        </td>
                        <td class="wrap">{s.last_error ?? '—'}</td>
                      </tr>
                    ))}
                  </tbody>
                </table>
              </div>
            )}
          </section>
        </>
      )}
    </>
  );
}

function CredentialRow({ c, canRefresh, onRefreshed }: { c: InstanceCredential; canRefresh: boolean; onRefreshed: () => void }) {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const [done, setDone] = useState<string | null>(null);
  async function refresh() {
    setBusy(true);
    setError(null);
    setDone(null);
    try {
      const r = await admin<InstanceCredential>('POST', `credentials/${encodeURIComponent(c.instance)}/refresh`);
      setDone(`Refreshed: ${r.status}.`);
      onRefreshed();
    } catch (err) {
      setError(describe(err));
    }
    setBusy(false);
  }
  return (
    <tr>
      <th scope="row">
        {c.instance} <span class="muted">({c.type})</span>
      </th>
      <td>{c.method}</td>
      <td>
        <StatusBadge status={c.status} />
      </td>
      <td>
        <Time iso={c.last_refresh} empty="never" />
      </td>
      <td>
        <Countdown iso={c.expires_at} />
      </td>
      <td class="wrap">{c.last_error ?? '—'}</td>
      {canRefresh && (
        <td>
          <button type="button" onClick={refresh} disabled={busy} aria-label={`Refresh now: ${c.instance}`}>
            {busy ? 'Refreshing…' : 'Refresh now'}
          </button>
          <ErrorText error={error} />
          {done && (
            <p role="status" class="muted">
              {done}
            </p>
          )}
        </td>
      )}
    </tr>
  );
}
