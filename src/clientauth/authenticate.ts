import { GatewayError, UNAUTHORIZED_MESSAGE } from '../errors/gateway-error.js';
import type { Metrics } from '../observability/metrics.js';
import { auditEvent } from '../request/audit.js';
import type { RequestContext } from '../request/context.js';
import type { Middleware } from '../request/types.js';
import type { AuditTrail } from '../store/audit-trail.js';
import type { AuthOutcome, Authenticator } from './authenticator.js';
import { tooManyFailures, type FailedAttemptThrottle } from './throttle.js';

export interface AuthenticateDeps {
  /** In order; the first that claims a request decides it. The API key authenticator comes last. */
  authenticators: readonly Authenticator[];
  throttle: FailedAttemptThrottle;
  audit: AuditTrail;
  metrics: Metrics;
}

/**
 * Layer 1: establishes `ctx.principal` from whichever client credential the request presents,
 * or answers 401 (one message whatever was wrong) or 429.
 *
 * 429 `too_many_auth_failures` (Retry-After): the address failed too often, or its failures and
 * the guesses it has in flight fill its window; an authenticator reserves a slot before a slow
 * check, so a burst of concurrent guesses is cut off at the limit before any hashing (see
 * FailedAttemptThrottle). 429 `rate_limited` (Retry-After 1): the caps on slow checks in flight
 * stayed full (see VerificationLimiter). Both are audited as `throttled` and counted in
 * `llmproxy_auth_attempts_total{result="throttled"}`; 401s as `failure`. Successes are audited by
 * the authorization step, which knows the final decision.
 */
export function authenticate(deps: AuthenticateDeps): Middleware {
  const { authenticators, throttle, audit, metrics } = deps;
  if (authenticators.length === 0) throw new Error('at least one authenticator is required');

  const refuseThrottled = (ctx: RequestContext, error: GatewayError): never => {
    const busy = error.code === 'rate_limited';
    metrics.authAttempts.labels(ctx.authMethod, 'throttled').inc();
    metrics.rateLimited.inc({ reason: busy ? 'auth_busy' : 'auth_failures' });
    audit.record(auditEvent(ctx, 'throttled', busy ? 'verification_busy' : 'too_many_failures', null));
    throw error;
  };

  return async function authenticateClient(ctx, next) {
    const authenticator = authenticators.find((a) => a.claims(ctx)) ?? authenticators[authenticators.length - 1]!;
    ctx.authMethod = authenticator.method;
    const blockedMs = throttle.blockedFor(ctx.clientAddress);
    if (blockedMs > 0) refuseThrottled(ctx, tooManyFailures(blockedMs));
    const attempt = throttle.attempt(ctx.clientAddress);
    let result: AuthOutcome;
    try {
      result = await authenticator.authenticate(ctx, attempt);
    } catch (err) {
      // Not verified (no slot, no place, a store down): not a guess, so a reserved slot is given back.
      attempt.settle(false);
      if (err instanceof GatewayError && (err.code === 'too_many_auth_failures' || err.code === 'rate_limited')) refuseThrottled(ctx, err);
      throw err;
    }
    attempt.settle(!result.ok && result.guess);
    if (!result.ok) {
      metrics.authAttempts.labels(authenticator.method, 'failure').inc();
      audit.record(auditEvent(ctx, 'failure', result.reason, result.keyId ?? null));
      throw new GatewayError('unauthorized', UNAUTHORIZED_MESSAGE);
    }
    metrics.authAttempts.labels(authenticator.method, 'success').inc();
    ctx.principal = result.principal;
    return next();
  };
}
