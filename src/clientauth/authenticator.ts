import type { RequestContext } from '../request/context.js';
import type { ApiKeyVerifier } from './api-key/verifier.js';
import { presentedCredential } from './credentials.js';
import type { Principal } from '../request/principal.js';
import type { VerificationAttempt } from './throttle.js';

/** The outcome of one authentication attempt. `guess` failures count towards the per-address throttle. */
export type AuthOutcome =
  | { ok: true; principal: Principal }
  | { ok: false; reason: string; guess: boolean; keyId?: string | undefined };

/**
 * One kind of client credential (layer 1): API key, session token, Basic, OIDC JWT, Kubernetes
 * service-account token, AWS ALB header. The authenticate step asks each in order whether the
 * request presents its kind (`claims`: cheap, synchronous, no I/O) and lets the first that
 * claims it decide. The API key authenticator is last and claims everything else, so a request
 * with no credential at all is refused as `missing`.
 */
export interface Authenticator {
  /** Label in `llmproxy_auth_attempts_total{method}` and in the audit trail: `api_key`, `basic`, ... */
  readonly method: string;
  claims(ctx: RequestContext): boolean;
  /**
   * Rejects only with a GatewayError: infrastructure failures (a store or a JWKS endpoint down),
   * or the throttle's 429s from `attempt`. An authenticator whose check is slow (argon2) reserves
   * a failure slot through `attempt` before it and runs the hash through `attempt.slow`; cheap
   * ones may ignore `attempt` (their guesses are counted when they fail).
   */
  authenticate(ctx: RequestContext, attempt: VerificationAttempt): Promise<AuthOutcome>;
}

const KEY_GUESSES = new Set(['malformed', 'unknown_key', 'bad_secret']);

/** Set on responses to a key near its end (or past `max_age` under `on_max_age: warn`): when it stops, or stopped, being within policy. */
export const KEY_EXPIRES_HEADER = 'x-llmproxy-key-expires';

/**
 * Gateway API keys from any of the accepted headers (see credentials.ts). With `enabled: false`
 * (`auth.api_keys.enabled`) it still claims every request no other kind claimed, and refuses any
 * credential as `api_keys_disabled` without reading the store.
 */
export function apiKeyAuthenticator(verifier: ApiKeyVerifier, options: { enabled: boolean } = { enabled: true }): Authenticator {
  return {
    method: 'api_key',
    claims: () => true,
    async authenticate(ctx, attempt) {
      const presented = presentedCredential(ctx.req.headers);
      if (presented === undefined) return { ok: false, reason: 'missing', guess: false };
      if (!options.enabled) return { ok: false, reason: 'api_keys_disabled', guess: false };
      const result = await verifier.verify(presented, attempt);
      if (!result.ok) return { ok: false, reason: result.reason, guess: KEY_GUESSES.has(result.reason), keyId: result.keyId };
      if (result.notice) ctx.res.setHeader(KEY_EXPIRES_HEADER, new Date(result.notice.endsAt).toISOString());
      return result;
    },
  };
}
