import type { AuditEvent, AuditSeverity } from './types.js';

/** The severities an audit event can have, least urgent first. */
export const AUDIT_SEVERITIES: readonly AuditSeverity[] = ['info', 'warning', 'critical'];

/**
 * An event's severity: the one it was given, else what its kind and result say. A refused or
 * throttled request is a warning; turning the lockdown on is critical (every inference request
 * stops), disabling one instance a warning; everything that succeeded is information.
 *
 * @example
 * auditSeverity({ ...event, event: 'auth', result: 'failure' }) // 'warning'
 */
export function auditSeverity(e: Pick<AuditEvent, 'event' | 'result' | 'severity' | 'detail'>): AuditSeverity {
  if (e.severity !== undefined) return e.severity;
  if (e.result !== 'success') return 'warning';
  if (e.event === 'lockdown') {
    if (e.detail?.['lockdown'] === true) return 'critical';
    if (e.detail?.['disabled'] === true) return 'warning';
  }
  return 'info';
}

/**
 * The same default in SQL, for rows written before the column existed (migration 11 of both
 * stores). JSON access differs per dialect, so the lockdown test is given.
 */
export function severityBackfill(lockdownOn: string, instanceDisabled: string): string {
  return `UPDATE audit_log SET severity = CASE
    WHEN result <> 'success' THEN 'warning'
    WHEN event = 'lockdown' AND ${lockdownOn} THEN 'critical'
    WHEN event = 'lockdown' AND ${instanceDisabled} THEN 'warning'
    ELSE 'info' END`;
}
