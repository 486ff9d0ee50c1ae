import type { CounterStore } from '../store/types.js';

interface Window {
  start: number;
  end: number;
  total: number;
}

/**
 * The in-process CounterStore: fixed windows aligned to multiples of `windowMs` since the epoch
 * (so every process and Redis agree on boundaries) and in-flight gauges whose slots lapse after
 * their TTL. Each operation completes synchronously before its promise resolves, so concurrent
 * requests in one process never admit beyond a limit. Expired entries are swept at most once per
 * `sweepEveryMs`, so memory stays bounded by the counters in use.
 *
 * @example
 * const counters = new MemoryCounterStore();
 * const { admitted } = await counters.tryAdd('rl:key:abc:rpm', 1, 20, 60_000);
 */
export class MemoryCounterStore implements CounterStore {
  readonly #now: () => number;
  readonly #windows = new Map<string, Window>();
  /** key → expiry times of the slots taken. */
  readonly #slots = new Map<string, number[]>();
  readonly #sweepEveryMs: number;
  #lastSweep: number;

  constructor(options: { now?: () => number; sweepEveryMs?: number } = {}) {
    this.#now = options.now ?? Date.now;
    this.#sweepEveryMs = options.sweepEveryMs ?? 60_000;
    this.#lastSweep = this.#now();
  }

  /** Counters currently held (for tests of the sweep). */
  get size(): number {
    return this.#windows.size + this.#slots.size;
  }

  #window(key: string, windowMs: number, now: number): Window {
    const start = now - (now % windowMs);
    let w = this.#windows.get(key);
    if (w === undefined || w.start !== start) {
      w = { start, end: start + windowMs, total: 0 };
      this.#windows.set(key, w);
    }
    return w;
  }

  async tryAdd(key: string, amount: number, limit: number, windowMs: number): Promise<{ admitted: boolean; total: number; resetAt: number }> {
    const now = this.#now();
    this.#maybeSweep(now);
    const w = this.#window(key, windowMs, now);
    const admitted = w.total + amount <= limit;
    if (admitted) w.total += amount;
    return { admitted, total: w.total, resetAt: w.end };
  }

  async add(key: string, amount: number, windowMs: number): Promise<{ total: number; resetAt: number }> {
    const now = this.#now();
    const w = this.#window(key, windowMs, now);
    // A refund may land in a later window than the charge it corrects; never go below zero.
    w.total = Math.max(0, w.total + amount);
    return { total: w.total, resetAt: w.end };
  }

  async acquire(key: string, limit: number, ttlMs: number): Promise<boolean> {
    const now = this.#now();
    let slots = this.#slots.get(key);
    if (slots === undefined) {
      slots = [];
      this.#slots.set(key, slots);
    }
    if (slots.length >= limit && slots[0]! <= now) {
      const live = slots.filter((expiry) => expiry > now);
      slots.length = 0;
      slots.push(...live);
    }
    if (slots.length >= limit) return false;
    slots.push(now + ttlMs); // ascending: every slot has the same TTL per key in practice
    return true;
  }

  async release(key: string): Promise<void> {
    const slots = this.#slots.get(key);
    if (slots === undefined) return;
    slots.shift();
    if (slots.length === 0) this.#slots.delete(key);
  }

  async close(): Promise<void> {
    this.#windows.clear();
    this.#slots.clear();
  }

  #maybeSweep(now: number): void {
    if (now - this.#lastSweep < this.#sweepEveryMs) return;
    this.#lastSweep = now;
    for (const [key, w] of this.#windows) if (w.end <= now) this.#windows.delete(key);
    for (const [key, slots] of this.#slots) {
      const live = slots.filter((expiry) => expiry > now);
      if (live.length === 0) this.#slots.delete(key);
      else this.#slots.set(key, live);
    }
  }
}
