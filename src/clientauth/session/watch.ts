import type { Logger } from '../../observability/logger.js';
import type { IdentityStores } from '../../store/identity-types.js';
import type { FleetEvents, KeyStore } from '../../store/types.js';
import type { ApiKeyVerifier } from '../api-key/verifier.js';

export interface IdentityWatchOptions {
  /** How often the stores' change counters are polled for changes made by other processes. */
  pollMs: number;
  /** Beyond this since the last successful poll, caches built on the stores are not trusted. */
  maxStalenessMs?: number;
  logger: Logger;
  now?: () => number;
  /**
   * Changes announced by other replicas (Redis): an identity change is polled at once, and while
   * every announcement since the last successful poll has been heard, caches stay trusted even
   * when the store cannot be polled.
   */
  announcements?: Pick<FleetEvents, 'on' | 'trustedSince'>;
}

/**
 * Tells the in-memory caches of Basic auth, TOTP and sessions when what they remember changed:
 *
 * - identity changes (users, enrolments, session revocations) made in this process at once
 *   (`IdentityStores.watch`), and those of other processes through a poll of `currentRev()`;
 * - key changes (a revocation, an expiry moved by a rotation): at once when this process
 *   invalidates a key in the verifier, otherwise through a poll of `KeyStore.changesSince`.
 *
 * `trusted()` is false once polling has failed for longer than `maxStalenessMs` (5 s): callers
 * then read the store instead of their caches, so no change is missed for longer — unless the
 * replicas' announcement channel has been heard without a gap since the last successful poll.
 */
export class IdentityWatch {
  readonly #identity: IdentityStores;
  readonly #keys: KeyStore;
  readonly #options: Required<Omit<IdentityWatchOptions, 'logger' | 'announcements'>>;
  readonly #announcements: IdentityWatchOptions['announcements'];
  readonly #logger: Logger;
  readonly #identityListeners = new Set<() => void>();
  readonly #keyListeners = new Set<(id: string) => void>();
  readonly #unsubscribe: Array<() => void> = [];
  #identityRev = -1;
  #keyRev = -1;
  #lastPollOk: number;
  #failing = false;
  #timer: NodeJS.Timeout | undefined;

  constructor(identity: IdentityStores, keys: KeyStore, verifier: ApiKeyVerifier, options: IdentityWatchOptions) {
    this.#identity = identity;
    this.#keys = keys;
    this.#logger = options.logger;
    this.#options = { pollMs: options.pollMs, maxStalenessMs: options.maxStalenessMs ?? 5000, now: options.now ?? Date.now };
    this.#lastPollOk = this.#options.now();
    this.#unsubscribe.push(identity.watch(() => this.#identityChanged()));
    this.#unsubscribe.push(verifier.onInvalidate((id) => this.#keyChanged(id)));
    this.#announcements = options.announcements;
    const announced = this.#announcements?.on((event) => {
      if (event.kind === 'identity') void this.poll();
    });
    if (announced) this.#unsubscribe.push(announced);
  }

  onIdentityChange(listener: () => void): void {
    this.#identityListeners.add(listener);
  }

  onKeyChange(listener: (id: string) => void): void {
    this.#keyListeners.add(listener);
  }

  /** Whether caches may be used (the last poll succeeded recently enough, or no announcement was missed since). */
  trusted(): boolean {
    if (this.#options.now() - this.#lastPollOk <= this.#options.maxStalenessMs) return true;
    const since = this.#announcements?.trustedSince();
    return since !== undefined && since <= this.#lastPollOk;
  }

  async start(): Promise<void> {
    this.#identityRev = await this.#identity.currentRev();
    this.#keyRev = await this.#keys.currentRev();
    this.#lastPollOk = this.#options.now();
    this.#timer = setInterval(() => void this.poll(), this.#options.pollMs);
    this.#timer.unref();
  }

  async stop(): Promise<void> {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = undefined;
    for (const u of this.#unsubscribe.splice(0)) u();
  }

  /** One poll of both change counters; exposed for tests. */
  async poll(): Promise<void> {
    try {
      const rev = await this.#identity.currentRev();
      if (rev !== this.#identityRev) {
        this.#identityRev = rev;
        this.#identityChanged();
      }
      const { records, rev: keyRev } = await this.#keys.changesSince(this.#keyRev);
      this.#keyRev = keyRev;
      for (const r of records) this.#keyChanged(r.id);
      this.#lastPollOk = this.#options.now();
      if (this.#failing) this.#logger.info('identity store reachable again; user and session caches trusted again');
      this.#failing = false;
    } catch (err) {
      if (!this.#failing) {
        this.#logger.warn({ error: err instanceof Error ? err.message : String(err) }, 'identity store poll failed; users and sessions are re-read from the store until it recovers');
      }
      this.#failing = true;
    }
  }

  #identityChanged(): void {
    for (const l of this.#identityListeners) l();
  }

  #keyChanged(id: string): void {
    for (const l of this.#keyListeners) l(id);
  }
}
