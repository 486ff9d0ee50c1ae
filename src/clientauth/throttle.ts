/**
 * Counts failed authentications per client address and refuses an address that failed too
 * often within a fixed window (429 with Retry-After), so keys cannot be guessed at speed.
 *
 * Only guesses count (a malformed key, an unknown id, a wrong secret). A request without a
 * credential, or with a correct but revoked or expired key, is refused but not counted: those
 * are misconfigured clients, and counting them would lock out every client behind the same NAT.
 * IPv6 addresses count per /64, the block a single host usually controls.
 */
export class FailedAttemptThrottle {
  readonly #limit: number;
  readonly #windowMs: number;
  readonly #now: () => number;
  readonly #entries = new Map<string, { count: number; resetAt: number }>();
  #lastSweep = 0;

  constructor(limit: number, windowMs: number, now: () => number = Date.now) {
    this.#limit = limit;
    this.#windowMs = windowMs;
    this.#now = now;
  }

  /** Milliseconds until `address` may try again; 0 when it is not blocked. */
  blockedFor(address: string): number {
    const e = this.#entries.get(bucket(address));
    if (e === undefined) return 0;
    const now = this.#now();
    if (e.resetAt <= now) return 0;
    return e.count >= this.#limit ? e.resetAt - now : 0;
  }

  fail(address: string): void {
    const now = this.#now();
    this.#sweep(now);
    const key = bucket(address);
    const e = this.#entries.get(key);
    if (e === undefined || e.resetAt <= now) this.#entries.set(key, { count: 1, resetAt: now + this.#windowMs });
    else e.count++;
  }

  #sweep(now: number): void {
    if (now - this.#lastSweep < this.#windowMs) return;
    this.#lastSweep = now;
    for (const [k, e] of this.#entries) if (e.resetAt <= now) this.#entries.delete(k);
  }
}

function bucket(address: string): string {
  if (!address.includes(':')) return address;
  // Full IPv6: keep the first four groups (the /64). `::` shorthand is expanded first.
  const [head = '', tail = ''] = address.split('::');
  const h = head === '' ? [] : head.split(':');
  const t = tail === '' ? [] : tail.split(':');
  const groups = address.includes('::') ? [...h, ...Array(8 - h.length - t.length).fill('0'), ...t] : h;
  return `${groups.slice(0, 4).join(':')}::/64`;
}
