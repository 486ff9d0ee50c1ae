import type { Endpoint } from '../../config-fields/fields.js';
import { GatewayError } from '../../errors/gateway-error.js';
import type { OciCredential } from '../../signing/oci.js';
import { RefreshingCredential, type FetchListener, type RefreshPolicy } from '../cache.js';
import { StaticCredential } from '../static/index.js';
import type { CachedCredential } from '../types.js';
import type { SecretScrubber } from '../../observability/scrubber.js';
import type { SecretResolver } from '../../secrets/resolver.js';
import { InstancePrincipalSource } from './instance-principal.js';
import { ResourcePrincipalSource } from './resource-principal.js';
import { DEFAULT_METADATA_URL, type OciAuth } from './schema.js';
import { OciAuthError, rsaPrivateKey } from './token.js';

export { ociAuthSchema, type OciAuth } from './schema.js';
export { InstancePrincipalSource } from './instance-principal.js';
export { ResourcePrincipalSource } from './resource-principal.js';

/** What the OCI credentials need to be built. */
export interface OciCredentialContext {
  secrets: SecretResolver;
  /** Security tokens are registered here so no log line shows them. */
  scrubber: SecretScrubber;
  /** Told about every security token fetch (metrics, logs). */
  onFetch: FetchListener;
  policy?: Partial<RefreshPolicy>;
}

/**
 * The credential of one OCI instance: an API signing key (rebuilt when its secret changes), or a
 * security token of the instance principal or the resource principal (cached by
 * {@link RefreshingCredential}, renewed before its `exp`, each fetch told to `ctx.onFetch`).
 * Call `close()` at shutdown.
 *
 * @example
 * const cred = ociCredential({ type: 'instance_principal' }, ctx);
 * await cred.prime?.();
 */
export function ociCredential(auth: OciAuth, ctx: OciCredentialContext): CachedCredential<OciCredential> & { close?(): void } {
  switch (auth.type) {
    case 'api_key': {
      const keyId = `${auth.tenancy}/${auth.user}/${auth.fingerprint}`;
      const pem = ctx.secrets.handle(auth.private_key, auth.refresh_interval);
      const handles = auth.passphrase === undefined ? [pem] : [pem, ctx.secrets.handle(auth.passphrase, auth.refresh_interval)];
      return new StaticCredential(handles, 'api_key', (key, passphrase): OciCredential => {
        try {
          return { type: 'oci', keyId, privateKey: rsaPrivateKey(key!, passphrase, `the OCI private key (${auth.private_key})`) };
        } catch (err) {
          if (err instanceof OciAuthError) throw new GatewayError('credential_unavailable', err.message, { cause: err });
          throw err;
        }
      });
    }
    case 'instance_principal': {
      const metadata: Endpoint = auth.metadata_url ?? { origin: new URL(DEFAULT_METADATA_URL).origin, basePath: new URL(DEFAULT_METADATA_URL).pathname };
      return refreshing(new InstancePrincipalSource(metadata, auth.federation_endpoint, ctx.scrubber), ctx);
    }
    case 'resource_principal':
      return refreshing(new ResourcePrincipalSource(ctx.scrubber), ctx);
    default:
      return auth satisfies never;
  }
}

function refreshing(source: InstancePrincipalSource | ResourcePrincipalSource, ctx: OciCredentialContext): RefreshingCredential<OciCredential> {
  return new RefreshingCredential(source, { onFetch: ctx.onFetch, ...(ctx.policy ? { policy: ctx.policy } : {}) });
}
