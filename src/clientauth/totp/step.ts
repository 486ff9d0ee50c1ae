import { GatewayError, UNAUTHORIZED_MESSAGE } from '../../errors/gateway-error.js';
import { auditEvent } from '../../request/audit.js';
import type { RequestContext } from '../../request/context.js';
import type { Middleware } from '../../request/types.js';
import type { AuditTrail } from '../../store/audit-trail.js';
import type { Metrics } from '../../observability/metrics.js';
import type { TotpSubject } from '../../store/identity-types.js';
import type { Principal } from '../../request/principal.js';
import type { FailedAttemptThrottle } from '../throttle.js';
import type { ActiveEnrolment, EnrolmentDirectory } from './enrolments.js';
import type { SecondFactorChecker } from './second-factor.js';

/** Who needs a second factor, from config (`auth.api_keys.require_totp`, `auth.basic.require_totp`, `auth.totp.required_roles`). */
export interface SecondFactorPolicy {
  keys: boolean;
  users: boolean;
  roles: ReadonlySet<string>;
}

export interface SecondFactorStepDeps {
  enrolments: EnrolmentDirectory;
  checker: SecondFactorChecker;
  policy: SecondFactorPolicy;
  throttle: FailedAttemptThrottle;
  audit: AuditTrail;
  metrics: Metrics;
}

const TOTP_HEADER = 'x-totp-code';
const MISSING_MESSAGE =
  'This credential requires a second factor: send the current code from your authenticator app (or a backup code) in X-TOTP-Code, or use a session token from POST /auth/v1/session.';
const NOT_ENROLLED_MESSAGE = 'This credential requires a second factor, but none is enrolled; ask an administrator to run "llmproxy totp enroll".';

/** The enrolment that guards `principal`: a key's own, else that of the key's user; a Basic user's own. */
async function enrolmentOf(principal: Principal, enrolments: EnrolmentDirectory): Promise<ActiveEnrolment | undefined> {
  if (principal.kind === 'api-key' && principal.keyId !== undefined) {
    const own = await enrolments.get(`key:${principal.keyId}` satisfies TotpSubject);
    if (own || principal.user === null) return own;
    return enrolments.get(`user:${principal.user}`);
  }
  if (principal.kind === 'basic' && principal.user !== null) return enrolments.get(`user:${principal.user}`);
  return undefined;
}

/**
 * The TOTP second factor, run right after authentication.
 *
 * `policy` mode (every gateway route): requests decided by a session token or a console session pass (a session
 * stands for both factors); OIDC and Kubernetes principals pass (their identity provider owns
 * MFA). A key or Basic user needs a code when config requires it (globally or by role) or its
 * enrolment is marked required; a code that is sent is checked even when not required.
 * `exchange` mode (`POST /auth/v1/session`): a second factor is always needed.
 *
 * Failures are audited with their reason (`totp_missing`, `totp_not_enrolled`, `totp_invalid`,
 * `totp_replayed`, `totp_locked`); wrong, replayed and locked-out codes count towards the
 * per-address throttle and all get the one 401 that says nothing about what was wrong.
 */
export function secondFactorStep(deps: SecondFactorStepDeps, mode: 'policy' | 'exchange'): Middleware {
  const { enrolments, checker, policy, throttle, audit, metrics } = deps;

  const refuse = (ctx: RequestContext, reason: string, error: GatewayError, guess: boolean): never => {
    metrics.authAttempts.labels('totp', 'failure').inc();
    if (guess) throttle.fail(ctx.clientAddress);
    audit.record(auditEvent(ctx, 'failure', reason));
    throw error;
  };

  return async function checkSecondFactor(ctx, next) {
    const principal = ctx.principal;
    if (principal === undefined || (mode === 'policy' && (ctx.authMethod === 'session' || ctx.authMethod === 'console'))) return next();
    if (principal.kind !== 'api-key' && principal.kind !== 'basic') {
      if (mode === 'exchange') refuse(ctx, 'totp_not_enrolled', new GatewayError('totp_not_enrolled', NOT_ENROLLED_MESSAGE), false);
      return next();
    }
    const enrolment = await enrolmentOf(principal, enrolments);
    const raw = ctx.req.headers[TOTP_HEADER];
    const code = (Array.isArray(raw) ? raw[0] : raw)?.trim() || undefined;
    const required =
      mode === 'exchange' ||
      (principal.kind === 'api-key' ? policy.keys : policy.users) ||
      principal.roles.some((r) => policy.roles.has(r)) ||
      enrolment?.required === true;
    if (!required && (code === undefined || enrolment === undefined)) return next();
    if (enrolment === undefined) return refuse(ctx, 'totp_not_enrolled', new GatewayError('totp_not_enrolled', NOT_ENROLLED_MESSAGE), false);
    if (code === undefined) return refuse(ctx, 'totp_missing', new GatewayError('totp_required', MISSING_MESSAGE), false);
    const result =
      code.length > 64 ? ({ ok: false, reason: 'totp_invalid' } as const) : await checker.check(enrolment.subject, enrolment.secret, code).catch((err: unknown) => {
        throw new GatewayError('store_unavailable', 'the identity store is unavailable; try again shortly', { cause: err });
      });
    if (!result.ok) return refuse(ctx, result.reason, new GatewayError('unauthorized', UNAUTHORIZED_MESSAGE), true);
    metrics.authAttempts.labels('totp', 'success').inc();
    return next();
  };
}
