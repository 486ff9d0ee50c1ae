import type { ClientAuthKind, ClientAuthKindContext, ClientAuthParts } from '../kind.js';
import { checkRoleNames } from '../oidc/claims.js';
import { albConfigSchema, type AlbAuthConfig } from './config.js';

/** The header is trusted only from `server.trusted_proxies`. */
type Needs = { auth: { alb?: AlbAuthConfig | undefined }; server: { trusted_proxies: readonly string[] } };

const schema = albConfigSchema.optional();

/**
 * `auth.alb`: the AWS ALB `x-amzn-oidc-data` header, claimed only from a trusted proxy.
 * Nothing is fetched at start: the load balancer's keys are fetched on first use and cached.
 * The verifier is imported only when the section is configured (it shares code, and `jose`, with OIDC).
 */
export const albKind = {
  name: 'alb',
  section: 'alb',
  schema,
  async setup(ctx: ClientAuthKindContext<Needs>): Promise<ClientAuthParts> {
    const config = ctx.config.auth.alb;
    if (!config) return {};
    const { roles, logger } = ctx;
    const proxies = ctx.config.server.trusted_proxies;
    if (proxies.length === 0) {
      throw new Error('auth.alb: requires server.trusted_proxies (the load balancer\'s addresses); the header is trusted only from them');
    }
    checkRoleNames('auth.alb', config.role_map, config.default_role, roles);
    if (config.signer_arn === undefined) logger.warn('auth.alb.signer_arn is not set: a token signed by any load balancer in the region is accepted');
    const { albAuthenticator } = await import('./authenticator.js');
    return { authenticators: [albAuthenticator(config, proxies, roles, logger)] };
  },
} satisfies ClientAuthKind<'alb', typeof schema, Needs>;
