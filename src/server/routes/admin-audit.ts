import { GatewayError } from '../../errors/gateway-error.js';
import { AUDIT_SEVERITIES } from '../../store/audit-severity.js';
import type { AuditPosition, AuditQuery, AuditResult, StoredAuditEvent } from '../../store/types.js';
import { choiceParam, intParam, queryOf, textParam, timeParam } from './admin-query.js';
import type { AdminEndpoint } from './admin-types.js';

/**
 * The audit trail: `GET audit` lists events newest first (time, then id), filtered, a page at
 * a time; `next_cursor` continues after the last event shown and is null on the last page.
 * `GET audit/:id` shows one event. Events are flushed to the store first, so a change made a
 * moment ago is listed.
 */

const RESULTS: readonly AuditResult[] = ['success', 'failure', 'denied', 'throttled'];

export const AUDIT_ENDPOINTS: AdminEndpoint[] = [
  {
    method: 'GET',
    path: 'audit',
    permission: 'admin:read',
    async handle(ctx, _p, { deps }) {
      const q = auditQuery(queryOf(ctx));
      const { limit } = q;
      await deps.audit.flush();
      // One more than asked tells whether another page follows.
      const events = await deps.store.audit.search({ ...q, limit: limit + 1 });
      const page = events.slice(0, limit);
      const last = page.at(-1);
      return { body: { data: page.map(eventJson), next_cursor: events.length > limit && last ? encodeCursor(last) : null } };
    },
  },
  {
    method: 'GET',
    path: 'audit/:id',
    permission: 'admin:read',
    async handle(_ctx, { id }, { deps }) {
      // Ids are the store's row numbers; anything else names no event.
      const n = /^[1-9]\d{0,15}$/.test(id!) ? Number(id) : undefined;
      await deps.audit.flush();
      const event = n !== undefined && Number.isSafeInteger(n) ? await deps.store.audit.get(n) : undefined;
      if (!event) throw new GatewayError('not_found', 'no audit event with that id');
      return { body: eventJson(event) };
    },
  },
];

/** `GET audit?since&until&event&result&severity&key_id&user&instance&q&limit&cursor` as a store query (limit 100 unless given). */
function auditQuery(q: Readonly<Record<string, string>>): AuditQuery & { limit: number } {
  const now = Date.now();
  const since = timeParam(q, 'since', now);
  const until = timeParam(q, 'until', now);
  if (since !== undefined && until !== undefined && until <= since) throw new GatewayError('invalid_request', '"until" must be after "since"');
  const result = choiceParam(q, 'result', RESULTS);
  const severity = choiceParam(q, 'severity', AUDIT_SEVERITIES);
  const event = textParam(q, 'event', 64);
  const keyId = textParam(q, 'key_id');
  const user = textParam(q, 'user');
  const instance = textParam(q, 'instance');
  const text = textParam(q, 'q');
  const after = q['cursor'] === undefined || q['cursor'] === '' ? undefined : decodeCursor(q['cursor']);
  return {
    limit: intParam(q, 'limit', 1, 1000) ?? 100,
    ...(since !== undefined ? { since } : {}),
    ...(until !== undefined ? { until } : {}),
    ...(result !== undefined ? { result } : {}),
    ...(severity !== undefined ? { severity } : {}),
    ...(event !== undefined ? { event } : {}),
    ...(keyId !== undefined ? { keyId } : {}),
    ...(user !== undefined ? { user } : {}),
    ...(instance !== undefined ? { instance } : {}),
    ...(text !== undefined ? { text } : {}),
    ...(after !== undefined ? { after } : {}),
  };
}

/** The cursor names the last event shown (its time and id); opaque to clients. */
function encodeCursor(e: AuditPosition): string {
  return Buffer.from(`${e.time}.${e.id}`).toString('base64url');
}

function decodeCursor(cursor: string): AuditPosition {
  const m = /^(\d{1,16})\.(\d{1,16})$/.exec(cursor.length <= 64 ? Buffer.from(cursor, 'base64url').toString('latin1') : '');
  const position = m ? { time: Number(m[1]), id: Number(m[2]) } : undefined;
  if (!position || !Number.isSafeInteger(position.time) || !Number.isSafeInteger(position.id)) {
    throw new GatewayError('invalid_request', '"cursor" is not a cursor this endpoint gave (pass next_cursor as it came)');
  }
  return position;
}

function eventJson(e: StoredAuditEvent) {
  return {
    id: String(e.id),
    time: new Date(e.time).toISOString(),
    request_id: e.requestId,
    event: e.event,
    result: e.result,
    severity: e.severity ?? 'info',
    reason: e.reason,
    method: e.method,
    key_id: e.keyId,
    user: e.user,
    client_address: e.clientAddress,
    http_method: e.httpMethod,
    path: e.path,
    instance: e.instance,
    detail: e.detail ?? null,
  };
}
