import { useMemo, useState } from 'preact/hooks';
import { admin, query, type AuditPage, type Key, type UsageSeries } from '../api.js';
import { Chart, METRICS, toChartData, type Metric } from '../chart.js';
import { href } from '../router.js';
import { Empty, ErrorText, Loading, PageTitle, StatusBadge, Time, money, num, useLoad } from '../ui.js';
import { AuditTable } from './audit.js';
import { KeyActions } from './key-actions.js';

const RANGES = [
  { value: '24h', label: 'Last 24 hours', bucket: '1h' },
  { value: '7d', label: 'Last 7 days', bucket: '1h' },
  { value: '30d', label: 'Last 30 days', bucket: '1d' },
];

/** One key: its settings, actions, recent usage and audit events. */
export function KeyDetailPage({ id }: { id: string }) {
  const key = useLoad(() => admin<Key>('GET', `keys/${encodeURIComponent(id)}`), [id]);
  const k = key.data;
  return (
    <>
      <p class="crumbs">
        <a href="#/keys">API keys</a> /
      </p>
      <PageTitle>{k ? `Key ${k.name}` : 'Key'}</PageTitle>
      <ErrorText error={key.error} />
      {key.loading && !k && <Loading what="the key" />}
      {k && (
        <>
          <div class="toolbar">
            <KeyActions k={k} onChanged={key.reload} />
          </div>
          <dl class="facts">
            <dt>Key id</dt>
            <dd>
              <code>{k.id}</code>
            </dd>
            <dt>Status</dt>
            <dd>
              <StatusBadge status={k.status} />
            </dd>
            <dt>User</dt>
            <dd>{k.user ?? '—'}</dd>
            <dt>Role</dt>
            <dd>{k.role}</dd>
            <dt>Instances</dt>
            <dd>{k.scopes.instances?.join(', ') ?? 'all'}</dd>
            <dt>Models</dt>
            <dd>{k.scopes.models?.join(', ') ?? 'all'}</dd>
            <dt>Requests per minute</dt>
            <dd>{k.limits.rpm === null ? 'no limit' : num(k.limits.rpm)}</dd>
            <dt>Tokens per minute</dt>
            <dd>{k.limits.tpm === null ? 'no limit' : num(k.limits.tpm)}</dd>
            <dt>Budget</dt>
            <dd>{k.limits.budget_usd === null ? 'no budget' : money(k.limits.budget_usd)}</dd>
            <dt>Created</dt>
            <dd>
              <Time iso={k.created_at} />
            </dd>
            <dt>Expires</dt>
            <dd>
              <Time iso={k.expires_at} empty="never" />
            </dd>
            <dt>Revoked</dt>
            <dd>
              <Time iso={k.revoked_at} empty="no" />
            </dd>
            <dt>Last used</dt>
            <dd>
              <Time iso={k.last_used_at} empty="never" />
            </dd>
            {k.rotated_from && (
              <>
                <dt>Replaces</dt>
                <dd>
                  <a href={href(['keys', k.rotated_from])}>
                    <code>{k.rotated_from}</code>
                  </a>
                </dd>
              </>
            )}
          </dl>
          <KeyUsage id={k.id} />
          <KeyAudit id={k.id} />
        </>
      )}
    </>
  );
}

function KeyUsage({ id }: { id: string }) {
  const [range, setRange] = useState('7d');
  const [metric, setMetric] = useState<Metric>('requests');
  const bucket = RANGES.find((r) => r.value === range)!.bucket;
  const series = useLoad(() => admin<UsageSeries>('GET', `usage/series${query({ since: range, bucket, by: 'none', key_id: id })}`), [id, range]);
  const chart = useMemo(() => (series.data ? toChartData(series.data, metric) : null), [series.data, metric]);
  const total = series.data?.series.reduce((n, g) => n + g.points.reduce((m, p) => m + p.requests, 0), 0) ?? 0;
  return (
    <section aria-labelledby="key-usage-title">
      <h2 id="key-usage-title">Recent usage</h2>
      <div class="filters">
        <div class="field">
          <label for="key-usage-range">Range</label>
          <select id="key-usage-range" value={range} onChange={(e) => setRange(e.currentTarget.value)}>
            {RANGES.map((r) => (
              <option key={r.value} value={r.value}>
                {r.label}
              </option>
            ))}
          </select>
        </div>
        <div class="field">
          <label for="key-usage-metric">Show</label>
          <select id="key-usage-metric" value={metric} onChange={(e) => setMetric(e.currentTarget.value as Metric)}>
            {METRICS.map((m) => (
              <option key={m.value} value={m.value}>
                {m.label}
              </option>
            ))}
          </select>
        </div>
      </div>
      <ErrorText error={series.error} />
      {series.loading && !series.data && <Loading what="usage" />}
      {series.data && total === 0 && <Empty>No requests with this key in this range.</Empty>}
      {chart && total > 0 && <Chart labels={chart.labels} data={chart.data} metric={metric} label={`${METRICS.find((m) => m.value === metric)!.label} of this key over time`} yLabel={METRICS.find((m) => m.value === metric)!.label} />}
    </section>
  );
}

function KeyAudit({ id }: { id: string }) {
  const events = useLoad(async () => {
    const [used, changed] = await Promise.all([
      admin<AuditPage>('GET', `audit${query({ key_id: id, limit: 25 })}`),
      // admin changes name the key in their path (revoke, rotate); a gateway without audit search
      // (no next_cursor in its answer) would ignore q and list every change, so its answer is dropped
      admin<AuditPage>('GET', `audit${query({ event: 'admin', q: id, limit: 25 })}`),
    ]);
    const changes = 'next_cursor' in changed ? changed.data.filter((e) => e.key_id !== id) : [];
    return { data: [...used.data, ...changes].sort((a, b) => b.time.localeCompare(a.time)) };
  }, [id]);
  return (
    <section aria-labelledby="key-audit-title">
      <h2 id="key-audit-title">Audit events</h2>
      <ErrorText error={events.error} />
      {events.loading && !events.data && <Loading what="audit events" />}
      {events.data && events.data.data.length === 0 && <Empty>No audit events for this key.</Empty>}
      {events.data && events.data.data.length > 0 && (
        <>
          <AuditTable events={events.data.data} caption="Latest audit events of this key: its requests and changes made to it" />
          <p>
            <a href={href(['audit'], { key_id: id })}>All audit events of this key</a>
          </p>
        </>
      )}
    </section>
  );
}
