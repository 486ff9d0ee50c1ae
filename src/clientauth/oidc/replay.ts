/**
 * `single_use: true`: remembers each token's `jti` until the token expires, so the same token
 * is accepted once. Per process: with several replicas a token can still be used once on each.
 */
export class JtiReplayCache {
  readonly #seen = new Map<string, number>();
  readonly #max: number;
  readonly #now: () => number;

  constructor(max = 100_000, now: () => number = Date.now) {
    this.#max = max;
    this.#now = now;
  }

  /** True the first time `id` is seen (until `untilMs`), false for a reuse. */
  firstUse(id: string, untilMs: number): boolean {
    const now = this.#now();
    const until = this.#seen.get(id);
    if (until !== undefined && until > now) return false;
    if (this.#seen.size >= this.#max) {
      for (const [k, u] of this.#seen) if (u <= now) this.#seen.delete(k);
      // Still full of live tokens: forget the oldest rather than grow without bound.
      if (this.#seen.size >= this.#max) this.#seen.delete(this.#seen.keys().next().value!);
    }
    this.#seen.set(id, untilMs);
    return true;
  }
}
