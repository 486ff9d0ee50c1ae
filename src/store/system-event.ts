import type { AuditDetail, AuditEvent, AuditResult, AuditSeverity } from './types.js';

/** What a system event says; everything about a client request is absent. */
export interface SystemEventFields {
  /** The kind: `config.reload`, `credential`, `key.max_age`... */
  event: string;
  result?: AuditResult;
  reason: string | null;
  /** Absent: derived from the kind and result (store/audit-severity.ts). */
  severity?: AuditSeverity;
  /** Who or what caused it: `SIGHUP`, `admin`, `refresh`... (the event's `method`). */
  method?: string;
  instance?: string | null;
  keyId?: string | null;
  user?: string | null;
  /** When a request caused it (an admin reload), its id. */
  requestId?: string;
  clientAddress?: string;
  detail?: AuditDetail;
  now?: number;
}

/**
 * An audit event that no client request's authentication produced: a configuration reload, a
 * provider credential failing or recovering, a key nearing its maximum age. It fills the
 * request fields with placeholders (`path` is the kind, `httpMethod` `-`) so the trail's
 * filters and views treat it as any other event.
 *
 * @example
 * audit.record(systemEvent({ event: 'credential', result: 'failure', reason: 'fetch failed', instance: 'bedrock_us1', severity: 'warning' }));
 */
export function systemEvent(f: SystemEventFields): AuditEvent {
  return {
    time: f.now ?? Date.now(),
    requestId: f.requestId ?? '',
    event: f.event,
    result: f.result ?? 'success',
    reason: f.reason,
    method: f.method ?? 'system',
    keyId: f.keyId ?? null,
    user: f.user ?? null,
    clientAddress: f.clientAddress ?? 'local',
    httpMethod: '-',
    path: f.event,
    instance: f.instance ?? null,
    ...(f.detail !== undefined ? { detail: f.detail } : {}),
    ...(f.severity !== undefined ? { severity: f.severity } : {}),
  };
}
