import { z } from 'zod';
import { duration, secretRef } from '../../config-fields/fields.js';

/**
 * Google Cloud authentication of Vertex instances other than `access_token`: each kind obtains an
 * OAuth 2 access token for {@link GCP_SCOPE} through `google-auth-library`; the token is sent as
 * `Authorization: Bearer`.
 */
export { GCP_SCOPE } from '../../cloud-identity/google.js';

/** A service account key: `key_file` (relative to the config file's folder) or `key` (a secret reference to the key JSON). */
export const serviceAccountAuth = z
  .strictObject({
    type: z.literal('service_account'),
    key_file: z.string().min(1).optional(),
    key: secretRef().optional(),
    /** Overrides `secrets.refresh_interval` for `key`. */
    refresh_interval: duration().optional(),
  })
  .refine((a) => (a.key_file === undefined) !== (a.key === undefined), { message: 'service_account needs exactly one of key_file and key' });

/** Application Default Credentials: `GOOGLE_APPLICATION_CREDENTIALS`, gcloud's file, or the metadata server. */
export const defaultCredentialsAuth = z.strictObject({
  type: z.literal('default_credentials'),
});

/**
 * Workload identity federation: an `external_account` credentials JSON (`token_url`,
 * `subject_token_type`, `credential_source`, ...) as `gcloud iam workload-identity-pools
 * create-cred-config` writes it; `credentials_file` is relative to the config file's folder.
 * The subject token (`credential_source.file`) is re-read at every refresh.
 */
export const externalAccountAuth = z.strictObject({
  type: z.literal('external_account'),
  credentials_file: z.string().min(1),
});

export const gcpAuthSchemas = [serviceAccountAuth, defaultCredentialsAuth, externalAccountAuth] as const;

export type GcpAuth = z.output<typeof serviceAccountAuth> | z.output<typeof defaultCredentialsAuth> | z.output<typeof externalAccountAuth>;
