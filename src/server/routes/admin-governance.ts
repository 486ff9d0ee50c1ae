import { z } from 'zod';
import { GatewayError } from '../../errors/gateway-error.js';
import type { LockdownState } from '../../governance/index.js';
import type { RequestContext } from '../../request/context.js';
import type { UsageFilter, UsageGroupBy, UsageSummaryRow } from '../../store/governance-types.js';
import type { AdminEndpoint } from './admin-types.js';
import { queryOf, sinceOf } from './admin-query.js';

const GROUPS: readonly UsageGroupBy[] = ['key', 'user', 'instance', 'model'];
const SERIES_GROUPS: ReadonlyArray<UsageGroupBy | 'none'> = ['none', ...GROUPS];
/** `bucket=` of a usage series and its length. */
const BUCKETS: Readonly<Record<string, number>> = { '5m': 300_000, '1h': 3_600_000, '1d': 86_400_000 };
/** At most this many buckets per series, and this many series (the groups with the largest cost). */
export const MAX_SERIES_POINTS = 2_000;
export const MAX_SERIES = 20;
const reason = z.string().trim().min(1).max(500).optional();

export function lockdownJson(s: LockdownState) {
  return {
    on: s.on,
    source: s.source,
    reason: s.reason,
    actor: s.actor,
    since: s.since === null ? null : new Date(s.since).toISOString(),
    disabled_instances: Object.fromEntries(
      Object.entries(s.disabledInstances).map(([name, d]) => [name, { reason: d.reason, actor: d.actor, since: new Date(d.since).toISOString() }]),
    ),
  };
}

/** The `key_id`, `user`, `instance` and `model` parameters (an empty one is absent). */
function usageFilterOf(q: Record<string, string>): UsageFilter {
  const filter: UsageFilter = {};
  for (const [param, field] of [['key_id', 'keyId'], ['user', 'user'], ['instance', 'instance'], ['model', 'model']] as const) {
    const v = q[param];
    if (v === undefined || v === '') continue;
    if (v.length > 256) throw new GatewayError('invalid_request', `"${param}" must be at most 256 characters`);
    filter[field] = v;
  }
  return filter;
}

/** `[since, until)` from the query: `since` defaults to `defaultSince` back from now; `until` to absent. */
function rangeOf(q: Record<string, string>, defaultSince: string, now: number): { since: number; until: number | undefined } {
  const since = sinceOf(q['since'] || defaultSince, now)!;
  const until = sinceOf(q['until'], now, 'until');
  if (until !== undefined && until <= since) throw new GatewayError('invalid_request', '"until" must be after "since"');
  return { since, until };
}

/**
 * A CSV cell (RFC 4180): quoted when it holds a quote, comma or line break; text a spreadsheet
 * would run as a formula (starting with = + - @, tab or CR) gets a leading ' (OWASP CSV injection).
 */
function csvCell(v: string | number | null): string {
  if (typeof v === 'number') return String(v);
  let t = v ?? '';
  if (/^[=+\-@\t\r]/.test(t)) t = `'${t}`;
  return /[",\r\n]/.test(t) ? `"${t.replaceAll('"', '""')}"` : t;
}

function usageCsv(rows: readonly UsageSummaryRow[]): string {
  const lines = [['group', 'requests', 'input_tokens', 'output_tokens', 'cost_usd'].join(',')];
  for (const r of rows) lines.push([r.group, r.requests, r.input_tokens, r.output_tokens, r.cost_usd].map(csvCell).join(','));
  return lines.join('\r\n') + '\r\n';
}

/** Who made a lockdown change, for its audit event: the principal's user, else its id. */
function actor(ctx: RequestContext): string {
  const p = ctx.principal!;
  return p.user ?? p.id;
}

/**
 * Usage totals (JSON or CSV), usage over time and the emergency switch. Lockdown changes are audited by the lockdown
 * controller itself (`event: 'lockdown'`, as for the CLI), so they are not audited twice here.
 */
export const GOVERNANCE_ENDPOINTS: AdminEndpoint[] = [
  {
    method: 'GET',
    path: 'usage',
    permission: 'admin:read',
    async handle(ctx, _p, { deps }) {
      const q = queryOf(ctx);
      const by = (q['by'] ?? 'key') as UsageGroupBy;
      if (!GROUPS.includes(by)) throw new GatewayError('invalid_request', `"by" must be one of ${GROUPS.join(', ')}`);
      const format = q['format'] ?? 'json';
      if (format !== 'json' && format !== 'csv') throw new GatewayError('invalid_request', '"format" must be json or csv');
      const now = Date.now();
      const { since, until } = rangeOf(q, '30d', now);
      const filter = usageFilterOf(q);
      const rows = await deps.governance.usageSummary({ by, since, ...(until !== undefined ? { until } : {}), ...(Object.keys(filter).length > 0 ? { filter } : {}) });
      if (format === 'csv') {
        const filename = `usage-${by}-${new Date(now).toISOString().slice(0, 10)}.csv`;
        return { text: usageCsv(rows), headers: { 'content-type': 'text/csv; charset=utf-8', 'content-disposition': `attachment; filename="${filename}"` } };
      }
      return { body: { by, since: new Date(since).toISOString(), until: until === undefined ? null : new Date(until).toISOString(), data: rows } };
    },
  },
  {
    method: 'GET',
    path: 'usage/series',
    permission: 'admin:read',
    async handle(ctx, _p, { deps }) {
      const q = queryOf(ctx);
      const by = (q['by'] || 'none') as UsageGroupBy | 'none';
      if (!SERIES_GROUPS.includes(by)) throw new GatewayError('invalid_request', `"by" must be one of ${SERIES_GROUPS.join(', ')}`);
      const bucket = q['bucket'] || '1h';
      const bucketMs = BUCKETS[bucket];
      if (!Object.hasOwn(BUCKETS, bucket) || bucketMs === undefined) throw new GatewayError('invalid_request', `"bucket" must be one of ${Object.keys(BUCKETS).join(', ')}`);
      const now = Date.now();
      const range = rangeOf(q, '24h', now);
      // Buckets start on UTC multiples of their length (1d: midnight UTC), so the first one is whole.
      const since = Math.floor(range.since / bucketMs) * bucketMs;
      const until = range.until ?? now;
      if (until <= since) throw new GatewayError('invalid_request', '"until" must be after "since"');
      const buckets = Math.ceil((until - since) / bucketMs);
      if (buckets > MAX_SERIES_POINTS) {
        throw new GatewayError('invalid_request', `"since" to "until" spans ${buckets} buckets of ${bucket}; at most ${MAX_SERIES_POINTS}: choose a larger "bucket" or a shorter range`);
      }
      const filter = usageFilterOf(q);
      const series = await deps.governance.usageSeries({ by, since, until, bucketMs, maxGroups: MAX_SERIES, ...(Object.keys(filter).length > 0 ? { filter } : {}) });
      return {
        body: {
          bucket,
          since: new Date(since).toISOString(),
          until: new Date(until).toISOString(),
          series: series.map((s) => ({ group: s.group, points: s.points.map((p) => ({ ...p, time: new Date(p.time).toISOString() })) })),
        },
      };
    },
  },
  {
    method: 'GET',
    path: 'lockdown',
    permission: 'admin:read',
    async handle(_ctx, _p, { deps }) {
      return { body: lockdownJson(deps.governance.lockdown.state()) };
    },
  },
  {
    method: 'POST',
    path: 'lockdown',
    permission: 'llm:admin',
    async handle(ctx, _p, admin) {
      const b = admin.body(ctx, z.strictObject({ on: z.boolean(), reason }));
      const state = await admin.deps.governance.lockdown.set(b.on, actor(ctx), b.reason, { requestId: ctx.id, clientAddress: ctx.clientAddress, keyId: ctx.principal?.keyId });
      return { body: lockdownJson(state) };
    },
  },
  {
    method: 'POST',
    path: 'lockdown/instances/:name',
    permission: 'llm:admin',
    async handle(ctx, { name }, admin) {
      const b = admin.body(ctx, z.strictObject({ disabled: z.boolean(), reason }));
      if (!admin.deps.instances.all.some((i) => i.name === name)) throw new GatewayError('not_found', 'no instance with that name');
      const state = await admin.deps.governance.lockdown.setInstance(name!, b.disabled, actor(ctx), b.reason, { requestId: ctx.id, clientAddress: ctx.clientAddress, keyId: ctx.principal?.keyId });
      return { body: lockdownJson(state) };
    },
  },
];
