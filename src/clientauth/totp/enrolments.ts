import { GatewayError } from '../../errors/gateway-error.js';
import type { Logger } from '../../observability/logger.js';
import type { TotpStore, TotpSubject } from '../../store/identity-types.js';
import type { TotpSecretBox } from './secret-box.js';

/** What the TOTP step needs of an enrolment: never logged (it holds the opened secret). */
export interface ActiveEnrolment {
  subject: TotpSubject;
  required: boolean;
  /** Base32, opened from the stored form. */
  secret: string;
}

/**
 * Enrolments by subject, with their secrets opened once, remembered until the identity store
 * reports a change (`clear`, wired to IdentityWatch). Lock and replay state is not cached: the
 * store decides those atomically on every code.
 */
export class EnrolmentDirectory {
  readonly #store: TotpStore;
  readonly #box: TotpSecretBox;
  readonly #trusted: () => boolean;
  readonly #logger: Logger;
  readonly #known = new Map<TotpSubject, ActiveEnrolment | null>();
  readonly #maxEntries: number;

  constructor(store: TotpStore, box: TotpSecretBox, trusted: () => boolean, logger: Logger, maxEntries = 10_000) {
    this.#store = store;
    this.#box = box;
    this.#trusted = trusted;
    this.#logger = logger;
    this.#maxEntries = maxEntries;
  }

  async get(subject: TotpSubject): Promise<ActiveEnrolment | undefined> {
    if (this.#trusted() && this.#known.has(subject)) return this.#known.get(subject) ?? undefined;
    let record;
    try {
      record = await this.#store.get(subject);
    } catch (err) {
      throw new GatewayError('store_unavailable', 'the identity store is unavailable; try again shortly', { cause: err });
    }
    let active: ActiveEnrolment | null = null;
    if (record) {
      try {
        active = { subject, required: record.required, secret: this.#box.open(record.secret, subject) };
      } catch (err) {
        // The message names the subject and the cause, never a secret.
        this.#logger.error({ subject, error: err instanceof Error ? err.message : String(err) }, 'cannot read a TOTP enrolment');
        throw new GatewayError('internal_error', 'the second factor cannot be checked; an administrator must fix the TOTP configuration', { cause: err });
      }
    }
    // Absent subjects are remembered too (most keys have no enrolment); the map is bounded.
    this.#known.set(subject, active);
    if (this.#known.size > this.#maxEntries) this.#known.delete(this.#known.keys().next().value!);
    return active ?? undefined;
  }

  clear(): void {
    this.#known.clear();
  }
}
