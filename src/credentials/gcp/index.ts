import { resolve } from 'node:path';
import { applicationDefaultToken, externalAccountToken, parseServiceAccountKey, readKeyFile, serviceAccountToken, type GoogleToken, type ServiceAccountKey } from '../../cloud-identity/google.js';
import type { SecretScrubber } from '../../observability/scrubber.js';
import type { SecretResolver } from '../../secrets/resolver.js';
import { RefreshingCredential, type CredentialSource, type FetchListener, type RefreshPolicy } from '../cache.js';
import type { Credential } from '../types.js';
import type { GcpAuth } from './schema.js';

export { parseServiceAccountKey } from '../../cloud-identity/google.js';

export type BearerCredential = Extract<Credential, { type: 'bearer' }>;

export interface GcpCredentialContext {
  secrets: SecretResolver;
  scrubber: SecretScrubber;
  /** Relative `key_file` paths resolve against the config file's folder. */
  baseDir: string;
  onFetch: FetchListener;
  policy?: Partial<RefreshPolicy>;
  /**
   * The instance's project. Named to google-auth-library so that Application Default
   * Credentials skip their project discovery, which runs `gcloud config config-helper` (seconds)
   * and asks the metadata server, on every fetch.
   */
  project?: string;
}

/**
 * A Google OAuth 2 access token for one Vertex instance, refreshed before expiry by RefreshingCredential.
 *
 * @example
 * const cred = gcpCredential({ type: 'service_account', key_file: 'sa.json' }, ctx);
 * await cred.prime();
 * applyHeaderCredential(req, await cred.get()); // Authorization: Bearer ya29...
 */
export function gcpCredential(auth: GcpAuth, ctx: GcpCredentialContext): RefreshingCredential<BearerCredential> {
  return new RefreshingCredential(gcpSource(auth, ctx), { onFetch: ctx.onFetch, ...(ctx.policy ? { policy: ctx.policy } : {}) });
}

function gcpSource(auth: GcpAuth, ctx: GcpCredentialContext): CredentialSource<BearerCredential> {
  const secret = auth.type === 'service_account' && auth.key !== undefined ? ctx.secrets.handle(auth.key, auth.refresh_interval) : undefined;
  let previous: string | undefined;
  return {
    method: auth.type,
    async fetch(signal: AbortSignal): Promise<BearerCredential> {
      let token: GoogleToken;
      if (auth.type === 'service_account') {
        let key: ServiceAccountKey;
        if (secret !== undefined) {
          if (!secret.hasValue) await secret.refresh(signal);
          key = parseServiceAccountKey(secret.value!, 'service_account key');
        } else {
          const path = resolve(ctx.baseDir, auth.key_file!);
          key = parseServiceAccountKey(await readKeyFile(path, 'service_account key_file'), 'service_account key_file');
        }
        token = await serviceAccountToken(key, signal);
      } else if (auth.type === 'external_account') {
        token = await externalAccountToken(resolve(ctx.baseDir, auth.credentials_file));
      } else {
        token = await applicationDefaultToken(signal, ctx.project);
      }
      if (previous !== undefined && previous !== token.token) ctx.scrubber.delete(previous);
      ctx.scrubber.add(token.token);
      previous = token.token;
      return { type: 'bearer', token: token.token, expiresAt: token.expiresAt };
    },
  };
}
