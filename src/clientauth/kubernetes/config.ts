import { z } from 'zod';
import { duration } from '../../config-fields/fields.js';
import { algorithms, httpUrl } from '../jwt-config.js';

const allowRuleSchema = z.strictObject({
  namespace: z.string().min(1),
  /** Omitted or `*`: any service account in the namespace. */
  service_account: z.string().min(1).default('*'),
  roles: z.array(z.string().min(1)).min(1),
});

/** `auth.kubernetes`: Kubernetes service-account tokens (optional). */
export const kubernetesConfigSchema = z
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

export type KubernetesAuthConfig = z.output<typeof kubernetesConfigSchema>;
