import { GatewayError } from '../errors/gateway-error.js';

/** Caps on slow credential checks (argon2) running at once; see VerificationLimiter. */
export interface VerificationLimits {
  /** Checks running at once for one client bucket (`auth.failed_attempts.max_concurrent_per_client`). */
  perClient: number;
  /** Checks running at once in the process (`auth.failed_attempts.max_concurrent`). */
  total: number;
  /** Checks of one bucket allowed to wait for a free place; default 4 × `perClient`. */
  perClientQueue?: number;
  /** Checks allowed to wait for a free place in the process; default 4 × `total`. */
  totalQueue?: number;
  /** Longest a check waits for its place before it is refused; default `DEFAULT_MAX_WAIT_MS`. */
  maxWaitMs?: number;
}

/**
 * How long a slow check may wait for its turn before the request is refused (429, Retry-After 1).
 * One argon2id verification costs about 20–30 ms on one of libuv's 4 threads, so a full queue
 * (4 × 32 waiting behind 32 running) drains in about a second; 3 s leaves room for a slower
 * machine while a client still gets an answer quickly.
 */
export const DEFAULT_MAX_WAIT_MS = 3_000;

/** Gives one place back; calling it more than once has no effect. */
export type ReleasePlace = () => void;

/**
 * Bounds the slow credential checks (argon2id) in flight: per client bucket first, then for the
 * whole process.
 *
 * argon2 runs on libuv's thread pool (4 threads by default), which DNS lookups and file I/O share;
 * without a cap, one flood of guesses queues hundreds of hashes there and every other request
 * (an honest client's first, cache-missing request; a provider's DNS lookup) waits behind them.
 *
 * Fairness: a check first takes one of its bucket's `perClient` places, and only then waits for
 * one of the `total` places. So one address holds at most `perClient` of the process's places or
 * queue, and an honest client from another address waits behind at most `perClient` checks of
 * each flooding address, never behind the whole flood. Both queues are FIFO and bounded (length
 * and `maxWaitMs`); past either bound the request gets `rate_limited` (429, Retry-After 1) at
 * once, without hashing.
 */
export class VerificationLimiter {
  readonly #perClient: number;
  readonly #perClientQueue: number;
  readonly #maxWaitMs: number;
  readonly #total: Places;
  readonly #clients = new Map<string, Places>();

  constructor(limits: VerificationLimits) {
    this.#perClient = limits.perClient;
    this.#perClientQueue = limits.perClientQueue ?? 4 * limits.perClient;
    this.#maxWaitMs = limits.maxWaitMs ?? DEFAULT_MAX_WAIT_MS;
    this.#total = new Places(limits.total, limits.totalQueue ?? 4 * limits.total);
  }

  /**
   * Waits for a place for one slow check of `bucket` (a client bucket, see `addressBucket`).
   * Rejects with `rate_limited` when a queue is full or the wait exceeds `maxWaitMs`.
   */
  async acquire(bucket: string): Promise<ReleasePlace> {
    const deadline = Date.now() + this.#maxWaitMs;
    let client = this.#clients.get(bucket);
    if (client === undefined) {
      client = new Places(this.#perClient, this.#perClientQueue);
      this.#clients.set(bucket, client);
    }
    try {
      await client.take(deadline);
    } catch (err) {
      this.#forgetIfIdle(bucket, client);
      throw err;
    }
    try {
      await this.#total.take(deadline);
    } catch (err) {
      client.give();
      this.#forgetIfIdle(bucket, client);
      throw err;
    }
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.#total.give();
      client.give();
      this.#forgetIfIdle(bucket, client);
    };
  }

  /** Checks running and waiting, overall and for `bucket`; for tests and metrics. */
  load(bucket?: string): { running: number; waiting: number; clientRunning: number; clientWaiting: number; buckets: number } {
    const client = bucket === undefined ? undefined : this.#clients.get(bucket);
    return {
      running: this.#total.taken,
      waiting: this.#total.waiting,
      clientRunning: client?.taken ?? 0,
      clientWaiting: client?.waiting ?? 0,
      buckets: this.#clients.size,
    };
  }

  #forgetIfIdle(bucket: string, client: Places): void {
    if (client.taken === 0 && client.waiting === 0 && this.#clients.get(bucket) === client) this.#clients.delete(bucket);
  }
}

interface Waiter {
  resolve: () => void;
  timer: NodeJS.Timeout;
}

/** A counting semaphore with a bounded FIFO queue whose waiters give up at a deadline. */
class Places {
  readonly #size: number;
  readonly #queueBound: number;
  readonly #queue: Waiter[] = [];
  #taken = 0;

  constructor(size: number, queueBound: number) {
    this.#size = size;
    this.#queueBound = queueBound;
  }

  get taken(): number {
    return this.#taken;
  }

  get waiting(): number {
    return this.#queue.length;
  }

  take(deadline: number): Promise<void> {
    if (this.#taken < this.#size && this.#queue.length === 0) {
      this.#taken++;
      return Promise.resolve();
    }
    if (this.#queue.length >= this.#queueBound) return Promise.reject(busy());
    return new Promise((resolve, reject) => {
      const waiter: Waiter = {
        resolve,
        timer: setTimeout(() => {
          const i = this.#queue.indexOf(waiter);
          if (i >= 0) this.#queue.splice(i, 1);
          reject(busy());
        }, Math.max(0, deadline - Date.now())),
      };
      this.#queue.push(waiter);
    });
  }

  /** Hands the place to the longest waiter, or frees it. */
  give(): void {
    const next = this.#queue.shift();
    if (next === undefined) {
      this.#taken--;
      return;
    }
    clearTimeout(next.timer);
    next.resolve();
  }
}

function busy(): GatewayError {
  return new GatewayError('rate_limited', 'Too many credential checks are in progress; try again shortly.', { retryAfter: 1 });
}
