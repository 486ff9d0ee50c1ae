import { fetchListener, type CredentialKind, type CredentialKindContext } from '../kind.js';
import { ibmIamCredential, type BearerCredential } from './index.js';
import { ibmApiKeyAuth, ibmTrustedProfileAuth, type IbmIamAuth } from './schema.js';

/** IBM Cloud IAM access tokens (`Authorization: Bearer`), exchanged from an API key or a trusted profile's compute-resource token. */
export const ibmKind = {
  name: 'ibm',
  types: {
    api_key: { schema: ibmApiKeyAuth, fetches: true },
    trusted_profile: { schema: ibmTrustedProfileAuth, fetches: true },
  },
  build(auth: IbmIamAuth, ctx: CredentialKindContext) {
    const credential = ibmIamCredential(auth, { secrets: ctx.secrets, scrubber: ctx.scrubber, baseDir: ctx.baseDir, onFetch: fetchListener(ctx), ...(ctx.policy ? { policy: ctx.policy } : {}) });
    return { credential, close: () => credential.close() };
  },
} satisfies CredentialKind<IbmIamAuth, unknown, BearerCredential>;
