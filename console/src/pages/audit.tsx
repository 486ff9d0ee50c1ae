import { useState } from 'preact/hooks';
import { admin, describe, query, type AuditEvent, type AuditPage as AuditAnswer } from '../api.js';
import { href, navigate, useRoute } from '../router.js';
import { Empty, ErrorText, Loading, PageTitle, StatusBadge, Time, useLoad } from '../ui.js';

const FILTERS = ['event', 'result', 'key_id', 'user', 'instance', 'since', 'until', 'q'] as const;
type Filter = (typeof FILTERS)[number];
const PAGE = 50;

/** What happened, in a few words: the admin action and its target, or the request line and its reason. */
function what(e: AuditEvent): string {
  const target = typeof e.detail?.['target'] === 'string' ? ` ${e.detail['target']}` : '';
  if (e.event === 'admin') return `${e.reason ?? 'change'}${target}`;
  return [`${e.http_method} ${e.path}`, e.reason].filter(Boolean).join(' — ');
}

export function AuditTable({ events, caption }: { events: AuditEvent[]; caption: string }) {
  return (
    <div class="table-wrap" tabIndex={0}>
      <table>
        <caption class="visually-hidden">{caption}</caption>
        <thead>
          <tr>
            <th scope="col">Time</th>
            <th scope="col">Event</th>
            <th scope="col">Result</th>
            <th scope="col">Who</th>
            <th scope="col">What</th>
            <th scope="col">Instance</th>
            <th scope="col">Client address</th>
            <th scope="col">
              <span class="visually-hidden">Details</span>
            </th>
          </tr>
        </thead>
        <tbody>
          {events.map((e, i) => (
            <tr key={e.id ?? `${e.request_id}-${i}`}>
              <td>
                <Time iso={e.time} seconds />
              </td>
              <td>{e.event}</td>
              <td>
                <StatusBadge status={e.result} />
              </td>
              <td>
                {e.user ?? '—'}
                {e.key_id && (
                  <>
                    {' '}
                    <a href={href(['keys', e.key_id])}>
                      <code>{e.key_id}</code>
                    </a>
                  </>
                )}
              </td>
              <td class="wrap">{what(e)}</td>
              <td>{e.instance ?? '—'}</td>
              <td>{e.client_address}</td>
              <td>{e.id !== undefined && <a href={href(['audit', String(e.id)])}>Details</a>}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

/** `2026-12-08T10:00` (a datetime-local value, the browser's zone) → ISO UTC; ISO stays ISO. */
function isoOf(local: string): string {
  if (!local) return '';
  const d = new Date(local);
  return Number.isNaN(d.getTime()) ? local : d.toISOString();
}
/** ISO → a datetime-local value in the browser's zone. */
function localOf(iso: string | null): string {
  if (!iso) return '';
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return '';
  const pad = (n: number) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}`;
}

/** The audit log: filters live in the address (`#/audit?result=denied`), so a filtered view can be linked. */
export function AuditPage() {
  const route = useRoute();
  const applied = Object.fromEntries(FILTERS.map((f) => [f, route.params.get(f) ?? ''])) as Record<Filter, string>;
  const appliedKey = FILTERS.map((f) => applied[f]).join('\u0000');
  const [form, setForm] = useState<Record<Filter, string>>({ ...applied, since: localOf(applied.since), until: localOf(applied.until) });
  const [more, setMore] = useState<{ events: AuditEvent[]; cursor: string | null | undefined; error: string | null; busy: boolean } | null>(null);

  const first = useLoad(async () => {
    setMore(null);
    return admin<AuditAnswer>('GET', `audit${query({ ...applied, limit: PAGE })}`);
  }, [appliedKey]);

  const events = [...(first.data?.data ?? []), ...(more?.events ?? [])];
  const cursor = more ? more.cursor : first.data?.next_cursor;

  async function loadMore() {
    if (!cursor) return;
    setMore({ events: more?.events ?? [], cursor, error: null, busy: true });
    try {
      const page = await admin<AuditAnswer>('GET', `audit${query({ ...applied, limit: PAGE, cursor })}`);
      setMore({ events: [...(more?.events ?? []), ...page.data], cursor: page.next_cursor, error: null, busy: false });
    } catch (err) {
      setMore({ events: more?.events ?? [], cursor, error: describe(err), busy: false });
    }
  }

  function apply(e: Event) {
    e.preventDefault();
    navigate(href(['audit'], { ...form, since: isoOf(form.since), until: isoOf(form.until) }));
  }
  const input = (f: Filter, label: string, type: 'text' | 'datetime-local' = 'text', list?: string) => (
    <div class="field">
      <label for={`audit-${f}`}>{label}</label>
      <input id={`audit-${f}`} type={type} value={form[f]} list={list} onInput={(e) => setForm({ ...form, [f]: e.currentTarget.value })} />
    </div>
  );

  return (
    <>
      <PageTitle>Audit log</PageTitle>
      <form class="filters" aria-label="Audit filters" onSubmit={apply}>
        {input('event', 'Event', 'text', 'audit-events')}
        <datalist id="audit-events">
          <option value="auth" />
          <option value="admin" />
          <option value="lockdown" />
          <option value="console" />
        </datalist>
        <div class="field">
          <label for="audit-result">Result</label>
          <select id="audit-result" value={form.result} onChange={(e) => setForm({ ...form, result: e.currentTarget.value })}>
            <option value="">Any</option>
            <option value="success">Success</option>
            <option value="failure">Failure</option>
            <option value="denied">Denied</option>
            <option value="throttled">Throttled</option>
          </select>
        </div>
        {input('key_id', 'Key id')}
        {input('user', 'User')}
        {input('instance', 'Instance')}
        {input('since', 'From', 'datetime-local')}
        {input('until', 'Until', 'datetime-local')}
        {input('q', 'Text')}
        <div class="actions">
          <button type="submit" class="primary">
            Filter
          </button>
          <a class="button" href="#/audit" onClick={() => setForm({ event: '', result: '', key_id: '', user: '', instance: '', since: '', until: '', q: '' })}>
            Clear filters
          </a>
        </div>
      </form>
      <ErrorText error={first.error} />
      {first.loading && !first.data && <Loading what="audit events" />}
      {first.data && events.length === 0 && <Empty>No audit event matches these filters.</Empty>}
      {events.length > 0 && <AuditTable events={events} caption="Audit events, newest first" />}
      <ErrorText error={more?.error} />
      {cursor && (
        <p>
          <button type="button" onClick={loadMore} disabled={more?.busy}>
            Load older events
          </button>
        </p>
      )}
    </>
  );
}

/** One event; an admin change shows its before and after side by side. */
export function AuditDetailPage({ id }: { id: string }) {
  const event = useLoad(() => admin<AuditEvent>('GET', `audit/${encodeURIComponent(id)}`), [id]);
  const e = event.data;
  return (
    <>
      <p class="crumbs">
        <a href="#/audit">Audit log</a> /
      </p>
      <PageTitle>Audit event</PageTitle>
      <ErrorText error={event.error} />
      {event.loading && !e && <Loading what="the event" />}
      {e && (
        <>
          <dl class="facts">
            <dt>Time</dt>
            <dd>
              <Time iso={e.time} seconds />
            </dd>
            <dt>Event</dt>
            <dd>{e.event}</dd>
            <dt>Result</dt>
            <dd>
              <StatusBadge status={e.result} />
            </dd>
            <dt>Reason / action</dt>
            <dd>{e.reason ?? '—'}</dd>
            <dt>User</dt>
            <dd>{e.user ?? '—'}</dd>
            <dt>Key</dt>
            <dd>{e.key_id ? <a href={href(['keys', e.key_id])}>{e.key_id}</a> : '—'}</dd>
            <dt>Sign-in method</dt>
            <dd>{e.method}</dd>
            <dt>Request</dt>
            <dd>
              <code>
                {e.http_method} {e.path}
              </code>
            </dd>
            <dt>Request id</dt>
            <dd>
              <code>{e.request_id}</code>
            </dd>
            <dt>Instance</dt>
            <dd>{e.instance ?? '—'}</dd>
            <dt>Client address</dt>
            <dd>{e.client_address}</dd>
          </dl>
          {e.detail && <Detail detail={e.detail} />}
        </>
      )}
    </>
  );
}

/** `{a:{b:1}}` → [['a.b', 1]]: one row per leaf, so a change in a nested field shows on its own row. */
function flatten(value: unknown, prefix = '', out = new Map<string, unknown>()): Map<string, unknown> {
  if (value !== null && typeof value === 'object' && !Array.isArray(value)) {
    for (const [k, v] of Object.entries(value)) flatten(v, prefix ? `${prefix}.${k}` : k, out);
  } else out.set(prefix, value);
  return out;
}
const show = (v: unknown) => (v === undefined ? '' : v === null ? 'null' : typeof v === 'string' ? v : JSON.stringify(v));

function Detail({ detail }: { detail: Record<string, unknown> }) {
  const { before, after, ...rest } = detail;
  const hasChange = before !== undefined || after !== undefined;
  const b = flatten(before ?? {});
  const a = flatten(after ?? {});
  const fields = [...new Set([...b.keys(), ...a.keys()])];
  return (
    <>
      {hasChange && (
        <section aria-labelledby="change-title">
          <h2 id="change-title">Change</h2>
          <div class="table-wrap" tabIndex={0}>
            <table class="diff">
              <caption class="visually-hidden">Fields before and after the change; changed rows are marked</caption>
              <thead>
                <tr>
                  <th scope="col">Field</th>
                  <th scope="col">Before</th>
                  <th scope="col">After</th>
                </tr>
              </thead>
              <tbody>
                {fields.map((f) => {
                  const changed = show(b.get(f)) !== show(a.get(f));
                  return (
                    <tr key={f} class={changed ? 'changed' : undefined}>
                      <th scope="row">
                        {f}
                        {changed && <span class="visually-hidden"> (changed)</span>}
                      </th>
                      <td>{before === undefined ? <span class="muted">(did not exist)</span> : <code>{show(b.get(f))}</code>}</td>
                      <td>{after === undefined ? <span class="muted">(none)</span> : <code>{show(a.get(f))}</code>}</td>
                    </tr>
                  );
                })}
              </tbody>
            </table>
          </div>
        </section>
      )}
      {Object.keys(rest).length > 0 && (
        <section aria-labelledby="detail-title">
          <h2 id="detail-title">Details</h2>
          <pre class="json">{JSON.stringify(rest, null, 2)}</pre>
        </section>
      )}
    </>
  );
}
