import { jwtVerify } from 'jose';
import { GatewayError } from '../../errors/gateway-error.js';
import type { Logger } from '../../observability/logger.js';
import type { Authenticator, AuthOutcome } from '../authenticator.js';
import type { KubernetesAuthConfig } from './config.js';
import { bearerJwt } from '../oidc/bearer.js';
import { ALL_SCOPES, NO_LIMITS } from '../oidc/authenticator.js';
import { IssuerKeys, verificationFailure } from '../oidc/key-set.js';
import { allowedRoles, parseServiceAccount, serviceAccountUsername, type ServiceAccount } from './service-account.js';
import type { TokenReviewer } from './token-review.js';

/**
 * Kubernetes service-account tokens (projected with an audience such as `llmproxy`). Claims a
 * bearer JWT whose unverified `iss` is the cluster's issuer; verifies it locally against the
 * issuer's JWKS (`mode: jwks`) or asks the API server (`mode: token_review`). The first `allow`
 * rule matching the account's namespace and name gives its roles. A valid token that matches no
 * rule is refused with the same 401 as any other failure (audit reason
 * `service_account_not_allowed`), so the response does not tell a caller its token was valid.
 */
export function kubernetesAuthenticator(config: KubernetesAuthConfig, reviewer: TokenReviewer | undefined, logger: Logger): Authenticator {
  const keys =
    config.mode === 'jwks'
      ? new IssuerKeys({
          issuer: config.issuer,
          jwksUri: config.jwks_uri,
          cacheMs: config.jwks_cache,
          cooldownMs: config.jwks_cooldown,
          timeoutMs: config.timeout,
          logger,
        })
      : undefined;

  async function verifyLocally(token: string): Promise<ServiceAccount | { reason: string; guess: boolean }> {
    let payload: Record<string, unknown>;
    try {
      ({ payload } = await jwtVerify(token, await keys!.getter(), {
        issuer: config.issuer,
        audience: config.audiences,
        algorithms: config.algorithms,
        clockTolerance: config.clock_skew / 1000,
        requiredClaims: ['exp', 'sub'],
      }));
    } catch (err) {
      if (err instanceof GatewayError) throw err;
      return verificationFailure(err);
    }
    const sa = parseServiceAccount(payload['sub']);
    const k8s = payload['kubernetes.io'] as { namespace?: unknown; serviceaccount?: { name?: unknown } } | undefined;
    // The structured claim and `sub` must agree; a token with only one of them is not a service-account token.
    if (!sa || k8s?.namespace !== sa.namespace || k8s.serviceaccount?.name !== sa.name) return { reason: 'not_a_service_account', guess: false };
    return sa;
  }

  async function verifyByReview(token: string, exp: unknown): Promise<ServiceAccount | { reason: string; guess: boolean }> {
    const result = await reviewer!.review(token, typeof exp === 'number' ? exp : undefined);
    if (!result.authenticated) return { reason: result.reason, guess: false };
    return parseServiceAccount(result.username) ?? { reason: 'not_a_service_account', guess: false };
  }

  return {
    method: 'kubernetes',
    claims: (ctx) => bearerJwt(ctx)?.iss === config.issuer,
    async authenticate(ctx): Promise<AuthOutcome> {
      const jwt = bearerJwt(ctx)!;
      const result = config.mode === 'jwks' ? await verifyLocally(jwt.token) : await verifyByReview(jwt.token, jwt.payload['exp']);
      if ('reason' in result) return { ok: false, ...result };
      const roles = allowedRoles(config.allow, result);
      if (roles === undefined) return { ok: false, reason: 'service_account_not_allowed', guess: false };
      const username = serviceAccountUsername(result);
      return { ok: true, principal: { id: username, kind: 'kubernetes', user: username, roles, scopes: ALL_SCOPES, limits: NO_LIMITS } };
    },
  };
}
