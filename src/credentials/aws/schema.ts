import { z } from 'zod';
import { duration, secretField, secretRef } from '../../config-fields/fields.js';
import { parseSecretRef } from '../../secrets/ref.js';

/**
 * `authentication` of AWS-signed instances (Bedrock). DESIGN.md §2 pins the field names.
 * `assume_role.source` is another block of the same union, so cross-account chains nest.
 */

const common = {
  /** Overrides `secrets.refresh_interval` for the secret references of this block. */
  refresh_interval: duration().optional(),
};

export const defaultCredentials = z.strictObject({
  type: z.literal('default_credentials'),
  /** A profile of the shared config/credentials files; default: $AWS_PROFILE, else `default`. */
  profile: z.string().min(1).optional(),
  ...common,
});

/**
 * A literal access key id, or a secret reference resolved (and refreshed) like the secret key:
 * a reference must never be sent to AWS as if it were the id.
 */
function accessKeyId() {
  const reference = secretRef();
  // A reference here is resolved by the secret machinery, so `${env:...}` is not expanded at load.
  const field = z.string().superRefine((text, ctx) => {
    if (parseSecretRef(text) !== undefined) {
      for (const issue of reference.safeParse(text).error?.issues ?? []) ctx.addIssue({ code: 'custom', message: issue.message });
    } else if (text.length < 16 || text.length > 128) {
      ctx.addIssue({ code: 'custom', message: 'must be an access key id (16 to 128 characters) or a secret reference such as "${env:AWS_ACCESS_KEY_ID}"' });
    }
  });
  return secretField(field);
}

export const accessKeys = z.strictObject({
  type: z.literal('access_keys'),
  /** Not a secret (it names the key), so a literal is accepted; a reference works too. */
  access_key_id: accessKeyId(),
  secret_access_key: secretRef(),
  session_token: secretRef().optional(),
  ...common,
});

const roleArn = z.string().regex(/^arn:aws[a-z-]*:iam::\d{12}:role\/[\w+=,.@/-]+$/, 'must be an IAM role ARN (arn:aws:iam::<account>:role/<name>)');
const sessionName = z.string().regex(/^[\w+=,.@-]{2,64}$/, 'must be 2-64 characters of letters, digits and +=,.@_-');

export const webIdentity = z.strictObject({
  type: z.literal('web_identity'),
  role_arn: roleArn,
  /** The projected service-account token (IRSA); re-read at every refresh, kubelet rotates it. */
  token_file: z.string().min(1),
  session_name: sessionName.optional(),
  duration_seconds: z.number().int().min(900).max(43200).optional(),
  ...common,
});

/** Seed 000's spelling of IRSA: role and token file default to what EKS injects. */
export const workloadIdentity = z.strictObject({
  type: z.literal('workload_identity'),
  provider: z.literal('aws_irsa'),
  role_arn: roleArn.optional(),
  token_file: z.string().min(1).optional(),
  session_name: sessionName.optional(),
  ...common,
});

export const bearerToken = z.strictObject({
  type: z.literal('bearer_token'),
  /** A Bedrock API key, sent as `Authorization: Bearer`; requests are not SigV4-signed. */
  token: secretRef(),
  ...common,
});

export type AwsAuth =
  | z.output<typeof defaultCredentials>
  | z.output<typeof accessKeys>
  | z.output<typeof webIdentity>
  | z.output<typeof workloadIdentity>
  | z.output<typeof bearerToken>
  | AssumeRoleAuth;

export interface AssumeRoleAuth {
  type: 'assume_role';
  role_arn: string;
  external_id?: string | undefined;
  session_name?: string | undefined;
  duration_seconds?: number | undefined;
  source?: AwsAuth | undefined;
  refresh_interval?: number | undefined;
}

export const assumeRole = z.strictObject({
  type: z.literal('assume_role'),
  role_arn: roleArn,
  external_id: z.string().min(2).max(1224).optional(),
  session_name: sessionName.optional(),
  duration_seconds: z.number().int().min(900).max(43200).optional(),
  /** The credentials that call sts:AssumeRole; default: `default_credentials`. */
  get source() {
    return awsAuthSchema.optional();
  },
  ...common,
});

export const awsAuthSchema: z.ZodType<AwsAuth, unknown> = z.discriminatedUnion('type', [
  defaultCredentials,
  accessKeys,
  assumeRole,
  webIdentity,
  workloadIdentity,
  bearerToken,
]) as unknown as z.ZodType<AwsAuth, unknown>;
