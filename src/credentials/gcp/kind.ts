import { fetchListener, type CredentialKind, type CredentialKindContext } from '../kind.js';
import { gcpCredential, type BearerCredential } from './index.js';
import { defaultCredentialsAuth, externalAccountAuth, serviceAccountAuth, type GcpAuth } from './schema.js';

/**
 * Google OAuth 2 access tokens (`Authorization: Bearer`), fetched through google-auth-library.
 * `project`, when known, spares Application Default Credentials their project discovery.
 */
export const gcpKind = {
  name: 'gcp',
  types: {
    service_account: { schema: serviceAccountAuth, fetches: true },
    default_credentials: { schema: defaultCredentialsAuth, fetches: true },
    external_account: { schema: externalAccountAuth, fetches: true },
  },
  build(auth: GcpAuth, ctx: CredentialKindContext & { project?: string }) {
    const credential = gcpCredential(auth, {
      secrets: ctx.secrets,
      scrubber: ctx.scrubber,
      baseDir: ctx.baseDir,
      onFetch: fetchListener(ctx),
      ...(ctx.policy ? { policy: ctx.policy } : {}),
      ...(ctx.project !== undefined ? { project: ctx.project } : {}),
    });
    return { credential, close: () => credential.close() };
  },
} satisfies CredentialKind<GcpAuth, { project?: string }, BearerCredential>;
