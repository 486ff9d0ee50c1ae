import type { UsageFilter, UsagePoint, UsageSeries, UsageSummaryRow } from './governance-types.js';
import type { AuditDetail, AuditEvent, AuditSeverity } from './types.js';

/** A database row as both drivers return it: column name → value. */
export type Row = Record<string, unknown>;

/** An `audit_log` row as an event; `detail` is decoded by the caller (TEXT in SQLite, JSONB in PostgreSQL). */
export function auditEventFromRow(r: Row, detail: AuditDetail | null): AuditEvent {
  return {
    time: r['time'] as number,
    requestId: r['request_id'] as string,
    event: r['event'] as string,
    result: r['result'] as AuditEvent['result'],
    reason: (r['reason'] as string | null) ?? null,
    method: r['method'] as string,
    keyId: (r['key_id'] as string | null) ?? null,
    user: (r['user_id'] as string | null) ?? null,
    clientAddress: r['client_address'] as string,
    httpMethod: r['http_method'] as string,
    path: r['path'] as string,
    instance: (r['instance'] as string | null) ?? null,
    detail,
    severity: (r['severity'] as AuditSeverity | null) ?? 'info',
  };
}

/** One group of a usage summary query (`grp`, `requests`, token sums, `cost_micros`). */
export function usageSummaryFromRow(r: Row): UsageSummaryRow {
  return {
    group: (r['grp'] as string | null) ?? null,
    requests: Number(r['requests']),
    input_tokens: Number(r['input_tokens'] ?? 0),
    output_tokens: Number(r['output_tokens'] ?? 0),
    cost_usd: Number(r['cost_micros'] ?? 0) / 1e6,
  };
}

/** Column per usage filter field; fixed strings, never client text, so interpolating them is safe. */
export const USAGE_FILTER_COLUMN: Readonly<Record<keyof UsageFilter, string>> = { keyId: 'key_id', user: 'user_id', instance: 'instance', model: 'model' };

/** The filter's fields that are set, as [column, value] pairs, in a fixed order. */
export function usageFilterTerms(filter: UsageFilter | undefined): Array<[column: string, value: string]> {
  if (filter === undefined) return [];
  return (Object.keys(USAGE_FILTER_COLUMN) as Array<keyof UsageFilter>).filter((f) => filter[f] !== undefined).map((f) => [USAGE_FILTER_COLUMN[f], filter[f]!]);
}

/**
 * Series from the rows of a bucketed usage query (`grp`, `slot` = bucket index from `since`,
 * `requests`, `errors`, token sums, `cost_micros`), ordered by group rank, then slot.
 */
export function usageSeriesFromRows(rows: readonly Row[], since: number, bucketMs: number): UsageSeries[] {
  const byGroup = new Map<string | null, UsagePoint[]>();
  for (const r of rows) {
    const group = (r['grp'] as string | null) ?? null;
    let points = byGroup.get(group);
    if (points === undefined) byGroup.set(group, (points = []));
    points.push({
      time: since + Number(r['slot']) * bucketMs,
      requests: Number(r['requests']),
      errors: Number(r['errors'] ?? 0),
      input_tokens: Number(r['input_tokens'] ?? 0),
      output_tokens: Number(r['output_tokens'] ?? 0),
      cost_usd: Number(r['cost_micros'] ?? 0) / 1e6,
    });
  }
  return [...byGroup].map(([group, points]) => ({ group, points }));
}
