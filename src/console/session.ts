import type { TLSSocket } from 'node:tls';
import type { Authenticator, AuthOutcome } from '../clientauth/authenticator.js';
import { CLIENT_CREDENTIAL_HEADERS } from '../upstream/headers.js';
import type { SessionAuthenticator } from '../clientauth/session/authenticator.js';
import { parseSessionToken } from '../clientauth/session/token.js';
import { GatewayError } from '../errors/gateway-error.js';
import type { Logger } from '../observability/logger.js';
import { auditEvent } from '../request/audit.js';
import type { RequestContext } from '../request/context.js';
import type { AuditTrail } from '../store/audit-trail.js';
import { headerValue } from '../util/http.js';
import { csrfMatches, readCookie, sessionCookieName } from './cookies.js';

/** A use is written to the store at most this often (the idle clock's resolution). */
const TOUCH_EVERY_MS = 60_000;
const SAFE_METHODS = new Set(['GET', 'HEAD']);

/** Whether the browser reached the gateway over HTTPS: on the TLS listener, or via a trusted proxy that says so. */
export function isSecure(ctx: RequestContext, trustedProxy: (address: string) => boolean): boolean {
  if ((ctx.req.socket as TLSSocket).encrypted === true) return true;
  const peer = ctx.req.socket.remoteAddress;
  return peer !== undefined && trustedProxy(peer) && headerValue(ctx.req.headers, 'x-forwarded-proto') === 'https';
}

/**
 * The origin the browser used: `Host` (`:authority` on HTTP/2), or `X-Forwarded-Host` from a
 * trusted proxy that rewrites `Host`.
 */
export function requestOrigin(ctx: RequestContext, secure: boolean, trustedProxy: (address: string) => boolean): string {
  const peer = ctx.req.socket.remoteAddress;
  const forwarded = peer !== undefined && trustedProxy(peer) ? headerValue(ctx.req.headers, 'x-forwarded-host') : undefined;
  const host = forwarded ?? headerValue(ctx.req.headers, 'host') ?? headerValue(ctx.req.headers, ':authority') ?? '';
  return `${secure ? 'https' : 'http'}://${host}`;
}

/** The console session token the request's cookie carries, if any. */
export function sessionCookie(ctx: RequestContext, secure: boolean): string | undefined {
  const value = readCookie(headerValue(ctx.req.headers, 'cookie'), sessionCookieName(secure));
  return value === '' ? undefined : value;
}

export interface ConsoleAuthenticatorDeps {
  sessions: SessionAuthenticator;
  idleTimeoutMs: number;
  /** Path prefixes where the cookie counts: the admin API and the console's own API. */
  prefixes: readonly string[];
  trustedProxy: (address: string) => boolean;
  audit: AuditTrail;
  logger: Logger;
  now?: () => number;
}

/**
 * The console's session cookie as a client credential, on the admin API and the console's own
 * API only (never on inference routes, so a page elsewhere cannot spend a signed-in operator's
 * quota). It claims a request that carries the cookie and no other credential.
 *
 * Beyond the session checks every session gets (revoked, expired, subject revoked or disabled),
 * a console session ends after `idleTimeoutMs` without use. A change (any method but GET/HEAD)
 * needs the session's CSRF token in `X-CSRF-Token`, and an `Origin`, when sent, must be this
 * gateway's: otherwise 403 `csrf_failed`, audited as denied. SameSite=Strict already keeps the
 * cookie off cross-site requests; the token also stops same-site pages on other ports.
 */
export function consoleAuthenticator(deps: ConsoleAuthenticatorDeps): Authenticator {
  const now = deps.now ?? Date.now;
  const hasOtherCredential = (ctx: RequestContext) => CLIENT_CREDENTIAL_HEADERS.some((h) => ctx.req.headers[h] !== undefined);
  return {
    method: 'console',
    claims(ctx) {
      if (!deps.prefixes.some((p) => ctx.path.startsWith(p))) return false;
      if (hasOtherCredential(ctx)) return false;
      return sessionCookie(ctx, isSecure(ctx, deps.trustedProxy)) !== undefined;
    },
    async authenticate(ctx): Promise<AuthOutcome> {
      const secure = isSecure(ctx, deps.trustedProxy);
      const token = sessionCookie(ctx, secure) ?? '';
      const outcome = await deps.sessions.verify(token, 'console');
      if (!outcome.ok) return outcome;
      const at = now();
      if (at - outcome.session.lastSeenAt > deps.idleTimeoutMs) return { ok: false, reason: 'session_idle', guess: false, keyId: outcome.session.keyId ?? undefined };
      if (!SAFE_METHODS.has(ctx.method)) {
        const origin = headerValue(ctx.req.headers, 'origin');
        const secret = parseSessionToken(token)!.secret;
        if ((origin !== undefined && origin !== requestOrigin(ctx, secure, deps.trustedProxy)) || !csrfMatches(headerValue(ctx.req.headers, 'x-csrf-token'), secret)) {
          ctx.authMethod = 'console';
          deps.audit.record({ ...auditEvent(ctx, 'denied', 'csrf_failed', outcome.session.keyId), user: outcome.principal.user });
          throw new GatewayError('csrf_failed', 'This change did not come from the console page (missing or wrong CSRF token, or another origin); reload the console and try again.');
        }
      }
      if (at - outcome.session.lastSeenAt >= TOUCH_EVERY_MS) {
        await deps.sessions.touch(outcome.session, at).catch((err: unknown) => deps.logger.warn({ error: err instanceof Error ? err.message : String(err) }, 'could not record a console session use'));
      }
      return { ok: true, principal: outcome.principal };
    },
  };
}
