import type { UsageSummaryRow } from './governance-types.js';
import type { AuditDetail, AuditEvent } from './types.js';

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
