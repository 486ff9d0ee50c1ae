import { resolve } from 'node:path';
import type { Endpoint } from '../../config-fields/fields.js';
import type { SecretScrubber } from '../../observability/scrubber.js';
import type { SecretResolver } from '../../secrets/resolver.js';
import { RefreshingCredential, type FetchListener, type RefreshPolicy } from '../cache.js';
import { APIKEY_GRANT, CR_TOKEN_GRANT, IamTokenSource, readCrToken, type BearerCredential, type IamGrant } from './iam.js';
import { DEFAULT_CR_TOKEN_FILES, DEFAULT_IAM_URL, type IbmIamAuth, type IbmTrustedProfileAuth } from './schema.js';

export { IamError, IamTokenSource, type BearerCredential } from './iam.js';

export interface IbmCredentialContext {
  secrets: SecretResolver;
  scrubber: SecretScrubber;
  /** Relative `cr_token_file` paths resolve against the config file's folder. */
  baseDir: string;
  onFetch: FetchListener;
  policy?: Partial<RefreshPolicy>;
}

/**
 * An IBM Cloud IAM access token for one instance, exchanged from an API key or a trusted
 * profile's compute-resource token, cached and refreshed before expiry by
 * {@link RefreshingCredential}. Call `close()` at shutdown.
 *
 * @example
 * const cred = ibmIamCredential({ type: 'api_key', api_key: '${env:IBM_KEY}' }, ctx);
 * await cred.prime();
 */
export function ibmIamCredential(auth: IbmIamAuth, ctx: IbmCredentialContext): RefreshingCredential<BearerCredential> {
  const iam: Endpoint = auth.iam_url ?? { origin: DEFAULT_IAM_URL, basePath: '' };
  let grant: IamGrant;
  switch (auth.type) {
    case 'api_key': {
      const key = ctx.secrets.handle(auth.api_key);
      grant = { grantType: APIKEY_GRANT, params: async () => ({ apikey: key.value }) };
      break;
    }
    case 'trusted_profile': {
      const files = auth.cr_token_file !== undefined ? [resolve(ctx.baseDir, auth.cr_token_file)] : DEFAULT_CR_TOKEN_FILES;
      const profile = profileParams(auth);
      grant = { grantType: CR_TOKEN_GRANT, params: async () => ({ cr_token: await readCrToken(files), ...profile }) };
      break;
    }
    default:
      return auth satisfies never;
  }
  return new RefreshingCredential(new IamTokenSource(auth.type, iam, grant, ctx.scrubber), { onFetch: ctx.onFetch, ...(ctx.policy ? { policy: ctx.policy } : {}) });
}

function profileParams(auth: IbmTrustedProfileAuth): Record<string, string> {
  if (auth.profile_id !== undefined) return { profile_id: auth.profile_id };
  if (auth.profile_crn !== undefined) return { profile_crn: auth.profile_crn };
  return { profile_name: auth.profile_name!, account_id: auth.account_id! };
}
