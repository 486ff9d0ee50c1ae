import { GatewayError } from '../errors/gateway-error.js';
import type { CachedCredential, Credential, CredentialState } from './types.js';

/**
 * Where a credential comes from: STS, IMDS, a token endpoint... One call is one fetch. `fetch`
 * must settle when `signal` aborts (the cache's timeout and shutdown), and its errors must not
 * carry secret values: their messages reach logs and `config check`.
 */
export interface CredentialSource<C extends Credential> {
  /** Authentication method as configured (`assume_role`, `web_identity`, ...). */
  readonly method: string;
  fetch(signal: AbortSignal): Promise<C>;
}

export interface RefreshPolicy {
  /** Refresh this long before expiry (default 5 minutes). */
  refreshWindowMs: number;
  /** First retry delay after a failed fetch; doubles per failure up to `maxBackoffMs`. */
  minBackoffMs: number;
  maxBackoffMs: number;
  /** An invalidate() within this long after a fetch is ignored, so a burst of 403s costs one fetch. */
  invalidateCooldownMs: number;
  /** A fetch taking longer than this fails. */
  fetchTimeoutMs: number;
}

export const DEFAULT_REFRESH_POLICY: RefreshPolicy = {
  refreshWindowMs: 5 * 60_000,
  minBackoffMs: 1_000,
  maxBackoffMs: 60_000,
  invalidateCooldownMs: 2_000,
  fetchTimeoutMs: 30_000,
};

/** Told about every fetch, for `llmproxy_credential_refresh_total` and logs. */
export type FetchListener = (result: { method: string; ok: boolean; error?: string }) => void;

/**
 * Wraps a credential source once per instance: the request path reads the cached credential;
 * fetches happen before expiry, one at a time (concurrent callers share the fetch in flight).
 * While a refresh fails the last good credential is served until it actually expires, retrying
 * with exponential backoff; after `invalidate()` (the upstream said the credential is stale) the
 * next `get()` waits for a fresh one.
 *
 * @example
 * const cred = new RefreshingCredential(stsSource, { onFetch: countRefresh });
 * await cred.prime();               // at startup: fail fast if it cannot be obtained
 * signer.sign(req, await cred.get()); // on the hot path: a field read while fresh
 */
export class RefreshingCredential<C extends Credential> implements CachedCredential<C> {
  readonly #source: CredentialSource<C>;
  readonly #policy: RefreshPolicy;
  readonly #onFetch: FetchListener | undefined;
  readonly #now: () => number;
  #current: C | undefined;
  #fetchedAt: number | undefined;
  #inflight: Promise<C> | undefined;
  #stale = false;
  #failures = 0;
  /** After a failure: no new fetch before this (backoff). */
  #nextAttemptAt = 0;
  /** After a success: when the next refresh is due (the timer, and get() inside the window). */
  #refreshDueAt = 0;
  #lastError: string | undefined;
  #timer: NodeJS.Timeout | undefined;
  #closed = false;
  readonly #abort = new AbortController();

  constructor(source: CredentialSource<C>, options: { policy?: Partial<RefreshPolicy>; onFetch?: FetchListener; now?: () => number } = {}) {
    this.#source = source;
    this.#policy = { ...DEFAULT_REFRESH_POLICY, ...options.policy };
    this.#onFetch = options.onFetch;
    this.#now = options.now ?? Date.now;
  }

  /** Fetches the first credential; rejects if that fails (startup and `config check` report it). */
  async prime(): Promise<void> {
    await this.#refresh();
  }

  get(): Promise<C> {
    const current = this.#current;
    const now = this.#now();
    if (current !== undefined && !this.#stale) {
      const expiresAt = current.expiresAt;
      if (expiresAt === undefined || now < expiresAt - this.#policy.refreshWindowMs) return Promise.resolve(current);
      if (now < expiresAt) {
        // Inside the refresh window: refresh in the background, keep serving the valid one.
        if (this.#inflight === undefined && now >= this.#refreshDueAt && now >= this.#nextAttemptAt) void this.#refresh().catch(() => {});
        return Promise.resolve(current);
      }
    }
    // Nothing usable: wait for a fetch, unless the last one failed so recently that another
    // would only add load to a struggling credential endpoint.
    if (this.#inflight === undefined && now < this.#nextAttemptAt) return this.#fallback(undefined);
    return this.#refresh().catch((err: unknown) => this.#fallback(err));
  }

  /**
   * When no fresh credential can be had: an invalidated one that has not expired by the clock
   * is still better than nothing (the 403 that invalidated it may have been a one-off);
   * otherwise the client-facing error, without the credential endpoint's detail (that is in
   * the state and the logs).
   */
  #fallback(cause: unknown): Promise<C> {
    const current = this.#current;
    if (current !== undefined && (current.expiresAt === undefined || this.#now() < current.expiresAt)) return Promise.resolve(current);
    return Promise.reject(credentialUnavailable(this.#source.method, cause));
  }

  async refresh(): Promise<void> {
    await this.#refresh();
  }

  invalidate(): void {
    if (this.#fetchedAt !== undefined && this.#now() - this.#fetchedAt < this.#policy.invalidateCooldownMs) return;
    this.#stale = true;
  }

  get state(): CredentialState {
    const current = this.#current;
    const ok = current !== undefined && (current.expiresAt === undefined || this.#now() < current.expiresAt);
    return {
      method: this.#source.method,
      // An expired credential is an error even before a refresh failed.
      status: ok ? 'ok' : this.#lastError !== undefined || current !== undefined ? 'error' : 'pending',
      lastRefreshAt: this.#fetchedAt,
      expiresAt: this.#current?.expiresAt,
      lastError: this.#lastError,
    };
  }

  /** Stops the refresh timer and any fetch in flight. */
  close(): void {
    this.#closed = true;
    clearTimeout(this.#timer);
    this.#abort.abort();
  }

  #refresh(): Promise<C> {
    this.#inflight ??= this.#fetch().finally(() => {
      this.#inflight = undefined;
    });
    return this.#inflight;
  }

  async #fetch(): Promise<C> {
    const signal = AbortSignal.any([this.#abort.signal, AbortSignal.timeout(this.#policy.fetchTimeoutMs)]);
    let credential: C;
    try {
      credential = await this.#source.fetch(signal);
    } catch (err) {
      this.#failures++;
      this.#lastError = describe(err);
      const backoff = Math.min(this.#policy.maxBackoffMs, this.#policy.minBackoffMs * 2 ** (this.#failures - 1));
      this.#nextAttemptAt = this.#now() + backoff;
      this.#notify(false);
      this.#schedule(backoff);
      throw err;
    }
    const now = this.#now();
    this.#current = credential;
    this.#fetchedAt = now;
    this.#stale = false;
    this.#failures = 0;
    this.#nextAttemptAt = 0;
    this.#lastError = undefined;
    this.#notify(true);
    const expiresAt = credential.expiresAt;
    if (expiresAt !== undefined) {
      // A credential that arrives already inside the window (short-lived tokens; IMDS handing
      // out its current key near expiry) is refreshed at half its remaining life, never sooner
      // than the minimum backoff: no refetch loop.
      const due = expiresAt - this.#policy.refreshWindowMs;
      this.#refreshDueAt = due > now ? due : now + Math.max(this.#policy.minBackoffMs, (expiresAt - now) / 2);
      this.#schedule(this.#refreshDueAt - now);
    }
    return credential;
  }

  #notify(ok: boolean): void {
    try {
      this.#onFetch?.({ method: this.#source.method, ok, ...(ok ? {} : { error: this.#lastError! }) });
    } catch {
      // A listener's failure (metrics, logging) must not fail or stall the credential.
    }
  }

  /** Refreshes in the background when due, so an idle instance also keeps a fresh credential. */
  #schedule(delayMs: number): void {
    if (this.#closed) return;
    clearTimeout(this.#timer);
    // setTimeout's limit is about 24.8 days; longer-lived credentials get a check then.
    this.#timer = setTimeout(() => void this.#refresh().catch(() => {}), Math.min(Math.max(delayMs, 0), 2 ** 31 - 1));
    this.#timer.unref();
  }
}

/** A short description of a fetch failure: the error's name and message (sources keep secrets out of them). */
function describe(err: unknown): string {
  if (err instanceof Error) {
    const name = err.name && err.name !== 'Error' ? `${err.name}: ` : '';
    return `${name}${err.message}`.slice(0, 300);
  }
  return String(err).slice(0, 300);
}

/** The client-facing 503 when no usable provider credential can be had; the endpoint's detail stays in the logs. */
export function credentialUnavailable(method: string, cause?: unknown): GatewayError {
  return new GatewayError('credential_unavailable', `the gateway could not obtain its provider credential (${method}); an operator can see why in the logs or with "llmproxy config check"`, { cause });
}
