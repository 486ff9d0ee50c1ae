import { z } from 'zod';
import { duration } from '../config-fields/fields.js';

/**
 * Config fields under `auth:` for OIDC issuers (`auth.oidc`), the AWS ALB header (`auth.alb`)
 * and Kubernetes service-account tokens (`auth.kubernetes`), spread into the auth schema.
 * Role names are checked against the role table when the gateway is built (federated.ts), since
 * custom roles live in `rbac.roles`.
 */

/**
 * Asymmetric JWS algorithms only: `none` and the HMAC family (HS256/384/512) are never accepted,
 * so a token "signed" with an issuer's public key as an HMAC secret (algorithm confusion) or an
 * unsigned token cannot pass.
 */
export const ASYMMETRIC_ALGORITHMS = ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA', 'Ed25519'] as const;
const DEFAULT_ALGORITHMS = ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA', 'Ed25519'];

function httpUrl(what: string) {
  return z.string().refine((s) => {
    try {
      const u = new URL(s);
      return (u.protocol === 'https:' || u.protocol === 'http:') && !u.username && !u.password && !u.hash;
    } catch {
      return false;
    }
  }, `${what} must be an absolute http(s) URL without credentials or fragment`);
}

const oneOrMany = z.union([z.string().min(1), z.array(z.string().min(1)).min(1)]).transform((v) => (Array.isArray(v) ? v : [v]));
const algorithms = z
  .array(z.enum(ASYMMETRIC_ALGORITHMS, { error: `must be one of ${ASYMMETRIC_ALGORITHMS.join(', ')} ("none" and HS* are never accepted)` }))
  .min(1)
  .default(DEFAULT_ALGORITHMS as (typeof ASYMMETRIC_ALGORITHMS)[number][]);
/** Claim name to the value it must have (or, for a list claim, contain). */
const requiredClaims = z.record(z.string().min(1), z.union([z.string(), z.number(), z.boolean()])).default({});

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
  })
  .superRefine((c, ctx) => {
    if (c.audience === undefined && c.client_id === undefined) {
      ctx.addIssue({ code: 'custom', path: ['audience'], message: 'required (or client_id): a token for another application must be refused' });
    }
  });

const allowRuleSchema = z.strictObject({
  namespace: z.string().min(1),
  /** Omitted or `*`: any service account in the namespace. */
  service_account: z.string().min(1).default('*'),
  roles: z.array(z.string().min(1)).min(1),
});

const kubernetesSchema = z
  .strictObject({
    /** The cluster's service-account issuer (`kubectl get --raw /.well-known/openid-configuration`). */
    issuer: httpUrl('issuer'),
    /** Accepted audiences (any one); tokens must be projected with one of them, e.g. `llmproxy`. */
    audiences: z.array(z.string().min(1)).min(1),
    /** `jwks`: verify signatures locally; `token_review`: ask the API server (also catches deleted pods and accounts). */
    mode: z.enum(['jwks', 'token_review']).default('jwks'),
    jwks_uri: httpUrl('jwks_uri').optional(),
    api_server: httpUrl('api_server').default('https://kubernetes.default.svc'),
    /** CA bundle for an https API server; default: the in-cluster service-account CA when present. */
    ca_file: z.string().min(1).optional(),
    /** The gateway's own token, sent with TokenReview requests (re-read as kubelet rotates it). */
    token_file: z.string().min(1).default('/var/run/secrets/kubernetes.io/serviceaccount/token'),
    /** First matching rule gives the roles; a valid token that matches none is refused. */
    allow: z.array(allowRuleSchema).min(1),
    algorithms: algorithms.default(['RS256', 'ES256']),
    clock_skew: duration().prefault('60s'),
    jwks_cache: duration().prefault('10m'),
    jwks_cooldown: duration().prefault('30s'),
    /** TokenReview mode: how long a positive review is reused (never beyond the token's `exp`). */
    review_cache: duration().prefault('30s'),
    timeout: duration().prefault('5s'),
  });

const albSchema = z.strictObject({
  region: z.string().regex(/^[a-z]{2}(-[a-z]+)+-\d+$/, 'must be an AWS region such as us-east-1'),
  /** Default `https://public-keys.auth.elb.{region}.amazonaws.com`; keys are read from `${endpoint}/${kid}`. */
  public_key_endpoint: httpUrl('public_key_endpoint').optional(),
  /** ARN of the load balancer expected in the token header's `signer` (strongly recommended). */
  signer_arn: z.string().min(1).optional(),
  /** Expected `iss` (the IdP behind the ALB), when set. */
  issuer: z.string().min(1).optional(),
  /** Expected `client` header value (the ALB's IdP client id), when set. */
  client_id: z.string().min(1).optional(),
  roles_claim: z.string().min(1).default('groups'),
  role_map: z.record(z.string().min(1), z.string().min(1)).default({}),
  default_role: z.string().min(1).optional(),
  user_claim: z.string().min(1).default('sub'),
  clock_skew: duration().prefault('60s'),
  timeout: duration().prefault('5s'),
});

export const FEDERATED_AUTH_FIELDS = {
  oidc: z
    .array(oidcIssuerSchema)
    .default([])
    .superRefine((list, ctx) => {
      const seen = new Set<string>();
      list.forEach((c, i) => {
        if (seen.has(c.issuer)) ctx.addIssue({ code: 'custom', path: [i, 'issuer'], message: `issuer "${c.issuer}" is configured twice` });
        seen.add(c.issuer);
      });
    }),
  kubernetes: kubernetesSchema.optional(),
  alb: albSchema.optional(),
};

export type OidcIssuerConfig = z.output<typeof oidcIssuerSchema>;
export type KubernetesAuthConfig = z.output<typeof kubernetesSchema>;
export type AlbAuthConfig = z.output<typeof albSchema>;
