import type { ClientAuthKind, ClientAuthKindContext, ClientAuthParts } from '../kind.js';
import { checkRoleNames } from './claims.js';
import { oidcConfigSchema, type OidcIssuerConfig } from './config.js';

type Needs = { auth: { oidc: OidcIssuerConfig[] } };

/**
 * `auth.oidc`: OIDC / OAuth2 JWTs from the configured issuers. It claims every JWT-shaped
 * bearer token the kinds before it left, refusing one whose `iss` matches no issuer as
 * `unknown_issuer`. Discovery and keys are fetched on first use and cached. The verifier (and
 * `jose`) is imported only when an issuer is configured, so a gateway without OIDC never loads it.
 */
export const oidcKind = {
  name: 'oidc',
  section: 'oidc',
  schema: oidcConfigSchema,
  async setup(ctx: ClientAuthKindContext<Needs>): Promise<ClientAuthParts> {
    const issuers = ctx.config.auth.oidc;
    if (issuers.length === 0) return {};
    issuers.forEach((o, i) => checkRoleNames(`auth.oidc.${i}`, o.role_map, o.default_role, ctx.roles));
    const { oidcAuthenticator } = await import('./authenticator.js');
    return { authenticators: [oidcAuthenticator(issuers, ctx.roles, ctx.logger)] };
  },
} satisfies ClientAuthKind<'oidc', typeof oidcConfigSchema, Needs>;
