import { GatewayError } from '../../errors/gateway-error.js';
import { auditEvent } from '../../request/audit.js';
import type { Middleware, RouteSpec } from '../../request/types.js';
import type { AuditTrail } from '../../store/audit-trail.js';
import type { Logger } from '../../observability/logger.js';
import type { SessionStore } from '../../store/identity-types.js';
import { hashSessionSecret, newSessionToken } from './token.js';

export interface SessionRouteDeps {
  /** Authentication by key or Basic user (not by a session), then the second factor in `exchange` mode. */
  authenticate: readonly Middleware[];
  sessions: SessionStore;
  ttlMs: number;
  logger: Logger;
  audit: AuditTrail;
  now?: () => number;
}

/**
 * `POST /auth/v1/session`: a key (any accepted header) or a Basic user, plus `X-TOTP-Code`, is
 * exchanged for a session token that stands for both factors until it expires or its key or
 * user is revoked or disabled.
 *
 * @example
 * curl -X POST -H "Authorization: Bearer $KEY" -H "X-TOTP-Code: 123456" http://gw/auth/v1/session
 * // {"session_token":"llms_...","expires_at":"2026-01-01T13:00:00.000Z","token_type":"Bearer"}
 */
export function sessionRoute(deps: SessionRouteDeps): RouteSpec {
  const now = deps.now ?? Date.now;
  return {
    name: 'session',
    path: '/auth/v1/session',
    methods: ['POST'],
    mode: 'ops',
    middleware: [
      ...deps.authenticate,
      async function issueSession(ctx) {
        const principal = ctx.principal!;
        const at = now();
        const { token, id, secret } = newSessionToken();
        const subject = principal.kind === 'api-key' ? { keyId: principal.keyId ?? null, user: null } : { keyId: null, user: principal.user };
        if (subject.keyId === null && subject.user === null) throw new GatewayError('permission_denied', 'sessions are issued to API keys and Basic users only');
        try {
          await deps.sessions.create({ id, secretHash: hashSessionSecret(secret), ...subject, createdAt: at, expiresAt: at + deps.ttlMs });
        } catch (err) {
          throw new GatewayError('store_unavailable', 'the session store is unavailable; try again shortly', { cause: err });
        }
        deps.audit.record(auditEvent(ctx, 'success', null));
        deps.logger.info({ session: id, key_id: subject.keyId, user: subject.user, expires_at: new Date(at + deps.ttlMs).toISOString() }, 'session issued');
        const body = JSON.stringify({ session_token: token, expires_at: new Date(at + deps.ttlMs).toISOString(), token_type: 'Bearer' });
        ctx.res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), 'cache-control': 'no-store' });
        ctx.res.end(body);
      },
    ],
  };
}
