import { GatewayError } from '../../errors/gateway-error.js';
import type { SecretHandle } from '../../secrets/handle.js';
import type { CachedCredential, Credential, CredentialState } from '../types.js';

/**
 * A credential made from one secret value (an API key). The secret layer refreshes the value on
 * its interval; this object rebuilds the credential only when the value's version changes, so
 * `get()` is a field read on the request path.
 */
export class StaticCredential<C extends Credential> implements CachedCredential<C> {
  readonly #secret: SecretHandle;
  readonly #build: (value: string) => C;
  readonly #method: string;
  #built: C | undefined;
  #builtVersion = -1;

  constructor(secret: SecretHandle, method: string, build: (value: string) => C) {
    this.#secret = secret;
    this.#method = method;
    this.#build = build;
  }

  get(): Promise<C> {
    return Promise.resolve(this.current());
  }

  /** The credential now, synchronously; throws `credential_unavailable` if the secret never resolved. */
  current(): C {
    const version = this.#secret.version;
    if (version !== this.#builtVersion) {
      if (!this.#secret.hasValue) {
        throw new GatewayError('credential_unavailable', `the provider credential (${this.#secret.ref.raw}) is not available`);
      }
      this.#built = this.#build(this.#secret.value);
      this.#builtVersion = version;
    }
    return this.#built!;
  }

  invalidate(): void {
    // A static key cannot be re-fetched early; the next secret refresh picks up a rotated value.
  }

  get state(): CredentialState {
    const s = this.#secret;
    return {
      method: this.#method,
      status: s.hasValue ? 'ok' : s.status === 'error' ? 'error' : 'pending',
      lastRefreshAt: s.lastRefreshAt,
      expiresAt: undefined,
      lastError: s.lastError,
    };
  }
}

/**
 * A credential fixed for the life of the process (the demo upstream's generated token). Used
 * where no secret store is involved.
 */
export class FixedCredential<C extends Credential> implements CachedCredential<C> {
  readonly #credential: C;
  readonly #state: CredentialState;

  constructor(credential: C, method: string) {
    this.#credential = credential;
    this.#state = { method, status: 'ok', lastRefreshAt: Date.now(), expiresAt: undefined, lastError: undefined };
  }

  get(): Promise<C> {
    return Promise.resolve(this.#credential);
  }

  invalidate(): void {}

  get state(): CredentialState {
    return this.#state;
  }
}
