import type { AuditQuery, KeyQuery } from './types.js';

/**
 * The WHERE conditions of `KeyStore.search` and `AuditLog.search`, shared by SQLite and
 * PostgreSQL so both filter alike. Client text only ever travels as a parameter; the column
 * names and operators here are fixed strings.
 */
export interface SqlDialect {
  /** Adds `value` to the statement's parameters and returns its placeholder (`?`, `$3`). Call once per use. */
  param(value: unknown): string;
  /** True when `column` holds the text of placeholder `p`, ignoring case. */
  contains(column: string, p: string): string;
  /** True when the key row's `scopes` allow the instance named by placeholder `p` (`instances` null or holding it). */
  scopesAllow(p: string): string;
}

/** Conditions for `KeyStore.search`; `keyStatus` (clientauth/api-key/view.ts) in SQL. */
export function keyConditions(q: KeyQuery, d: SqlDialect): string[] {
  const where: string[] = [];
  if (q.text !== undefined && q.text !== '') {
    where.push(`(${d.contains('id', d.param(q.text))} OR ${d.contains('name', d.param(q.text))} OR ${d.contains('user_id', d.param(q.text))})`);
  }
  if (q.status !== undefined) {
    const now = q.now ?? Date.now();
    // A function, not a string: a placeholder must be made only where it is used.
    const notRevoked = () => `(revoked_at IS NULL OR revoked_at > ${d.param(now)})`;
    switch (q.status) {
      case 'revoked':
        where.push(`revoked_at <= ${d.param(now)}`);
        break;
      case 'expired':
        where.push(`${notRevoked()} AND expires_at <= ${d.param(now)}`);
        break;
      case 'active':
        where.push(`${notRevoked()} AND (expires_at IS NULL OR expires_at > ${d.param(now)})`);
        break;
    }
  }
  if (q.role !== undefined) where.push(`role = ${d.param(q.role)}`);
  if (q.user !== undefined) where.push(`user_id = ${d.param(q.user)}`);
  if (q.instance !== undefined) where.push(d.scopesAllow(d.param(q.instance)));
  if (q.createdBefore !== undefined) where.push(`created_at < ${d.param(q.createdBefore)}`);
  if (q.createdSince !== undefined) where.push(`created_at >= ${d.param(q.createdSince)}`);
  return where;
}

/** Conditions for `AuditLog.search`, in the order of the audit indexes' leading columns where it matters. */
export function auditConditions(q: AuditQuery, d: SqlDialect): string[] {
  const where: string[] = [];
  if (q.since !== undefined) where.push(`time >= ${d.param(q.since)}`);
  if (q.until !== undefined) where.push(`time < ${d.param(q.until)}`);
  if (q.after !== undefined) {
    // `time <=` alone lets the time index bound the scan; the row value then skips what the previous page showed.
    where.push(`time <= ${d.param(q.after.time)}`, `(time, id) < (${d.param(q.after.time)}, ${d.param(q.after.id)})`);
  }
  if (q.event !== undefined) where.push(`event = ${d.param(q.event)}`);
  if (q.keyId !== undefined) where.push(`key_id = ${d.param(q.keyId)}`);
  if (q.user !== undefined) where.push(`user_id = ${d.param(q.user)}`);
  if (q.instance !== undefined) where.push(`instance = ${d.param(q.instance)}`);
  if (q.result !== undefined) where.push(`result = ${d.param(q.result)}`);
  if (q.severity !== undefined) where.push(`severity = ${d.param(q.severity)}`);
  if (q.text !== undefined && q.text !== '') {
    where.push(`(${d.contains('path', d.param(q.text))} OR ${d.contains('reason', d.param(q.text))} OR ${d.contains('request_id', d.param(q.text))})`);
  }
  return where;
}

/** `WHERE a AND b`, or nothing. */
export function whereClause(conditions: readonly string[]): string {
  return conditions.length > 0 ? `WHERE ${conditions.join(' AND ')}` : '';
}
