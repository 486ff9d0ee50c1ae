import { z } from 'zod';
import { duration, secretRef } from '../../config-fields/fields.js';
import { algorithms, httpUrl, oneOrMany, requiredClaims } from '../jwt-config.js';

const oidcIssuerSchema = z
  .strictObject({
    /** Compared exactly with the token's `iss`; discovery is `${issuer}/.well-known/openid-configuration`. */
    issuer: httpUrl('issuer'),
    /** Accepted `aud` values (any one). Cognito access tokens carry no `aud`: use `client_id` instead. */
    audience: oneOrMany.optional(),
    /** Accepted `client_id` claim values (Cognito access tokens). */
    client_id: oneOrMany.optional(),
    /** Where role names are read: a claim name (`groups`, `cognito:groups`, `roles`) or a dotted path (`realm_access.roles`). */
    roles_claim: z.string().min(1).default('groups'),
    /** Renames claim values to gateway roles; a value neither mapped nor a known role is dropped. */
    role_map: z.record(z.string().min(1), z.string().min(1)).default({}),
    /** Role given when no claim value maps to a known role (none by default: such a caller may do nothing). */
    default_role: z.string().min(1).optional(),
    /** The claim that names the user (`sub`, `email`, `preferred_username`, ...). */
    user_claim: z.string().min(1).default('sub'),
    algorithms,
    /** Tolerance for `exp`, `nbf` and `iat`. */
    clock_skew: duration().prefault('60s'),
    /** Skip discovery and read keys from here. */
    jwks_uri: httpUrl('jwks_uri').optional(),
    /** Cognito: `access` or `id` (the `token_use` claim). */
    token_use: z.enum(['access', 'id']).optional(),
    required_claims: requiredClaims,
    /** Accept each token (`jti`) once, in this process; tokens without `jti` are refused. */
    single_use: z.boolean().default(false),
    /** How long a fetched key set is used before it is fetched again. */
    jwks_cache: duration().prefault('10m'),
    /** Least time between two fetches caused by a token with an unknown `kid` (key rotation at the provider). */
    jwks_cooldown: duration().prefault('30s'),
    /** Timeout of one discovery or key-set fetch. */
    timeout: duration().prefault('5s'),
    /**
     * Sign-in to the admin console through this issuer (authorization-code flow with PKCE). The
     * ID token's `aud` must be `client_id`; roles come from `roles_claim` as for bearer tokens.
     */
    console: z
      .strictObject({
        client_id: z.string().min(1),
        /** For a confidential client (sent with HTTP Basic); a public client with PKCE needs none. */
        client_secret: secretRef().optional(),
        scopes: z.array(z.string().min(1)).min(1).default(['openid', 'profile', 'email']),
        /** The button's text on the sign-in page (default: the issuer's host). */
        label: z.string().min(1).max(64).optional(),
        /** Registered at the issuer; default: the console's own `.../api/oidc/callback` on the address the browser used. */
        redirect_uri: httpUrl('redirect_uri').optional(),
      })
      .optional(),
  })
  .superRefine((c, ctx) => {
    if (c.audience === undefined && c.client_id === undefined) {
      ctx.addIssue({ code: 'custom', path: ['audience'], message: 'required (or client_id): a token for another application must be refused' });
    }
  });

/** `auth.oidc`: OIDC / OAuth2 issuers whose JWTs are accepted as bearer tokens. */
export const oidcConfigSchema = z
  .array(oidcIssuerSchema)
  .default([])
  .superRefine((list, ctx) => {
    const seen = new Set<string>();
    list.forEach((c, i) => {
      if (seen.has(c.issuer)) ctx.addIssue({ code: 'custom', path: [i, 'issuer'], message: `issuer "${c.issuer}" is configured twice` });
      seen.add(c.issuer);
    });
  });

export type OidcIssuerConfig = z.output<typeof oidcIssuerSchema>;
