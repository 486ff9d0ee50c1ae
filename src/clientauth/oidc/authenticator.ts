import { jwtVerify, type JWTPayload } from 'jose';
import { GatewayError } from '../../errors/gateway-error.js';
import type { OidcIssuerConfig } from './config.js';
import type { Authenticator, AuthOutcome } from '../authenticator.js';
import type { Logger } from '../../observability/logger.js';
import type { Principal } from '../../request/principal.js';
import { compileScopes } from '../scopes.js';
import type { RoleTable } from '../rbac.js';
import { bearerJwt } from './bearer.js';
import { claimAt, claimMatches, claimValues, mapRoles } from './claims.js';
import { IssuerKeys, verificationFailure } from './key-set.js';
import { JtiReplayCache } from './replay.js';

const ALL_SCOPES = compileScopes({ instances: null, models: null });
const NO_LIMITS = { rpm: null, tpm: null, budgetUsd: null };

/** One configured issuer, ready to verify. */
interface Issuer {
  config: OidcIssuerConfig;
  keys: IssuerKeys;
}

/**
 * OIDC / OAuth2 access or ID tokens (`Authorization: Bearer <JWT>`) from the configured issuers.
 * Claims every bearer token shaped like a JWT (the Kubernetes authenticator, placed before it,
 * takes those with the cluster's issuer), picks the issuer configuration by the unverified `iss`,
 * then verifies signature (asymmetric algorithms only), issuer, audience or client id, expiry
 * with `clock_skew`, `token_use` and `required_claims`. Roles come from `roles_claim` through
 * `role_map`.
 */
export function oidcAuthenticator(configs: readonly OidcIssuerConfig[], roles: RoleTable, logger: Logger, now: () => number = Date.now): Authenticator {
  const issuers = new Map<string, Issuer>();
  const replays = configs.some((c) => c.single_use) ? new JtiReplayCache(100_000, now) : undefined;
  for (const config of configs) {
    issuers.set(config.issuer, {
      config,
      keys: new IssuerKeys({
        issuer: config.issuer,
        jwksUri: config.jwks_uri,
        cacheMs: config.jwks_cache,
        cooldownMs: config.jwks_cooldown,
        timeoutMs: config.timeout,
        logger,
      }),
    });
  }

  return {
    method: 'oidc',
    claims: (ctx) => bearerJwt(ctx) !== undefined,
    async authenticate(ctx): Promise<AuthOutcome> {
      const jwt = bearerJwt(ctx)!;
      const issuer = jwt.iss === undefined ? undefined : issuers.get(jwt.iss);
      if (issuer === undefined) return { ok: false, reason: jwt.iss === undefined ? 'malformed' : 'unknown_issuer', guess: false };
      const { config } = issuer;
      let payload: JWTPayload;
      try {
        ({ payload } = await jwtVerify(jwt.token, await issuer.keys.getter(), {
          issuer: config.issuer,
          ...(config.audience ? { audience: config.audience } : {}),
          algorithms: config.algorithms,
          clockTolerance: config.clock_skew / 1000,
          requiredClaims: ['exp', 'sub'],
          currentDate: new Date(now()),
        }));
      } catch (err) {
        if (err instanceof GatewayError) throw err;
        return { ok: false, ...verificationFailure(err) };
      }
      if (config.client_id && !config.client_id.some((id) => payload['client_id'] === id || payload['azp'] === id)) {
        return { ok: false, reason: 'wrong_client', guess: false };
      }
      if (config.token_use && payload['token_use'] !== config.token_use) return { ok: false, reason: 'wrong_token_use', guess: false };
      for (const [claim, expected] of Object.entries(config.required_claims)) {
        if (!claimMatches(payload, claim, expected)) return { ok: false, reason: `invalid_claim_${claim}`, guess: false };
      }
      if (config.single_use) {
        if (typeof payload.jti !== 'string' || payload.jti === '') return { ok: false, reason: 'missing_jti', guess: false };
        // Checked last, so a token refused for another reason does not use up its jti.
        if (!replays!.firstUse(`${config.issuer}#${payload.jti}`, payload.exp! * 1000 + config.clock_skew)) return { ok: false, reason: 'replayed', guess: true };
      }
      return { ok: true, principal: oidcPrincipal(config, payload, roles) };
    },
  };
}

/** The principal of a verified token from `config`'s issuer (a bearer token, or the console's ID token). */
export function oidcPrincipal(config: OidcIssuerConfig, payload: Record<string, unknown>, roles: RoleTable): Principal {
  return federatedPrincipal('oidc', config.issuer, payload, config, roles);
}

/** The principal of a verified OIDC-style token (also used for the ALB header). */
export function federatedPrincipal(
  prefix: string,
  iss: string,
  payload: Record<string, unknown>,
  config: { roles_claim: string; role_map: Record<string, string>; default_role?: string | undefined; user_claim: string },
  roles: RoleTable,
): Principal {
  const sub = String(payload['sub']);
  const claimed = claimAt(payload, config.user_claim);
  const id = `${prefix}:${iss}#${sub}`;
  const user = typeof claimed === 'string' || typeof claimed === 'number' ? String(claimed) : sub;
  return {
    id,
    kind: 'oidc',
    user,
    // The claims' roles, plus what rbac.assignments gives this subject or user name.
    roles: roles.withAssigned(id, user, mapRoles(claimValues(claimAt(payload, config.roles_claim)), config.role_map, config.default_role, roles)),
    scopes: ALL_SCOPES,
    limits: NO_LIMITS,
  };
}

export { ALL_SCOPES, NO_LIMITS };
