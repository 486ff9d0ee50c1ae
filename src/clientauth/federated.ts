import { isAbsolute, resolve } from 'node:path';
import { albAuthenticator } from './alb/authenticator.js';
import type { Authenticator } from './authenticator.js';
import type { ClientAuthDeps, ClientAuthParts } from './types.js';
import { kubernetesAuthenticator } from './kubernetes/authenticator.js';
import { TokenReviewer } from './kubernetes/token-review.js';
import { oidcAuthenticator } from './oidc/authenticator.js';
import { checkRoleNames } from './oidc/claims.js';

/**
 * OIDC / OAuth2 JWTs (`auth.oidc`), the AWS ALB `x-amzn-oidc-data` header (`auth.alb`) and
 * Kubernetes service-account tokens (`auth.kubernetes`). Order matters: the ALB header first
 * (it is only claimed from a trusted proxy), then JWTs whose `iss` is the cluster's issuer, then
 * every other JWT-shaped bearer token (refused as `unknown_issuer` when no issuer matches).
 * Nothing is fetched at start: discovery and keys are fetched on first use and cached.
 */
export async function federatedClientAuth(deps: ClientAuthDeps): Promise<ClientAuthParts> {
  const { config, roles, logger, baseDir } = deps;
  const auth = config.auth;
  const authenticators: Authenticator[] = [];
  let reviewer: TokenReviewer | undefined;

  if (auth.alb) {
    if (config.server.trusted_proxies.length === 0) {
      throw new Error('auth.alb: requires server.trusted_proxies (the load balancer\'s addresses); the header is trusted only from them');
    }
    checkRoleNames('auth.alb', auth.alb.role_map, auth.alb.default_role, roles);
    if (auth.alb.signer_arn === undefined) logger.warn('auth.alb.signer_arn is not set: a token signed by any load balancer in the region is accepted');
    authenticators.push(albAuthenticator(auth.alb, config.server.trusted_proxies, roles, logger));
  }

  const k8s = auth.kubernetes;
  if (k8s) {
    k8s.allow.forEach((rule, i) => {
      for (const role of rule.roles) {
        if (!roles.isKnown(role)) throw new Error(`auth.kubernetes.allow.${i}.roles: unknown role "${role}" (known: ${roles.names.join(', ')})`);
      }
    });
    if (auth.oidc.some((o) => o.issuer === k8s.issuer)) {
      throw new Error(`auth.kubernetes.issuer: "${k8s.issuer}" is also an auth.oidc issuer; a token's iss must name one of them`);
    }
    if (k8s.mode === 'token_review') {
      const file = (p: string) => (isAbsolute(p) ? p : resolve(baseDir, p));
      reviewer = new TokenReviewer({
        apiServer: k8s.api_server,
        audiences: k8s.audiences,
        tokenFile: file(k8s.token_file),
        caFile: k8s.ca_file === undefined ? undefined : file(k8s.ca_file),
        cacheMs: k8s.review_cache,
        timeoutMs: k8s.timeout,
        logger,
      });
    }
    authenticators.push(kubernetesAuthenticator(k8s, reviewer, logger));
  }

  if (auth.oidc.length > 0) {
    auth.oidc.forEach((o, i) => checkRoleNames(`auth.oidc.${i}`, o.role_map, o.default_role, roles));
    authenticators.push(oidcAuthenticator(auth.oidc, roles, logger));
  }

  return {
    authenticators,
    async stop() {
      await reviewer?.close();
    },
  };
}
