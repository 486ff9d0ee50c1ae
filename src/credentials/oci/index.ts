import type { Endpoint } from '../../config-fields/fields.js';
import { GatewayError } from '../../errors/gateway-error.js';
import type { OciCredential } from '../../signing/oci.js';
import { RefreshingCredential } from '../cache.js';
import { StaticCredential } from '../static/index.js';
import type { CachedCredential } from '../types.js';
import type { Logger } from '../../observability/logger.js';
import type { Metrics } from '../../observability/metrics.js';
import type { SecretScrubber } from '../../observability/scrubber.js';
import type { SecretResolver } from '../../secrets/resolver.js';
import { InstancePrincipalSource } from './instance-principal.js';
import { ResourcePrincipalSource } from './resource-principal.js';
import { DEFAULT_METADATA_URL, type OciAuth } from './schema.js';
import { OciAuthError, rsaPrivateKey } from './token.js';

export { ociAuthSchema, type OciAuth } from './schema.js';
export { InstancePrincipalSource } from './instance-principal.js';
export { ResourcePrincipalSource } from './resource-principal.js';

/** What the OCI credentials need of their provider's context (a `ProviderContext` is one). */
export interface OciCredentialContext {
  secrets: SecretResolver;
  /** Security tokens are registered here so no log line shows them. */
  scrubber: SecretScrubber;
  logger: Logger;
  metrics: Metrics;
}

/**
 * The credential of one OCI instance: an API signing key (rebuilt when its secret changes), or a
 * security token of the instance principal or the resource principal (cached by
 * {@link RefreshingCredential}, renewed before its `exp`, fetches counted in
 * `llmproxy_credential_refresh_total{provider="oci"}`). Call `close()` at shutdown.
 *
 * @example
 * const cred = ociCredential('oci_chicago', { type: 'instance_principal' }, ctx);
 * await cred.prime?.();
 */
export function ociCredential(name: string, auth: OciAuth, ctx: OciCredentialContext, refreshWindowMs?: number): CachedCredential<OciCredential> & { close?(): void } {
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
      return refreshing(name, new InstancePrincipalSource(metadata, auth.federation_endpoint, ctx.scrubber), ctx, refreshWindowMs);
    }
    case 'resource_principal':
      return refreshing(name, new ResourcePrincipalSource(ctx.scrubber), ctx, refreshWindowMs);
    default:
      return auth satisfies never;
  }
}

function refreshing(name: string, source: InstancePrincipalSource | ResourcePrincipalSource, ctx: OciCredentialContext, refreshWindowMs: number | undefined): RefreshingCredential<OciCredential> {
  return new RefreshingCredential(source, {
    ...(refreshWindowMs !== undefined ? { policy: { refreshWindowMs } } : {}),
    onFetch: ({ method, ok, error }) => {
      ctx.metrics.credentialRefresh.inc({ provider: 'oci', method, status: ok ? 'success' : 'failure' });
      if (!ok) ctx.logger.warn({ instance: name, method, error }, 'provider credential fetch failed');
    },
  });
}
