import { z } from 'zod';

/**
 * Config fields shared by the kinds that verify JWTs (OIDC issuers, Kubernetes service-account
 * tokens, the AWS ALB header). Role names are checked against the role table when a kind is set
 * up, since custom roles live in `rbac.roles`.
 */

/**
 * Asymmetric JWS algorithms only: `none` and the HMAC family (HS256/384/512) are never accepted,
 * so a token "signed" with an issuer's public key as an HMAC secret (algorithm confusion) or an
 * unsigned token cannot pass.
 */
export const ASYMMETRIC_ALGORITHMS = ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA', 'Ed25519'] as const;
const DEFAULT_ALGORITHMS = ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA', 'Ed25519'];

/** An absolute http(s) URL without credentials or fragment (issuers, key endpoints, API servers). */
export function httpUrl(what: string) {
  return z.string().refine((s) => {
    try {
      const u = new URL(s);
      return (u.protocol === 'https:' || u.protocol === 'http:') && !u.username && !u.password && !u.hash;
    } catch {
      return false;
    }
  }, `${what} must be an absolute http(s) URL without credentials or fragment`);
}

/** One string or a non-empty list of them, read as a list. */
export const oneOrMany = z.union([z.string().min(1), z.array(z.string().min(1)).min(1)]).transform((v) => (Array.isArray(v) ? v : [v]));
/** The accepted JWS algorithms (asymmetric only). */
export const algorithms = z
  .array(z.enum(ASYMMETRIC_ALGORITHMS, { error: `must be one of ${ASYMMETRIC_ALGORITHMS.join(', ')} ("none" and HS* are never accepted)` }))
  .min(1)
  .default(DEFAULT_ALGORITHMS as (typeof ASYMMETRIC_ALGORITHMS)[number][]);
/** Claim name to the value it must have (or, for a list claim, contain). */
export const requiredClaims = z.record(z.string().min(1), z.union([z.string(), z.number(), z.boolean()])).default({});
