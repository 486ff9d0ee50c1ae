import type { ClientAuthKind, ClientAuthKindContext, ClientAuthParts } from '../kind.js';
import { oidcAuthenticator } from './authenticator.js';
import { checkRoleNames } from './claims.js';
import { oidcConfigSchema, type OidcIssuerConfig } from './config.js';

type Needs = { auth: { oidc: OidcIssuerConfig[] } };

/**
 * `auth.oidc`: OIDC / OAuth2 JWTs from the configured issuers. It claims every JWT-shaped
 * bearer token the kinds before it left, refusing one whose `iss` matches no issuer as
 * `unknown_issuer`. Discovery and keys are fetched on first use and cached.
 */
export const oidcKind = {
  name: 'oidc',
  section: 'oidc',
  schema: oidcConfigSchema,
  setup(ctx: ClientAuthKindContext<Needs>): ClientAuthParts {
    const issuers = ctx.config.auth.oidc;
    if (issuers.length === 0) return {};
    issuers.forEach((o, i) => checkRoleNames(`auth.oidc.${i}`, o.role_map, o.default_role, ctx.roles));
    return { authenticators: [oidcAuthenticator(issuers, ctx.roles, ctx.logger)] };
  },
} satisfies ClientAuthKind<'oidc', typeof oidcConfigSchema, Needs>;
