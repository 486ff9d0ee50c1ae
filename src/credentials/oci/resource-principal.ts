import { isAbsolute } from 'node:path';
import { readFile } from 'node:fs/promises';
import type { SecretScrubber } from '../../observability/scrubber.js';
import type { OciCredential } from '../../signing/oci.js';
import type { CredentialSource } from '../cache.js';
import { OciAuthError, rsaPrivateKey, SessionTokenCredentials, tokenExpiry } from './token.js';

export const RP_VERSION = 'OCI_RESOURCE_PRINCIPAL_VERSION';
export const RP_RPST = 'OCI_RESOURCE_PRINCIPAL_RPST';
export const RP_PRIVATE_PEM = 'OCI_RESOURCE_PRINCIPAL_PRIVATE_PEM';
export const RP_PRIVATE_PEM_PASSPHRASE = 'OCI_RESOURCE_PRINCIPAL_PRIVATE_PEM_PASSPHRASE';
export const RP_REGION = 'OCI_RESOURCE_PRINCIPAL_REGION';

/**
 * Resource principal v2.2 as a credential source: one fetch reads the environment (and the
 * files it names) afresh, so a token the platform rotated in place is picked up at the next
 * refresh, which {@link RefreshingCredential} schedules before the RPST's `exp`.
 *
 * The rules are oci-common's (`ResourcePrincipalAuthenticationDetailsProviderBuilder.build_2_2`):
 * a value that is an absolute path is a file to read, anything else is the content itself; a
 * PEM given as a path takes its passphrase as a path too. Versions 1.1 and 2.1 (an RPST fetched
 * from a token endpoint with a resource principal token) are refused, as oci-common refuses them.
 *
 * @example
 * const cred = new RefreshingCredential(new ResourcePrincipalSource(scrubber));
 * await cred.prime(); // { type: 'oci', keyId: 'ST$eyJ...', privateKey, expiresAt }
 */
export class ResourcePrincipalSource implements CredentialSource<OciCredential> {
  readonly method = 'resource_principal';
  readonly #env: NodeJS.ProcessEnv;
  readonly #now: () => number;
  readonly #credentials: SessionTokenCredentials;

  constructor(scrubber: SecretScrubber, env: NodeJS.ProcessEnv = process.env, now: () => number = Date.now) {
    this.#env = env;
    this.#now = now;
    this.#credentials = new SessionTokenCredentials(scrubber);
  }

  async fetch(signal: AbortSignal): Promise<OciCredential> {
    const env = this.#env;
    const version = env[RP_VERSION];
    if (!version) throw new OciAuthError(`${RP_VERSION} is not set: resource_principal needs the environment an OCI service sets up for its resources`);
    if (version !== '2.2') {
      throw new OciAuthError(`${RP_VERSION}=${version.slice(0, 10)} is not supported: only 2.2 (token and key given in the environment); 1.1 and 2.1 need a resource principal token endpoint`);
    }
    const rpstSetting = required(env, RP_RPST);
    const pemSetting = required(env, RP_PRIVATE_PEM);
    const region = required(env, RP_REGION);
    if (!/^[a-z0-9-]{2,40}$/.test(region)) throw new OciAuthError(`${RP_REGION} is not a region identifier or short code`);
    const passSetting = env[RP_PRIVATE_PEM_PASSPHRASE] || undefined;
    const pemIsPath = isAbsolute(pemSetting);
    if (pemIsPath && passSetting !== undefined && !isAbsolute(passSetting)) {
      throw new OciAuthError(`${RP_PRIVATE_PEM} is a path but ${RP_PRIVATE_PEM_PASSPHRASE} is not: give both as paths or both as values`);
    }
    const [rpst, pem, passphrase] = await Promise.all([
      isAbsolute(rpstSetting) ? readSetting(rpstSetting, RP_RPST, signal) : rpstSetting,
      pemIsPath ? readSetting(pemSetting, RP_PRIVATE_PEM, signal) : pemSetting,
      passSetting !== undefined && pemIsPath ? readSetting(passSetting, RP_PRIVATE_PEM_PASSPHRASE, signal) : passSetting,
    ]);
    const token = rpst.trim();
    const expiresAt = tokenExpiry(token, `resource principal session token (${RP_RPST})`);
    if (expiresAt <= this.#now()) {
      throw new OciAuthError(`the resource principal session token (${RP_RPST}) expired at ${new Date(expiresAt).toISOString()} and has not been replaced`);
    }
    const privateKey = rsaPrivateKey(pem, passphrase?.trim(), `the resource principal key (${RP_PRIVATE_PEM})`);
    return this.#credentials.make(token, privateKey, expiresAt);
  }
}

function required(env: NodeJS.ProcessEnv, name: string): string {
  const value = env[name];
  if (!value) throw new OciAuthError(`${name} is not set (resource principal ${env[RP_VERSION]})`);
  return value;
}

/** A file named by an environment variable; the error names the variable and the path, not the content. */
async function readSetting(path: string, name: string, signal: AbortSignal): Promise<string> {
  try {
    return await readFile(path, { encoding: 'utf8', signal });
  } catch (err) {
    throw new OciAuthError(`cannot read ${name} file ${path}: ${(err as NodeJS.ErrnoException).code ?? 'error'}`);
  }
}
