import { useMemo, useState } from 'preact/hooks';
import { admin, query, type UsageBy, type UsageSeries, type UsageSummary } from '../api.js';
import { Chart, METRICS, toChartData, type Metric } from '../chart.js';
import { Empty, ErrorText, Loading, PageTitle, Time, money, num, useLoad } from '../ui.js';

const RANGES = [
  { value: '1h', label: 'Last hour', bucket: '5m' },
  { value: '24h', label: 'Last 24 hours', bucket: '1h' },
  { value: '7d', label: 'Last 7 days', bucket: '1h' },
  { value: '30d', label: 'Last 30 days', bucket: '1d' },
  { value: 'custom', label: 'Custom dates', bucket: '' },
];
const GROUPS: { value: UsageBy; label: string }[] = [
  { value: 'key', label: 'Key' },
  { value: 'user', label: 'User' },
  { value: 'instance', label: 'Instance' },
  { value: 'model', label: 'Model' },
];
const DAY = 86_400_000;

/** Start of a `YYYY-MM-DD` day in the browser's zone, as ISO. */
function dayStart(date: string): string {
  return new Date(`${date}T00:00`).toISOString();
}

/** Usage over time (chart) and in total (table) by key, user, instance or model, with CSV export. */
export function UsagePage() {
  const [range, setRange] = useState('24h');
  const [from, setFrom] = useState(new Date(Date.now() - 7 * DAY).toISOString().slice(0, 10));
  const [to, setTo] = useState(new Date().toISOString().slice(0, 10));
  const [by, setBy] = useState<UsageBy>('instance');
  const [metric, setMetric] = useState<Metric>('requests');

  const custom = range === 'custom';
  const since = custom ? (from ? dayStart(from) : '') : range;
  // the "to" day is included: the range ends at the start of the next day
  const until = custom && to ? new Date(new Date(`${to}T00:00`).getTime() + DAY).toISOString() : '';
  const spanMs = custom ? Date.parse(until || new Date().toISOString()) - Date.parse(since) : 0;
  const bucket = custom ? (spanMs <= 2 * DAY ? '1h' : '1d') : RANGES.find((r) => r.value === range)!.bucket;
  const rangeError = custom && (!from || !to || !(spanMs > 0)) ? 'Choose a start date before the end date.' : null;
  const params = { since, until, by };

  const series = useLoad(
    () => (rangeError ? Promise.resolve(undefined) : admin<UsageSeries>('GET', `usage/series${query({ ...params, bucket })}`)),
    [since, until, by, bucket, rangeError],
  );
  const table = useLoad(() => (rangeError ? Promise.resolve(undefined) : admin<UsageSummary>('GET', `usage${query(params)}`)), [since, until, by, rangeError]);
  const chart = useMemo(() => (series.data ? toChartData(series.data, metric) : null), [series.data, metric]);
  const hasPoints = series.data?.series.some((g) => g.points.length > 0) ?? false;
  const metricLabel = METRICS.find((m) => m.value === metric)!.label;
  const groupLabel = GROUPS.find((g) => g.value === by)!.label;

  return (
    <>
      <PageTitle>Usage</PageTitle>
      <form class="filters" aria-label="Usage filters" onSubmit={(e) => e.preventDefault()}>
        <div class="field">
          <label for="usage-range">Range</label>
          <select id="usage-range" value={range} onChange={(e) => setRange(e.currentTarget.value)}>
            {RANGES.map((r) => (
              <option key={r.value} value={r.value}>
                {r.label}
              </option>
            ))}
          </select>
        </div>
        {custom && (
          <>
            <div class="field">
              <label for="usage-from">From</label>
              <input id="usage-from" type="date" value={from} max={to} onChange={(e) => setFrom(e.currentTarget.value)} />
            </div>
            <div class="field">
              <label for="usage-to">To</label>
              <input id="usage-to" type="date" value={to} min={from} onChange={(e) => setTo(e.currentTarget.value)} />
            </div>
          </>
        )}
        <div class="field">
          <label for="usage-by">Group by</label>
          <select id="usage-by" value={by} onChange={(e) => setBy(e.currentTarget.value as UsageBy)}>
            {GROUPS.map((g) => (
              <option key={g.value} value={g.value}>
                {g.label}
              </option>
            ))}
          </select>
        </div>
        <div class="field">
          <label for="usage-metric">Show</label>
          <select id="usage-metric" value={metric} onChange={(e) => setMetric(e.currentTarget.value as Metric)}>
            {METRICS.map((m) => (
              <option key={m.value} value={m.value}>
                {m.label}
              </option>
            ))}
          </select>
        </div>
      </form>
      <ErrorText error={rangeError} />

      <section aria-labelledby="usage-chart-title">
        <h2 id="usage-chart-title">
          {metricLabel} by {groupLabel.toLowerCase()} over time
        </h2>
        <ErrorText error={series.error} />
        {series.loading && !series.data && <Loading what="the chart" />}
        {series.data && !hasPoints && <Empty>No requests in this range.</Empty>}
        {chart && hasPoints && <Chart labels={chart.labels} data={chart.data} metric={metric} label={`${metricLabel} by ${groupLabel.toLowerCase()}, one line per ${groupLabel.toLowerCase()}, per ${series.data!.bucket}`} yLabel={metricLabel} />}
      </section>

      <section aria-labelledby="usage-table-title">
        <h2 id="usage-table-title">Totals by {groupLabel.toLowerCase()}</h2>
        {!rangeError && (
          <p>
            <a class="button" href={`/admin/v1/usage${query({ ...params, format: 'csv' })}`} download>
              Export CSV
            </a>
          </p>
        )}
        <ErrorText error={table.error} />
        {table.loading && !table.data && <Loading what="totals" />}
        {table.data && (
          <p class="muted">
            From <Time iso={table.data.since} /> to {table.data.until ? <Time iso={table.data.until} /> : 'now'}.
          </p>
        )}
        {table.data && table.data.data.length === 0 && <Empty>No requests in this range.</Empty>}
        {table.data && table.data.data.length > 0 && (
          <div class="table-wrap" tabIndex={0}>
            <table>
              <caption class="visually-hidden">Usage totals by {groupLabel.toLowerCase()}</caption>
              <thead>
                <tr>
                  <th scope="col">{groupLabel}</th>
                  <th scope="col">Requests</th>
                  <th scope="col">Tokens in</th>
                  <th scope="col">Tokens out</th>
                  <th scope="col">Cost</th>
                </tr>
              </thead>
              <tbody>
                {table.data.data.map((r) => (
                  <tr key={r.group ?? ''}>
                    <th scope="row">{r.group ?? <span class="muted">(none)</span>}</th>
                    <td class="num">{num(r.requests)}</td>
                    <td class="num">{num(r.input_tokens)}</td>
                    <td class="num">{num(r.output_tokens)}</td>
                    <td class="num">{money(r.cost_usd)}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        )}
      </section>
    </>
  );
}
