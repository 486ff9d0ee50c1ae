import { z } from 'zod';
import { endpointUrl, secretRef } from '../../config-fields/fields.js';

export { DEFAULT_CR_TOKEN_FILES, DEFAULT_IAM_URL } from '../../cloud-identity/ibm-iam.js';

/**
 * `authentication: { type: api_key, api_key: "${...}", iam_url? }`: an IBM Cloud API key the
 * gateway exchanges at IAM (`grant_type=urn:ibm:params:oauth:grant-type:apikey`) for an access
 * token living an hour, refreshed before it expires.
 */
export const ibmApiKeyAuth = z.strictObject({
  type: z.literal('api_key'),
  api_key: secretRef(),
  iam_url: endpointUrl().optional(),
});

/**
 * `authentication: { type: trusted_profile, profile_id | profile_crn | profile_name + account_id,
 * cr_token_file?, iam_url? }`: the compute resource's own token (re-read at every exchange, the
 * platform rotates it) traded at IAM for a trusted profile's access token
 * (`grant_type=urn:ibm:params:oauth:grant-type:cr-token`). No secret in the config.
 * See https://cloud.ibm.com/docs/account?topic=account-iamtoken_from_apikey#iamtoken_from_cr_token
 */
export const ibmTrustedProfileAuth = z
  .strictObject({
    type: z.literal('trusted_profile'),
    profile_id: z.string().min(1).max(200).optional(),
    profile_crn: z.string().startsWith('crn:', 'must be a CRN (crn:v1:...)').optional(),
    profile_name: z.string().min(1).max(200).optional(),
    /** The account of `profile_name` (IAM needs it to resolve a name). */
    account_id: z.string().min(1).max(200).optional(),
    /** Relative paths resolve against the config file's folder. */
    cr_token_file: z.string().min(1).optional(),
    iam_url: endpointUrl().optional(),
  })
  .superRefine((a, ctx) => {
    const given = [a.profile_id, a.profile_crn, a.profile_name].filter((v) => v !== undefined).length;
    if (given !== 1) ctx.addIssue({ code: 'custom', path: ['profile_id'], message: 'exactly one of profile_id, profile_crn and profile_name is required' });
    if (a.profile_name !== undefined && a.account_id === undefined) ctx.addIssue({ code: 'custom', path: ['account_id'], message: 'required with profile_name' });
    if (a.account_id !== undefined && a.profile_name === undefined) ctx.addIssue({ code: 'custom', path: ['account_id'], message: 'only used with profile_name' });
  });

export type IbmApiKeyAuth = z.output<typeof ibmApiKeyAuth>;
export type IbmTrustedProfileAuth = z.output<typeof ibmTrustedProfileAuth>;
export type IbmIamAuth = IbmApiKeyAuth | IbmTrustedProfileAuth;
