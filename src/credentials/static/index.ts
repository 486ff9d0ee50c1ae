import { GatewayError } from '../../errors/gateway-error.js';
import type { SecretHandle } from '../../secrets/handle.js';
import type { CachedCredential, Credential, CredentialState } from '../types.js';

/**
 * A credential made from secret values (an API key; an AWS access key pair). The secret layer
 * refreshes the values on its interval; this object rebuilds the credential only when a value's
 * version changes, so `get()` is a field read on the request path.
 */
export class StaticCredential<C extends Credential> implements CachedCredential<C> {
  readonly #secrets: readonly SecretHandle[];
  readonly #build: (...values: string[]) => C;
  readonly #method: string;
  #built: C | undefined;
  #builtVersion = -1;

  constructor(secrets: SecretHandle | readonly SecretHandle[], method: string, build: (...values: string[]) => C) {
    this.#secrets = Array.isArray(secrets) ? secrets : [secrets as SecretHandle];
    this.#method = method;
    this.#build = build;
  }

  get(): Promise<C> {
    return Promise.resolve(this.current());
  }

  /** The credential now, synchronously; throws `credential_unavailable` if a secret never resolved. */
  current(): C {
    let version = 0;
    // Versions only grow, so their sum changes whenever any value does.
    for (const s of this.#secrets) version += s.version;
    if (version !== this.#builtVersion) {
      const missing = this.#secrets.find((s) => !s.hasValue);
      if (missing) {
        throw new GatewayError('credential_unavailable', `the provider credential (${missing.ref.raw}) is not available`);
      }
      this.#built = this.#build(...this.#secrets.map((s) => s.value));
      this.#builtVersion = version;
    }
    return this.#built!;
  }

  invalidate(): void {
    // A static key cannot be re-fetched early; the next secret refresh picks up a rotated value.
  }

  /** Reads its secrets from their stores again now (a value rotated there is used at once). */
  async refresh(): Promise<void> {
    await Promise.all(this.#secrets.map((s) => s.refresh()));
  }

  get state(): CredentialState {
    const failed = this.#secrets.find((s) => !s.hasValue && s.status === 'error');
    const pending = this.#secrets.find((s) => !s.hasValue);
    const lastRefreshAt = Math.max(...this.#secrets.map((s) => s.lastRefreshAt ?? 0));
    // Values from a lease (Vault dynamic secrets) expire with it; others do not.
    const expiries = this.#secrets.map((s) => s.expiresAt).filter((e): e is number => e !== undefined);
    return {
      method: this.#method,
      status: failed ? 'error' : pending ? 'pending' : 'ok',
      lastRefreshAt: lastRefreshAt > 0 ? lastRefreshAt : undefined,
      expiresAt: expiries.length > 0 ? Math.min(...expiries) : undefined,
      lastError: this.#secrets.map((s) => s.lastError).find((e) => e !== undefined),
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
