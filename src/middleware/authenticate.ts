import type { Authenticator } from '../clientauth/authenticator.js';
import type { FailedAttemptThrottle } from '../clientauth/throttle.js';
import { GatewayError, UNAUTHORIZED_MESSAGE } from '../errors/gateway-error.js';
import type { AuditTrail } from '../observability/audit-trail.js';
import type { Metrics } from '../observability/metrics.js';
import { auditEvent } from './audit.js';
import type { Middleware } from './types.js';

export interface AuthenticateDeps {
  /** In order; the first that claims a request decides it. The API key authenticator comes last. */
  authenticators: readonly Authenticator[];
  throttle: FailedAttemptThrottle;
  audit: AuditTrail;
  metrics: Metrics;
}

/**
 * Layer 1: establishes `ctx.principal` from whichever client credential the request presents,
 * or answers 401 (one message whatever was wrong) or 429 (too many failed guesses from this
 * address). Failures are audited here; successes are audited by the authorization step, which
 * knows the final decision.
 */
export function authenticate(deps: AuthenticateDeps): Middleware {
  const { authenticators, throttle, audit, metrics } = deps;
  if (authenticators.length === 0) throw new Error('at least one authenticator is required');

  return async function authenticateClient(ctx, next) {
    const authenticator = authenticators.find((a) => a.claims(ctx)) ?? authenticators[authenticators.length - 1]!;
    ctx.authMethod = authenticator.method;
    const blockedMs = throttle.blockedFor(ctx.clientAddress);
    if (blockedMs > 0) {
      metrics.authAttempts.labels(authenticator.method, 'throttled').inc();
      metrics.rateLimited.inc({ reason: 'auth_failures' });
      audit.record(auditEvent(ctx, 'throttled', 'too_many_failures', null));
      throw new GatewayError('too_many_auth_failures', 'Too many failed authentication attempts from this address; try again later.', {
        retryAfter: blockedMs / 1000,
      });
    }
    const result = await authenticator.authenticate(ctx);
    if (!result.ok) {
      metrics.authAttempts.labels(authenticator.method, 'failure').inc();
      if (result.guess) throttle.fail(ctx.clientAddress);
      audit.record(auditEvent(ctx, 'failure', result.reason, result.keyId ?? null));
      throw new GatewayError('unauthorized', UNAUTHORIZED_MESSAGE);
    }
    metrics.authAttempts.labels(authenticator.method, 'success').inc();
    ctx.principal = result.principal;
    await next();
  };
}
