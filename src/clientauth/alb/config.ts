import { z } from 'zod';
import { duration } from '../../config-fields/fields.js';
import { httpUrl } from '../jwt-config.js';

/** `auth.alb`: the AWS ALB `x-amzn-oidc-data` header (optional). */
export const albConfigSchema = z.strictObject({
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

export type AlbAuthConfig = z.output<typeof albConfigSchema>;
