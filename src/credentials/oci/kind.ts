import { fetchListener, type CredentialKind, type CredentialKindContext } from '../kind.js';
import type { OciCredential } from '../../signing/oci.js';
import { ociCredential } from './index.js';
import { ociApiKeyAuth, ociInstancePrincipalAuth, ociResourcePrincipalAuth, type OciAuth } from './schema.js';

/**
 * OCI request-signing credentials: an API signing key kept in a secret store, or a security
 * token of the instance principal or the resource principal.
 */
export const ociKind = {
  name: 'oci',
  types: {
    api_key: { schema: ociApiKeyAuth, fetches: false },
    instance_principal: { schema: ociInstancePrincipalAuth, fetches: true },
    resource_principal: { schema: ociResourcePrincipalAuth, fetches: true },
  },
  build(auth: OciAuth, ctx: CredentialKindContext) {
    const credential = ociCredential(auth, { secrets: ctx.secrets, scrubber: ctx.scrubber, onFetch: fetchListener(ctx), ...(ctx.policy ? { policy: ctx.policy } : {}) });
    const close = credential.close?.bind(credential);
    return { credential, ...(close ? { close } : {}) };
  },
} satisfies CredentialKind<OciAuth, unknown, OciCredential>;
