import type { AccessToken, TokenCredential } from '@azure/identity';
import { resolve } from 'node:path';
import type { SecretScrubber } from '../../observability/scrubber.js';
import type { SecretResolver } from '../../secrets/resolver.js';
import { RefreshingCredential, type CredentialSource, type FetchListener, type RefreshPolicy } from '../cache.js';
import type { Credential } from '../types.js';
import type { EntraAuth } from './schema.js';

export type BearerCredential = Extract<Credential, { type: 'bearer' }>;

export interface EntraCredentialContext {
  secrets: SecretResolver;
  scrubber: SecretScrubber;
  /** Relative `token_file` paths resolve against the config file's folder. */
  baseDir: string;
  onFetch: FetchListener;
  policy?: Partial<RefreshPolicy>;
}

/**
 * An Entra ID access token for one instance, refreshed before expiry by RefreshingCredential.
 *
 * @example
 * const cred = entraCredential({ type: 'managed_identity', scope: DEFAULT_AZURE_SCOPE }, ctx);
 * await cred.prime();
 * applyHeaderCredential(req, await cred.get()); // Authorization: Bearer ...
 */
export function entraCredential(auth: EntraAuth, ctx: EntraCredentialContext): RefreshingCredential<BearerCredential> {
  return new RefreshingCredential(entraSource(auth, ctx), { onFetch: ctx.onFetch, ...(ctx.policy ? { policy: ctx.policy } : {}) });
}

/** `@azure/identity` (and MSAL behind it), loaded on first use: gateways without Entra instances never load it. */
type Identity = typeof import('@azure/identity');
let identity: Promise<Identity> | undefined;

function entraSource(auth: EntraAuth, ctx: EntraCredentialContext): CredentialSource<BearerCredential> {
  const secrets = secretHandles(auth, ctx);
  let previous: string | undefined;
  return {
    method: auth.type,
    async fetch(signal: AbortSignal): Promise<BearerCredential> {
      for (const handle of Object.values(secrets)) if (handle !== undefined && !handle.hasValue) await handle.refresh(signal);
      const lib = await (identity ??= import('@azure/identity'));
      // A new credential per fetch: MSAL's confidential-client cache would otherwise answer a
      // fetch that follows a 401 with the very token Azure just rejected; this cache is the
      // only one. It also makes each fetch re-read what may have rotated: the secret values and
      // the federated token file. (Managed identity tokens sit in MSAL's process-wide cache
      // regardless, until five minutes before they expire.)
      const credential = build(lib, auth, ctx, { secret: secrets.secret?.value, certificate: secrets.certificate?.value, password: secrets.password?.value });
      const token: AccessToken | null = await credential.getToken(auth.scope, { abortSignal: signal });
      if (token === null) throw new Error(`${auth.type}: no token was returned`);
      if (previous !== undefined && previous !== token.token) ctx.scrubber.delete(previous);
      ctx.scrubber.add(token.token);
      previous = token.token;
      return { type: 'bearer', token: token.token, expiresAt: token.expiresOnTimestamp };
    },
  };
}

type SecretHandle = ReturnType<SecretResolver['handle']>;

/** The secret references of a block, resolved (and re-read on their interval) by the resolver. */
function secretHandles(auth: EntraAuth, ctx: EntraCredentialContext): { secret?: SecretHandle; certificate?: SecretHandle; password?: SecretHandle } {
  switch (auth.type) {
    case 'client_secret':
      return { secret: ctx.secrets.handle(auth.client_secret, auth.refresh_interval) };
    case 'client_certificate':
      return {
        certificate: ctx.secrets.handle(auth.certificate, auth.refresh_interval),
        ...(auth.password !== undefined ? { password: ctx.secrets.handle(auth.password, auth.refresh_interval) } : {}),
      };
    default:
      return {};
  }
}

interface SecretValues {
  secret: string | undefined;
  certificate: string | undefined;
  password: string | undefined;
}

/**
 * The `@azure/identity` credential for a kind. The authority host is `AZURE_AUTHORITY_HOST`
 * (read by the library itself); instance discovery is disabled so that a sovereign or private
 * authority is used as given instead of being validated against login.microsoftonline.com's
 * list. `@azure/identity` requires the authority to be https.
 *
 * Managed identity goes through MSAL's `ManagedIdentityApplication`, which picks its source
 * once per process from the environment: App Service / Container Apps (`IDENTITY_ENDPOINT` +
 * `IDENTITY_HEADER`), Service Fabric, Azure ML, Cloud Shell, Azure Arc, else IMDS at
 * `AZURE_POD_IDENTITY_AUTHORITY_HOST` (default 169.254.169.254).
 */
function build(lib: Identity, auth: EntraAuth, ctx: EntraCredentialContext, values: SecretValues): TokenCredential {
  // No retries inside a fetch: RefreshingCredential backs off and retries itself, and an Entra
  // outage should fail a fetch quickly rather than hold it through the pipeline's backoff.
  const options = { disableInstanceDiscovery: true, retryOptions: { maxRetries: 0 } };
  switch (auth.type) {
    case 'client_secret':
      return new lib.ClientSecretCredential(auth.tenant_id, auth.client_id, values.secret!, options);
    case 'client_certificate':
      // MSAL signs a client_assertion with the key: PS256 naming the certificate by its SHA-256
      // thumbprint (`x5t#S256`), and the chain in `x5c` when asked
      // (https://learn.microsoft.com/entra/identity-platform/certificate-credentials).
      return new lib.ClientCertificateCredential(
        auth.tenant_id,
        auth.client_id,
        { certificate: values.certificate!, ...(values.password !== undefined ? { certificatePassword: values.password } : {}) },
        { ...options, sendCertificateChain: auth.send_certificate_chain },
      );
    case 'managed_identity':
      // Honours IDENTITY_ENDPOINT/IDENTITY_HEADER (App Service, Container Apps), Azure Arc,
      // Cloud Shell, Service Fabric, and IMDS (AZURE_POD_IDENTITY_AUTHORITY_HOST overrides its host).
      return auth.client_id !== undefined ? new lib.ManagedIdentityCredential({ clientId: auth.client_id }) : new lib.ManagedIdentityCredential();
    case 'workload_identity': {
      const tokenFile = auth.token_file ?? process.env['AZURE_FEDERATED_TOKEN_FILE'];
      const tenantId = auth.tenant_id ?? process.env['AZURE_TENANT_ID'];
      const clientId = auth.client_id ?? process.env['AZURE_CLIENT_ID'];
      if (!tokenFile || !tenantId || !clientId) {
        throw new Error('workload_identity needs tenant_id, client_id and token_file, or AZURE_TENANT_ID, AZURE_CLIENT_ID and AZURE_FEDERATED_TOKEN_FILE from AKS');
      }
      // WorkloadIdentityCredential re-reads the file when the assertion is older than 5 minutes.
      return new lib.WorkloadIdentityCredential({ ...options, tenantId, clientId, tokenFilePath: resolve(ctx.baseDir, tokenFile) });
    }
    case 'default_credentials':
      return new lib.DefaultAzureCredential(options);
  }
}
