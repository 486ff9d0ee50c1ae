import { isAbsolute, resolve } from 'node:path';
import type { ClientAuthKind, ClientAuthKindContext, ClientAuthParts } from '../kind.js';
import { kubernetesConfigSchema, type KubernetesAuthConfig } from './config.js';
import type { TokenReviewer } from './token-review.js';

/** The cluster's issuer must not also be an `auth.oidc` issuer: a token's `iss` names one of them. */
type Needs = { auth: { kubernetes?: KubernetesAuthConfig | undefined; oidc: ReadonlyArray<{ issuer: string }> } };

const schema = kubernetesConfigSchema.optional();

/**
 * `auth.kubernetes`: service-account tokens whose `iss` is the cluster's issuer, verified with
 * the cluster's keys (`jwks`) or by the API server (`token_review`). Nothing is fetched at start.
 * The verifier (and `jose`) is imported only when the section is configured.
 */
export const kubernetesKind = {
  name: 'kubernetes',
  section: 'kubernetes',
  schema,
  async setup(ctx: ClientAuthKindContext<Needs>): Promise<ClientAuthParts> {
    const k8s = ctx.config.auth.kubernetes;
    if (!k8s) return {};
    const { roles, logger, baseDir } = ctx;
    k8s.allow.forEach((rule, i) => {
      for (const role of rule.roles) {
        if (!roles.isKnown(role)) throw new Error(`auth.kubernetes.allow.${i}.roles: unknown role "${role}" (known: ${roles.names.join(', ')})`);
      }
    });
    if (ctx.config.auth.oidc.some((o) => o.issuer === k8s.issuer)) {
      throw new Error(`auth.kubernetes.issuer: "${k8s.issuer}" is also an auth.oidc issuer; a token's iss must name one of them`);
    }
    const { kubernetesAuthenticator } = await import('./authenticator.js');
    let reviewer: TokenReviewer | undefined;
    if (k8s.mode === 'token_review') {
      const { TokenReviewer } = await import('./token-review.js');
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
    return {
      authenticators: [kubernetesAuthenticator(k8s, reviewer, logger)],
      async stop() {
        await reviewer?.close();
      },
    };
  },
} satisfies ClientAuthKind<'kubernetes', typeof schema, Needs>;
