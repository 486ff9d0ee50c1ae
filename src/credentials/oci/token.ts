import { createPrivateKey, type KeyObject } from 'node:crypto';
// The one function, not the package index: the index loads all of jose (JWS, JWE, JWKs) into every gateway.
import { decodeJwt } from 'jose/jwt/decode';
import type { OciCredential } from '../../signing/oci.js';
import type { SecretScrubber } from '../../observability/scrubber.js';

/** A failure to obtain an OCI security token; its message never carries a token, a key or a passphrase. */
export class OciAuthError extends Error {
  override readonly name = 'OciAuthError';
}

/**
 * The `exp` of an OCI security token (an RPST or an auth-service token: JWTs), in epoch ms.
 * Not verified here: OCI verifies it; the SDKs read `exp` the same way to know when to renew.
 */
export function tokenExpiry(token: string, what: string): number {
  let exp: unknown;
  try {
    exp = decodeJwt(token).exp;
  } catch (cause) {
    throw new OciAuthError(`the ${what} is not a JWT`, { cause });
  }
  if (typeof exp !== 'number' || !Number.isFinite(exp)) throw new OciAuthError(`the ${what} has no exp claim`);
  return exp * 1000;
}

/** A PEM private RSA key; the error names `what`, never the PEM or the passphrase. */
export function rsaPrivateKey(pem: string, passphrase: string | undefined, what: string): KeyObject {
  let key: KeyObject;
  try {
    key = createPrivateKey(passphrase === undefined ? pem : { key: pem, passphrase });
  } catch (cause) {
    throw new OciAuthError(`${what} is not a readable PEM private key${passphrase === undefined ? '' : ' for its passphrase'}`, { cause: sanitized(cause) });
  }
  if (key.asymmetricKeyType !== 'rsa') throw new OciAuthError(`${what} must be an RSA key`);
  return key;
}

/** OpenSSL's decoder errors carry codes, not key material; keep only the code. */
function sanitized(cause: unknown): Error {
  const code = (cause as { code?: unknown } | null)?.code;
  return new Error(typeof code === 'string' ? code : 'key decoding failed');
}

/**
 * A session-token credential: `keyId = ST${token}` with the key the token is bound to. The token
 * is registered with the scrubber (the previous one removed) so no log line shows it.
 */
export class SessionTokenCredentials {
  #previous: string | undefined;
  constructor(private readonly scrubber: SecretScrubber) {}

  make(token: string, privateKey: KeyObject, expiresAt: number): OciCredential {
    if (this.#previous !== undefined && this.#previous !== token) this.scrubber.delete(this.#previous);
    this.scrubber.add(token);
    this.#previous = token;
    return { type: 'oci', keyId: `ST$${token}`, privateKey, expiresAt };
  }
}
