import type { ApiKeyVerifier } from '../clientauth/api-key/verifier.js';
import { presentedCredential } from '../clientauth/credentials.js';
import type { FailedAttemptThrottle } from '../clientauth/throttle.js';
import { GatewayError, UNAUTHORIZED_MESSAGE } from '../errors/gateway-error.js';
import type { AuditTrail } from '../observability/audit-trail.js';
import type { Metrics } from '../observability/metrics.js';
import { auditEvent } from './audit.js';
import type { Middleware } from './types.js';

export interface AuthenticateDeps {
  verifier: ApiKeyVerifier;
  throttle: FailedAttemptThrottle;
  audit: AuditTrail;
  metrics: Metrics;
}

/** Reasons that are guesses at a key, and so count towards the per-address throttle. */
const GUESSES = new Set(['malformed', 'unknown_key', 'bad_secret']);

/**
 * Layer 1: establishes `ctx.principal` from the gateway API key, or answers 401 (one message
 * whatever was wrong) or 429 (too many failed guesses from this address). Failures are audited
 * here; successes are audited by the authorization step, which knows the final decision.
 */
export function authenticate(deps: AuthenticateDeps): Middleware {
  const { verifier, throttle, audit, metrics } = deps;
  const failures = metrics.authAttempts.labels('api_key', 'failure');
  const successes = metrics.authAttempts.labels('api_key', 'success');
  const throttled = metrics.authAttempts.labels('api_key', 'throttled');

  return async function authenticateApiKey(ctx, next) {
    const blockedMs = throttle.blockedFor(ctx.clientAddress);
    if (blockedMs > 0) {
      throttled.inc();
      metrics.rateLimited.inc({ reason: 'auth_failures' });
      audit.record(auditEvent(ctx, 'throttled', 'too_many_failures', null));
      throw new GatewayError('too_many_auth_failures', 'Too many failed authentication attempts from this address; try again later.', {
        retryAfter: blockedMs / 1000,
      });
    }
    const presented = presentedCredential(ctx.req.headers);
    const result = presented === undefined ? { ok: false as const, reason: 'missing' as const, keyId: undefined } : await verifier.verify(presented);
    if (!result.ok) {
      failures.inc();
      if (GUESSES.has(result.reason)) throttle.fail(ctx.clientAddress);
      audit.record(auditEvent(ctx, 'failure', result.reason, result.keyId ?? null));
      throw new GatewayError('unauthorized', UNAUTHORIZED_MESSAGE);
    }
    successes.inc();
    ctx.principal = result.principal;
    await next();
  };
}
