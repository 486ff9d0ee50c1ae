import type { SecretScrubber } from '../observability/scrubber.js';
import type { SecretRef } from './ref.js';
import type { SecretStore } from './types.js';
import { asWritten } from './value.js';

export type SecretStatus = 'pending' | 'ok' | 'error';

/**
 * One secret reference and its current value, re-read on an interval. A failed refresh keeps
 * the last good value; `value` throws only if no read ever succeeded. Every store's value is
 * taken {@link asWritten} (one trailing newline removed).
 */
export class SecretHandle {
  readonly ref: SecretRef;
  readonly intervalMs: number;
  #value: string | undefined;
  #version = 0;
  #status: SecretStatus = 'pending';
  #lastRefreshAt: number | undefined;
  #lastError: string | undefined;
  #inflight: Promise<boolean> | undefined;
  readonly #store: SecretStore;
  readonly #baseDir: string;
  readonly #scrubber: SecretScrubber | undefined;
  readonly #listeners: Array<(value: string, previous: string | undefined) => void> = [];

  /** `scrubber` is handed to the store for the credentials it obtains (see SecretReadContext). */
  constructor(ref: SecretRef, store: SecretStore, baseDir: string, intervalMs: number, scrubber?: SecretScrubber) {
    this.ref = ref;
    this.#scrubber = scrubber;
    this.#store = store;
    this.#baseDir = baseDir;
    this.intervalMs = intervalMs;
  }

  get value(): string {
    if (this.#value === undefined) throw new Error(`secret ${this.ref.raw} is not resolved${this.#lastError ? `: ${this.#lastError}` : ''}`);
    return this.#value;
  }

  get hasValue(): boolean {
    return this.#value !== undefined;
  }

  /** Increments each time the value changes; lets users rebuild derived objects lazily. */
  get version(): number {
    return this.#version;
  }

  get status(): SecretStatus {
    return this.#status;
  }

  get lastRefreshAt(): number | undefined {
    return this.#lastRefreshAt;
  }

  /** Epoch ms when the value stops being valid; undefined for values that do not expire (all but leases). */
  get expiresAt(): number | undefined {
    return undefined;
  }

  /** Why the last read failed (never the value), or undefined after a good read. */
  get lastError(): string | undefined {
    return this.#lastError;
  }

  onChange(listener: (value: string, previous: string | undefined) => void): void {
    this.#listeners.push(listener);
  }

  /** Reads the store once (concurrent callers share the read). Resolves to whether the value changed; rejects when the read fails. */
  refresh(signal: AbortSignal = AbortSignal.timeout(30_000)): Promise<boolean> {
    this.#inflight ??= this.#read(signal).finally(() => {
      this.#inflight = undefined;
    });
    return this.#inflight;
  }

  async #read(signal: AbortSignal): Promise<boolean> {
    try {
      const value = asWritten(await this.#store.read(this.ref, { baseDir: this.#baseDir, signal, ...(this.#scrubber ? { scrubber: this.#scrubber } : {}) }), this.ref);
      this.#status = 'ok';
      this.#lastError = undefined;
      this.#lastRefreshAt = Date.now();
      if (value === this.#value) return false;
      const previous = this.#value;
      this.#value = value;
      this.#version++;
      for (const l of this.#listeners) l(value, previous);
      return true;
    } catch (err) {
      this.#status = this.#value === undefined ? 'error' : 'ok';
      this.#lastError = err instanceof Error ? err.message : String(err);
      throw err;
    }
  }
}
