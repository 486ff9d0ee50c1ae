import { GatewayError } from '../errors/gateway-error.js';
import { addressBucket } from './client-address.js';
import { VerificationLimiter, type VerificationLimits } from './verification-limiter.js';

/**
 * One request's credential check as the throttle sees it, handed to the authenticator that
 * decides the request.
 *
 * An authenticator calls `reserve()` before it starts work whose failure would count as a guess
 * and that its verification cache cannot answer (reading the key or user record, then argon2),
 * and runs each slow hash through `slow()`. Cheap checks (a malformed credential, a cache hit)
 * and requests that join a check of the same credential already under way call neither; their
 * guesses are counted when they fail (`settle`).
 *
 * @example
 * attempt.reserve(); // 429 too_many_auth_failures when the address has no slot left
 * const record = await store.get(id);
 * const ok = await attempt.slow(() => verifySecret(record.secretHash, secret));
 */
export interface VerificationAttempt {
  /**
   * Takes one slot of the address's failure window for this request (once; later calls do
   * nothing). Throws `too_many_auth_failures` (429 with Retry-After) when failures and checks in
   * flight already fill the window.
   */
  reserve(): void;
  /** Runs one slow verification within the concurrency caps; rejects with `rate_limited` (429) when they stay full. */
  slow<T>(verify: () => Promise<T>): Promise<T>;
}

/** The authenticate step's handle on an attempt: it settles the reservation once the outcome is known. */
export interface SettledAttempt extends VerificationAttempt {
  /**
   * `guessFailed`: the request failed as a guess. A reserved slot is kept as a failure, or one
   * is counted now for a cheap guess that reserved nothing. Otherwise (success, a failure that
   * is no guess, an error) the reserved slot is released. Only the first call counts.
   */
  settle(guessFailed: boolean): void;
}

export interface FailedAttemptThrottleOptions {
  /** Failures (and reserved checks) per client bucket within `windowMs` before 429 (`auth.failed_attempts.limit`). */
  limit: number;
  windowMs: number;
  /**
   * Caps on slow checks in flight (`max_concurrent_per_client`, `max_concurrent`); see
   * VerificationLimiter. A client's queue holds at least `limit` waiters.
   */
  concurrency: VerificationLimits;
  now?: () => number;
}

export interface Window {
  failures: number;
  /** Checks in flight that reserved a slot and have not settled yet. */
  reserved: number;
  resetAt: number;
}

/**
 * Counts failed authentications per client address and refuses an address that failed too
 * often within a fixed window (429 with Retry-After), so keys and passwords cannot be guessed at
 * speed.
 *
 * Only guesses count (a malformed key, an unknown id, a wrong secret or password). A request
 * without a credential, or with a correct but revoked or expired key, is refused but not
 * counted: those are misconfigured clients, and counting them would lock out every client
 * behind the same NAT.
 *
 * A slow check is counted when it starts, not when it ends: it reserves a slot of the window
 * before it reads the store or hashes, keeps it when it fails as a guess and gives it back when
 * it succeeds (successful logins never lock anyone out) or fails for another reason. So however
 * many guesses from one address arrive at once, at most `limit` of them are verified; the rest
 * are refused at once, without hashing. The slow checks that do run are capped per address and
 * overall (`VerificationLimiter`).
 *
 * Addresses are counted in canonical form (`addressBucket`): every spelling of an IPv6 address
 * and every IPv4-mapped form of an IPv4 address share a bucket, and IPv6 counts per /64, the
 * block a single host usually controls.
 */
export class FailedAttemptThrottle {
  readonly #limit: number;
  readonly #windowMs: number;
  readonly #now: () => number;
  readonly #entries = new Map<string, Window>();
  readonly #limiter: VerificationLimiter;
  #lastSweep = 0;

  constructor(options: FailedAttemptThrottleOptions) {
    this.#limit = options.limit;
    this.#windowMs = options.windowMs;
    this.#now = options.now ?? Date.now;
    const { concurrency } = options;
    // Every guess in flight holds a slot, so one address never has more than `limit` of them:
    // letting them all queue means a flood is answered by the throttle's clear 429, not by a full queue.
    this.#limiter = new VerificationLimiter({ ...concurrency, perClientQueue: concurrency.perClientQueue ?? Math.max(options.limit, 4 * concurrency.perClient) });
  }

  /** From `auth.failed_attempts` (config.ts; typed here by its fields, so this file needs nothing of the config's root). */
  static fromConfig(config: { limit: number; window: number; max_concurrent_per_client: number; max_concurrent: number }): FailedAttemptThrottle {
    return new FailedAttemptThrottle({
      limit: config.limit,
      windowMs: config.window,
      concurrency: { perClient: config.max_concurrent_per_client, total: config.max_concurrent },
    });
  }

  /** Milliseconds until `address` may try again; 0 when it is not blocked. Checks in flight do not block. */
  blockedFor(address: string): number {
    const e = this.#entries.get(addressBucket(address));
    if (e === undefined) return 0;
    const now = this.#now();
    if (e.resetAt <= now) return 0;
    return e.failures >= this.#limit ? e.resetAt - now : 0;
  }

  /** Counts one failed guess that reserved nothing (a cheap check, a wrong TOTP code). */
  fail(address: string): void {
    this.#window(addressBucket(address)).failures++;
  }

  /** A new attempt from `address`; the authenticate step settles it. One small object: it runs on every request. */
  attempt(address: string): SettledAttempt {
    return new Attempt(this, address);
  }

  /** For Attempt: the bucket of `address`. */
  bucketOf(address: string): string {
    return addressBucket(address);
  }

  /** For Attempt: one slot of `bucket`'s window, or 429 when failures and reservations fill it. */
  reserveSlot(bucket: string): Window {
    return this.#reserve(bucket);
  }

  /** For Attempt: ends a reservation (`failed` keeps it as a failure). */
  settleSlot(e: Window, failed: boolean): void {
    this.#settle(e, failed);
  }

  /** For Attempt: counts a failure that reserved nothing. */
  failBucket(bucket: string): void {
    this.#window(bucket).failures++;
  }

  /** For Attempt: runs `verify` within the concurrency caps of `bucket`. */
  async limited<T>(bucket: string, verify: () => Promise<T>): Promise<T> {
    const release = await this.#limiter.acquire(bucket);
    try {
      return await verify();
    } finally {
      release();
    }
  }

  /** Checks running and waiting (overall and for `address`) and the address's window; for tests. */
  load(address?: string): ReturnType<VerificationLimiter['load']> & { reserved: number; failures: number } {
    const bucket = address === undefined ? undefined : addressBucket(address);
    const e = bucket === undefined ? undefined : this.#entries.get(bucket);
    return { ...this.#limiter.load(bucket), reserved: e?.reserved ?? 0, failures: e?.failures ?? 0 };
  }

  /** One slot of `bucket`'s window for a check in flight, or 429 when failures and reservations fill it. */
  #reserve(bucket: string): Window {
    const e = this.#window(bucket);
    if (e.failures + e.reserved >= this.#limit) throw tooManyFailures(e.resetAt - this.#now());
    e.reserved++;
    return e;
  }

  /** Ends a reservation made on `e`; `failed` keeps it as a failure of the current window. */
  #settle(e: Window, failed: boolean): void {
    e.reserved--;
    if (!failed) return;
    // The window may have rolled over while the check ran; the failure counts in the current one.
    this.#roll(e, this.#now());
    e.failures++;
  }

  /** The bucket's current window, started or restarted now when there is none or it has expired. */
  #window(bucket: string): Window {
    const now = this.#now();
    this.#sweep(now);
    let e = this.#entries.get(bucket);
    if (e === undefined) {
      e = { failures: 0, reserved: 0, resetAt: now + this.#windowMs };
      this.#entries.set(bucket, e);
    }
    this.#roll(e, now);
    return e;
  }

  /** Restarts an expired window in place, so reservations made in the old one still settle on it. */
  #roll(e: Window, now: number): void {
    if (e.resetAt > now) return;
    e.failures = 0;
    e.resetAt = now + this.#windowMs;
  }

  #sweep(now: number): void {
    if (now - this.#lastSweep < this.#windowMs) return;
    this.#lastSweep = now;
    for (const [k, e] of this.#entries) if (e.resetAt <= now && e.reserved === 0) this.#entries.delete(k);
  }
}

/** The 429 for an address whose failures (and checks in flight) fill its window. */
export function tooManyFailures(retryAfterMs: number): GatewayError {
  return new GatewayError('too_many_auth_failures', 'Too many failed authentication attempts from this address; try again later.', {
    retryAfter: retryAfterMs / 1000,
  });
}

/**
 * One request's attempt. Most requests never reserve (a cached key, no credential), so the
 * address's bucket is worked out only when needed.
 */
class Attempt implements SettledAttempt {
  readonly #throttle: FailedAttemptThrottle;
  readonly #address: string;
  #bucket: string | undefined;
  #reservation: Window | undefined;
  #settled = false;

  constructor(throttle: FailedAttemptThrottle, address: string) {
    this.#throttle = throttle;
    this.#address = address;
  }

  get #key(): string {
    return (this.#bucket ??= this.#throttle.bucketOf(this.#address));
  }

  reserve(): void {
    if (this.#reservation === undefined && !this.#settled) this.#reservation = this.#throttle.reserveSlot(this.#key);
  }

  slow<T>(verify: () => Promise<T>): Promise<T> {
    return this.#throttle.limited(this.#key, verify);
  }

  settle(guessFailed: boolean): void {
    if (this.#settled) return;
    this.#settled = true;
    if (this.#reservation !== undefined) this.#throttle.settleSlot(this.#reservation, guessFailed);
    else if (guessFailed) this.#throttle.failBucket(this.#key);
  }
}
