import { z } from 'zod';
import { duration, secretRef } from '../../config-fields/fields.js';

/**
 * Entra ID (`authentication` of Azure OpenAI instances other than `api_key`): each kind obtains
 * an access token for `scope` through `@azure/identity`; the token is sent as
 * `Authorization: Bearer`. The authority host follows `AZURE_AUTHORITY_HOST` (sovereign clouds).
 */

/** Azure OpenAI's resource; tokens for it are accepted by every Azure OpenAI / AI Foundry resource. */
export const DEFAULT_AZURE_SCOPE = 'https://cognitiveservices.azure.com/.default';

const tenantId = z.string().regex(/^[\w.-]{1,100}$/, 'must be a tenant id (a GUID) or a tenant domain');
const clientId = z.string().regex(/^[0-9a-fA-F-]{8,64}$|^[\w.-]{1,100}$/, 'must be an application (client) id');

const common = {
  scope: z.string().min(1).default(DEFAULT_AZURE_SCOPE),
  /** Overrides `secrets.refresh_interval` for the secret references of this block. */
  refresh_interval: duration().optional(),
};

export const clientSecretAuth = z.strictObject({
  type: z.literal('client_secret'),
  tenant_id: tenantId,
  client_id: clientId,
  client_secret: secretRef(),
  ...common,
});

/**
 * A certificate registered on the app registration: `certificate` is a secret reference to PEM
 * text holding the certificate and its private key (as `az ad sp create-for-rbac --create-cert`
 * writes it); `password` decrypts an encrypted key. The client proves possession with a
 * `client_assertion` JWT signed by the key and naming the certificate's thumbprint.
 */
export const clientCertificateAuth = z.strictObject({
  type: z.literal('client_certificate'),
  tenant_id: tenantId,
  client_id: clientId,
  certificate: secretRef(),
  password: secretRef().optional(),
  /** Send the certificate chain (`x5c`) for subject name / issuer authentication. */
  send_certificate_chain: z.boolean().default(false),
  ...common,
});

export const managedIdentityAuth = z.strictObject({
  type: z.literal('managed_identity'),
  /** A user-assigned identity's client id; absent: the system-assigned identity. */
  client_id: clientId.optional(),
  ...common,
});

/** AKS workload identity; fields default to what the webhook injects (AZURE_TENANT_ID, ...). */
export const workloadIdentityAuth = z.strictObject({
  type: z.literal('workload_identity'),
  tenant_id: tenantId.optional(),
  client_id: clientId.optional(),
  /** The projected service-account token; re-read at every refresh (kubelet rotates it). */
  token_file: z.string().min(1).optional(),
  ...common,
});

/** `DefaultAzureCredential`: environment, workload identity, managed identity, developer tools. */
export const defaultCredentialsAuth = z.strictObject({
  type: z.literal('default_credentials'),
  ...common,
});

export const entraAuthSchemas = [clientSecretAuth, clientCertificateAuth, managedIdentityAuth, workloadIdentityAuth, defaultCredentialsAuth] as const;

export type EntraAuth =
  | z.output<typeof clientSecretAuth>
  | z.output<typeof clientCertificateAuth>
  | z.output<typeof managedIdentityAuth>
  | z.output<typeof workloadIdentityAuth>
  | z.output<typeof defaultCredentialsAuth>;
