import { admin, type Overview, type Totals } from '../api.js';
import { Empty, ErrorText, Loading, PageTitle, StatusBadge, Time, money, num, useLoad } from '../ui.js';

/** Requests, errors, tokens and cost per instance for the last hour and day; credential health; lockdown. */
export function OverviewPage() {
  const o = useLoad(() => admin<Overview>('GET', 'overview'), []);
  const data = o.data;
  return (
    <>
      <PageTitle>Overview</PageTitle>
      <div class="toolbar">
        <button type="button" onClick={o.reload} disabled={o.loading}>
          Refresh
        </button>
        {data && (
          <span class="muted">
            As of <Time iso={data.generated_at} />
          </span>
        )}
      </div>
      <ErrorText error={o.error} />
      {o.loading && !data && <Loading what="the overview" />}
      {data && (
        <>
          <LockdownBanner o={data} />
          <section aria-labelledby="totals-title">
            <h2 id="totals-title">Traffic</h2>
            <div class="cards">
              <TotalsCard title="Last hour" t={data.windows['1h'].total} />
              <TotalsCard title="Last 24 hours" t={data.windows['24h'].total} />
            </div>
            <PerInstance o={data} />
          </section>
          <section aria-labelledby="instances-title">
            <h2 id="instances-title">Instances</h2>
            {data.instances.length === 0 ? (
              <Empty>No provider instances are configured.</Empty>
            ) : (
              <div class="table-wrap" tabIndex={0}>
                <table>
                  <thead>
                    <tr>
                      <th scope="col">Instance</th>
                      <th scope="col">Type</th>
                      <th scope="col">Traffic</th>
                      <th scope="col">Credential</th>
                      <th scope="col">Method</th>
                      <th scope="col">Last refresh</th>
                      <th scope="col">Expires</th>
                      <th scope="col">Last error</th>
                    </tr>
                  </thead>
                  <tbody>
                    {data.instances.map((i) => (
                      <tr key={i.name}>
                        <th scope="row">{i.name}</th>
                        <td>{i.type}</td>
                        <td>{i.disabled ? <StatusBadge status="disabled" /> : <StatusBadge status="enabled" />}</td>
                        <td>
                          <StatusBadge status={i.credential.status} />
                        </td>
                        <td>{i.credential.method}</td>
                        <td>
                          <Time iso={i.credential.last_refresh} />
                        </td>
                        <td>
                          <Time iso={i.credential.expires_at} empty="no expiry" />
                        </td>
                        <td class="wrap">{i.credential.last_error ?? '—'}</td>
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

function LockdownBanner({ o }: { o: Overview }) {
  const l = o.lockdown;
  const disabled = Object.keys(l.disabled_instances);
  if (!l.on && disabled.length === 0)
    return (
      <p class="banner good">
        Lockdown is off; all instances take traffic. <a href="#/lockdown">Lockdown controls</a>
      </p>
    );
  return (
    <div class="banner bad" role="status">
      {l.on ? (
        <p>
          <strong>Lockdown is on</strong> since <Time iso={l.since} />
          {l.actor ? ` (by ${l.actor})` : ''}
          {l.reason ? `: ${l.reason}` : ''}. Inference requests are refused.
        </p>
      ) : null}
      {disabled.length > 0 && <p>Disabled instances: {disabled.join(', ')}.</p>}
      <p>
        <a href="#/lockdown">Lockdown controls</a>
      </p>
    </div>
  );
}

function TotalsCard({ title, t }: { title: string; t: Totals }) {
  return (
    <div class="card stat">
      <h3>{title}</h3>
      <dl>
        <dt>Requests</dt>
        <dd>{num(t.requests)}</dd>
        <dt>Errors</dt>
        <dd class={t.errors > 0 ? 'bad' : undefined}>{num(t.errors)}</dd>
        <dt>Tokens in / out</dt>
        <dd>
          {num(t.input_tokens)} / {num(t.output_tokens)}
        </dd>
        <dt>Cost</dt>
        <dd>{money(t.cost_usd)}</dd>
      </dl>
    </div>
  );
}

function PerInstance({ o }: { o: Overview }) {
  const names = new Set([...o.instances.map((i) => i.name), ...o.windows['1h'].instances.map((i) => i.instance), ...o.windows['24h'].instances.map((i) => i.instance)]);
  const row = (w: '1h' | '24h', name: string | null) => o.windows[w].instances.find((i) => i.instance === name);
  if (names.size === 0) return null;
  return (
    <div class="table-wrap" tabIndex={0}>
      <table>
        <caption>Per instance (last hour · last 24 hours)</caption>
        <thead>
          <tr>
            <th scope="col">Instance</th>
            <th scope="col">Requests</th>
            <th scope="col">Errors</th>
            <th scope="col">Tokens in</th>
            <th scope="col">Tokens out</th>
            <th scope="col">Cost</th>
          </tr>
        </thead>
        <tbody>
          {[...names].map((name) => {
            const h = row('1h', name);
            const d = row('24h', name);
            const pair = (f: (t: Totals | undefined) => string) => `${f(h)} · ${f(d)}`;
            return (
              <tr key={name ?? ''}>
                <th scope="row">{name ?? <span class="muted">(no instance)</span>}</th>
                <td class="num">{pair((t) => num(t?.requests ?? 0))}</td>
                <td class="num">{pair((t) => num(t?.errors ?? 0))}</td>
                <td class="num">{pair((t) => num(t?.input_tokens ?? 0))}</td>
                <td class="num">{pair((t) => num(t?.output_tokens ?? 0))}</td>
                <td class="num">{pair((t) => money(t?.cost_usd ?? 0))}</td>
              </tr>
            );
          })}
        </tbody>
      </table>
    </div>
  );
}
