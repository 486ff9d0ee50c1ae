import { asWritten } from './value.js';
import { SecretHandle } from './handle.js';
import type { SecretRef } from './ref.js';
import type { LeasingSecretStore, SecretLease } from './types.js';

/** The clock and timers a lease runs on; tests pass a fake one. */
export interface LeaseClock {
  now(): number;
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(timer: unknown): void;
}

export const realClock: LeaseClock = {
  now: () => Date.now(),
  setTimeout: (fn, ms) => setTimeout(fn, ms).unref(),
  clearTimeout: (timer) => clearTimeout(timer as NodeJS.Timeout),
};

/** What happened to a lease; the resolver turns these into metrics and log lines (never values). */
export type LeaseEvent =
  | { kind: 'read'; ok: true; replaced: boolean }
  | { kind: 'read'; ok: false; error: string }
  | { kind: 'renewal'; result: 'renewed' | 'max_ttl' | 'refused' | 'error'; error?: string }
  | { kind: 'revocation'; ok: boolean; error?: string };

export interface LeasedSecretOptions {
  clock?: LeaseClock;
  onEvent?: (event: LeaseEvent) => void;
  /** Called with the new lease's values and the replaced lease's, so the scrubber follows them. */
  onValues?: (values: string[], previous: string[]) => void;
  /** Longest wait before retrying a failed read or renewal. */
  maxRetryMs?: number;
  /** How long a renewal, read or revocation may take. */
  timeoutMs?: number;
  /**
   * How long a replaced lease lives on before it is revoked (default 5 s): a request that took
   * the old credential just before the swap is still signed with it when it reaches the provider.
   */
  replacedGraceMs?: number;
  /** How long a revocation at close may take (default 5 s): an unreachable Vault must not hold up shutdown. */
  closeTimeoutMs?: number;
}

/** Renew (or read anew) once this share of a lease has passed, as Vault Agent does. */
const RENEW_AT = 2 / 3;
const RENEW_BEFORE_MS = 5 * 60_000;
const MIN_RETRY_MS = 1_000;

/**
 * One lease on a dynamic secret (`${vault-dynamic:aws/creds/bedrock#...}`), shared by every
 * reference that names its source, so the fields of one credential always come from the same
 * read. Each field is a {@link LeaseFieldHandle} whose value is read from the current lease at
 * the moment it is asked for: a new lease replaces every field at once, and a credential built
 * from several fields can never pair a key id from one lease with a secret from another.
 *
 * Lifecycle: the first `refresh()` reads (issues) the lease. Once started, at two thirds of the
 * lease (and at least five minutes before its end) a renewable one is renewed for its original duration; a refusal, an answer shorter than
 * asked (the role's max TTL reached) or a lease that is not renewable leads to a new read before
 * it expires; the replaced lease is revoked a few seconds later. A failed read or renewal keeps the
 * current lease and retries (sooner as expiry nears). `close()` revokes the lease.
 */
export class LeasedSecret {
  /** `scheme:source`, e.g. `vault-dynamic:aws/creds/bedrock`: the metrics label (no secret). */
  readonly label: string;
  readonly #store: LeasingSecretStore;
  readonly #source: string;
  readonly #clock: LeaseClock;
  readonly #options: LeasedSecretOptions;
  readonly #fields = new Map<string, LeaseFieldHandle>();
  #lease: SecretLease | undefined;
  /** Epoch ms; undefined while there is no lease or it does not expire. */
  #expiresAt: number | undefined;
  /** The lease can no longer be extended (not renewable, or renewal hit the max TTL). */
  #final = false;
  #version = 0;
  #lastReadAt: number | undefined;
  #lastError: string | undefined;
  #reading: Promise<boolean> | undefined;
  #timer: unknown;
  #started = false;
  #closed = false;
  readonly #revocations = new Set<Promise<void>>();
  /** Replaced leases waiting out their grace before revocation. */
  readonly #retiring = new Map<SecretLease, unknown>();

  constructor(store: LeasingSecretStore, source: string, options: LeasedSecretOptions = {}) {
    this.#store = store;
    this.#source = source;
    this.label = `${store.scheme}:${source}`;
    this.#clock = options.clock ?? realClock;
    this.#options = options;
  }

  /** The handle of one field (one per field, shared by equal references). */
  field(ref: SecretRef, field: string): LeaseFieldHandle {
    let h = this.#fields.get(field);
    if (!h) {
      h = new LeaseFieldHandle(ref, field, this);
      this.#fields.set(field, h);
    }
    return h;
  }

  get lease(): SecretLease | undefined {
    return this.#lease;
  }

  get version(): number {
    return this.#version;
  }

  get expiresAt(): number | undefined {
    return this.#expiresAt;
  }

  get lastReadAt(): number | undefined {
    return this.#lastReadAt;
  }

  get lastError(): string | undefined {
    return this.#lastError;
  }

  /**
   * Reads a new lease now (the first one at start-up; an operator's "refresh now", e.g. after a
   * suspected leak); concurrent callers share the read. The replaced lease is revoked after its
   * grace. Resolves to whether a lease was read; rejects when the read fails (the current lease stays).
   */
  refresh(): Promise<boolean> {
    return this.#read();
  }

  /** Starts renewing: from now on the lease is renewed or replaced before it expires. */
  start(): void {
    if (this.#started || this.#closed) return;
    this.#started = true;
    this.#schedule();
  }

  /** Stops renewing and revokes the lease (and waits for replaced leases still being revoked). */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#clock.clearTimeout(this.#timer);
    await this.#reading?.catch(() => undefined);
    for (const [retired, timer] of this.#retiring) {
      this.#clock.clearTimeout(timer);
      this.#revoke(retired);
    }
    this.#retiring.clear();
    const lease = this.#lease;
    if (lease !== undefined) this.#revoke(lease);
    await Promise.all([...this.#revocations]);
  }

  /** Reads a new lease (concurrent callers share the read); the replaced one is revoked. */
  #read(): Promise<boolean> {
    this.#reading ??= this.#doRead().finally(() => {
      this.#reading = undefined;
    });
    return this.#reading;
  }

  async #doRead(): Promise<boolean> {
    let lease: SecretLease;
    try {
      lease = await this.#store.issue(this.#source, this.#signal());
      const missing = [...this.#fields.values()].filter((h) => lease.fields[h.fieldName] === undefined);
      if (missing.length > 0) {
        // A lease the config cannot use is given back at once rather than left to expire.
        this.#revoke(lease);
        throw new Error(`${missing[0]!.ref.raw}: the lease has no field "${missing[0]!.fieldName}" (it has: ${Object.keys(lease.fields).join(', ') || 'none'})`);
      }
    } catch (err) {
      const error = err instanceof Error ? err.message : String(err);
      this.#lastError = error;
      this.#options.onEvent?.({ kind: 'read', ok: false, error });
      this.#retryLater();
      throw err;
    }
    if (this.#closed) {
      this.#revoke(lease);
      return false;
    }
    const previous = this.#lease;
    const now = this.#clock.now();
    // The swap is one synchronous step: every field handle sees the old lease or the new one.
    this.#lease = lease;
    this.#expiresAt = lease.durationSeconds > 0 ? now + lease.durationSeconds * 1000 : undefined;
    this.#final = !lease.renewable;
    this.#version++;
    this.#lastReadAt = now;
    this.#lastError = undefined;
    this.#options.onValues?.(Object.values(lease.fields), previous ? Object.values(previous.fields) : []);
    this.#options.onEvent?.({ kind: 'read', ok: true, replaced: previous !== undefined });
    if (previous !== undefined) this.#retire(previous);
    this.#schedule();
    return true;
  }

  /** What to do at two thirds of the lease: renew it, or read a new one if it cannot be extended. */
  async #tick(): Promise<void> {
    const lease = this.#lease;
    if (this.#closed) return;
    if (lease === undefined || this.#final || (this.#expiresAt !== undefined && this.#clock.now() >= this.#expiresAt)) {
      await this.#read().catch(() => undefined);
      return;
    }
    const asked = lease.durationSeconds;
    let answer: { durationSeconds: number; renewable: boolean };
    try {
      answer = await this.#store.renew(lease, asked, this.#signal());
    } catch (err) {
      const error = err instanceof Error ? err.message : String(err);
      if (this.#lease !== lease || this.#closed) return;
      const status = (err as { status?: unknown }).status;
      if (typeof status === 'number' && status >= 400 && status < 500) {
        // Vault refused: the lease was revoked, expired or is unknown. Only a new read helps
        // (and, should that read fail, the retries read too).
        this.#final = true;
        this.#options.onEvent?.({ kind: 'renewal', result: 'refused', error });
        await this.#read().catch(() => undefined);
      } else {
        this.#options.onEvent?.({ kind: 'renewal', result: 'error', error });
        this.#retryLater();
      }
      return;
    }
    if (this.#lease !== lease || this.#closed) return;
    const now = this.#clock.now();
    this.#expiresAt = answer.durationSeconds > 0 ? now + answer.durationSeconds * 1000 : this.#expiresAt;
    // Shorter than asked: the max TTL caps the lease; it ends then whatever we ask, so the next step is a new read.
    this.#final = !answer.renewable || answer.durationSeconds < asked;
    this.#options.onEvent?.({ kind: 'renewal', result: answer.durationSeconds < asked ? 'max_ttl' : 'renewed' });
    this.#schedule();
  }

  #schedule(): void {
    if (!this.#started || this.#closed) return;
    this.#clock.clearTimeout(this.#timer);
    this.#timer = undefined;
    const expiresAt = this.#expiresAt;
    if (this.#lease === undefined || expiresAt === undefined) return;
    // Two thirds into the lease, as Vault Agent renews, but at least five minutes before its end
    // (the provider credentials' refresh window, which the credential-expiry alert watches); a
    // lease already inside that window: at half of what is left.
    const left = expiresAt - this.#clock.now();
    const due = Math.min(left * RENEW_AT, left - RENEW_BEFORE_MS);
    const delay = due > 0 ? due : Math.max(0, left / 2);
    this.#timer = this.#clock.setTimeout(() => void this.#tick(), delay);
  }

  /** After a failure: try again, sooner as the lease nears its end (at once if there is none). */
  #retryLater(): void {
    if (!this.#started || this.#closed) return;
    this.#clock.clearTimeout(this.#timer);
    const maxRetry = this.#options.maxRetryMs ?? 30_000;
    const left = this.#expiresAt === undefined ? maxRetry : this.#expiresAt - this.#clock.now();
    const delay = Math.min(maxRetry, Math.max(MIN_RETRY_MS, left / 2));
    this.#timer = this.#clock.setTimeout(() => void this.#tick(), delay);
  }

  /** Revokes a replaced lease once its grace has passed (at once on close). */
  #retire(lease: SecretLease): void {
    const timer = this.#clock.setTimeout(() => {
      this.#retiring.delete(lease);
      this.#revoke(lease);
    }, this.#options.replacedGraceMs ?? 5_000);
    this.#retiring.set(lease, timer);
  }

  /** Revokes `lease` in the background; close() waits for it. */
  #revoke(lease: SecretLease): void {
    const done = this.#store.revoke(lease, this.#signal()).then(
      () => this.#options.onEvent?.({ kind: 'revocation', ok: true }),
      (err: unknown) => this.#options.onEvent?.({ kind: 'revocation', ok: false, error: err instanceof Error ? err.message : String(err) }),
    );
    this.#revocations.add(done);
    void done.finally(() => this.#revocations.delete(done));
  }

  #signal(): AbortSignal {
    return AbortSignal.timeout(this.#closed ? (this.#options.closeTimeoutMs ?? 5_000) : (this.#options.timeoutMs ?? 30_000));
  }
}

/**
 * One field of a {@link LeasedSecret}, used where any SecretHandle is (a StaticCredential's
 * inputs). It holds no value of its own: `value` and `version` are read from the shared lease.
 */
export class LeaseFieldHandle extends SecretHandle {
  readonly fieldName: string;
  readonly lease: LeasedSecret;

  constructor(ref: SecretRef, field: string, lease: LeasedSecret) {
    super(ref, UNUSED_STORE, '', 0);
    this.fieldName = field;
    this.lease = lease;
  }

  override get value(): string {
    const value = this.lease.lease?.fields[this.fieldName];
    if (value === undefined) throw new Error(`secret ${this.ref.raw} is not resolved${this.lease.lastError ? `: ${this.lease.lastError}` : ''}`);
    return asWritten(value, this.ref);
  }

  override get hasValue(): boolean {
    return this.lease.lease?.fields[this.fieldName] !== undefined;
  }

  override get version(): number {
    return this.lease.version;
  }

  override get status(): 'pending' | 'ok' | 'error' {
    return this.hasValue ? 'ok' : this.lease.lastError !== undefined ? 'error' : 'pending';
  }

  override get lastRefreshAt(): number | undefined {
    return this.lease.lastReadAt;
  }

  override get lastError(): string | undefined {
    return this.lease.lastError;
  }

  override get expiresAt(): number | undefined {
    return this.lease.expiresAt;
  }

  /** Reads a new lease for every field of its source at once (see LeasedSecret.refresh); renewals are the lease's own job. */
  override refresh(): Promise<boolean> {
    return this.lease.refresh();
  }
}

/** A field handle never reads through the store it was built with: its lease does the reading. */
const UNUSED_STORE = {
  scheme: 'lease',
  validate: () => undefined,
  read: () => Promise.reject(new Error('a lease field is read through its lease')),
};
