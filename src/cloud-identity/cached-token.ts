import type { SecretScrubber } from '../observability/scrubber.js';

/** A token and when it expires (epoch ms; undefined: unknown, kept until invalidated). */
export interface ExpiringToken {
  token: string;
  expiresAt?: number;
}

/**
 * An access token a secret store sends with its reads (Google, IBM IAM), fetched when first
 * needed and again once it is within `refreshWindowMs` of expiry. Concurrent callers share one
 * fetch; a failed refresh serves the last token while it has not truly expired; `invalidate`
 * (the service answered 401) drops exactly that token, so a late caller holding an older one
 * cannot drop a newer one.
 *
 * @example
 * const google = new CachedToken((signal) => applicationDefaultToken(signal));
 * const token = await google.get(signal);
 */
export class CachedToken {
  readonly #fetch: (signal: AbortSignal) => Promise<ExpiringToken>;
  readonly #refreshWindowMs: number;
  readonly #now: () => number;
  #current: ExpiringToken | undefined;
  #inflight: Promise<ExpiringToken> | undefined;
  readonly #scrubbers = new Set<Pick<SecretScrubber, 'add' | 'delete'>>();
  /** The token last fetched (even if since invalidated): the one the scrubbers hold. */
  #masked: string | undefined;

  constructor(fetch: (signal: AbortSignal) => Promise<ExpiringToken>, refreshWindowMs = 5 * 60_000, now: () => number = Date.now) {
    this.#fetch = fetch;
    this.#refreshWindowMs = refreshWindowMs;
    this.#now = now;
  }

  async get(signal: AbortSignal): Promise<string> {
    const current = this.#current;
    const now = this.#now();
    if (current && (current.expiresAt === undefined || now < current.expiresAt - this.#refreshWindowMs)) return current.token;
    this.#inflight ??= this.#fetch(signal)
      .then((next) => {
        const previous = this.#masked;
        this.#current = next;
        this.#masked = next.token;
        for (const s of this.#scrubbers) {
          if (previous !== undefined && previous !== next.token) s.delete(previous);
          s.add(next.token);
        }
        return next;
      })
      .finally(() => (this.#inflight = undefined));
    try {
      return (await this.#inflight).token;
    } catch (err) {
      if (current && current.expiresAt !== undefined && this.#now() < current.expiresAt) return current.token;
      throw err;
    }
  }

  /**
   * Masks this cache's tokens in `scrubber`'s output from now on: the current one, and each new
   * one in place of the one it replaces (so the scrubber does not grow by a token an hour).
   */
  maskIn(scrubber: Pick<SecretScrubber, 'add' | 'delete'>): void {
    if (this.#scrubbers.has(scrubber)) return;
    this.#scrubbers.add(scrubber);
    if (this.#masked !== undefined) scrubber.add(this.#masked);
  }

  /** Forgets `token` (the service refused it); the next `get` fetches a new one. */
  invalidate(token: string): void {
    if (this.#current?.token === token) this.#current = undefined;
  }
}
