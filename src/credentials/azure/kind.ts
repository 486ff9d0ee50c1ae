import { fetchListener, type CredentialKind, type CredentialKindContext } from '../kind.js';
import { entraCredential, type BearerCredential } from './index.js';
import { clientCertificateAuth, clientSecretAuth, defaultCredentialsAuth, managedIdentityAuth, workloadIdentityAuth, type EntraAuth } from './schema.js';

/** Microsoft Entra ID access tokens (`Authorization: Bearer`), fetched through `@azure/identity`. */
export const azureKind = {
  name: 'azure',
  types: {
    client_secret: { schema: clientSecretAuth, fetches: true },
    client_certificate: { schema: clientCertificateAuth, fetches: true },
    managed_identity: { schema: managedIdentityAuth, fetches: true },
    workload_identity: { schema: workloadIdentityAuth, fetches: true },
    default_credentials: { schema: defaultCredentialsAuth, fetches: true },
  },
  build(auth: EntraAuth, ctx: CredentialKindContext) {
    const credential = entraCredential(auth, { secrets: ctx.secrets, scrubber: ctx.scrubber, baseDir: ctx.baseDir, onFetch: fetchListener(ctx), ...(ctx.policy ? { policy: ctx.policy } : {}) });
    return { credential, close: () => credential.close() };
  },
} satisfies CredentialKind<EntraAuth, unknown, BearerCredential>;
