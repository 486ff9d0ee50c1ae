import type { TotpStore, TotpSubject } from '../../store/identity-types.js';
import { findBackupCode, isTotpCodeShape, matchTotpStep, normaliseBackupCode } from './codes.js';

export type SecondFactorFailure = 'totp_invalid' | 'totp_replayed' | 'totp_locked';

export type SecondFactorResult = { ok: true; via: 'totp' | 'backup_code' } | { ok: false; reason: SecondFactorFailure };

export interface SecondFactorOptions {
  store: TotpStore;
  /** Wrong codes in a row before the subject is locked (`auth.totp.max_failures`). */
  maxFailures: number;
  /** How long a lock lasts (`auth.totp.lockout`). */
  lockoutMs: number;
  now?: () => number;
}

/**
 * Checks one presented second factor of one subject: a 6-digit TOTP code (RFC 6238, ±1 step) or
 * a backup code. Everything that must hold across replicas is decided by the store atomically:
 * the replay guard (a step at or below the last accepted one is refused), the lockout after
 * `maxFailures` wrong codes (during which even a right code is refused), and the single use of a
 * backup code.
 *
 * @example
 * const checker = new SecondFactorChecker({ store: store.identity.totp, maxFailures: 5, lockoutMs: 15 * 60_000 });
 * await checker.check('key:abc', secretBase32, '123456'); // { ok: false, reason: 'totp_invalid' }
 */
export class SecondFactorChecker {
  readonly #store: TotpStore;
  readonly #maxFailures: number;
  readonly #lockoutMs: number;
  readonly #now: () => number;

  constructor(options: SecondFactorOptions) {
    this.#store = options.store;
    this.#maxFailures = options.maxFailures;
    this.#lockoutMs = options.lockoutMs;
    this.#now = options.now ?? Date.now;
  }

  async check(subject: TotpSubject, secretBase32: string, presented: string): Promise<SecondFactorResult> {
    const now = this.#now();
    const code = presented.trim();
    if (isTotpCodeShape(code)) {
      const step = matchTotpStep(secretBase32, code, now);
      if (step !== undefined) {
        const decision = await this.#store.acceptStep(subject, step, now);
        if (decision === 'ok') return { ok: true, via: 'totp' };
        if (decision === 'locked') return { ok: false, reason: 'totp_locked' };
        if (decision === 'replayed') return this.#fail(subject, now, 'totp_replayed');
        return { ok: false, reason: 'totp_invalid' };
      }
      return this.#fail(subject, now, 'totp_invalid');
    }
    const backup = normaliseBackupCode(code);
    if (backup !== undefined) {
      const index = findBackupCode(backup, await this.#store.backupCodes(subject));
      if (index !== undefined && (await this.#store.consumeBackupCode(subject, index, now))) return { ok: true, via: 'backup_code' };
    }
    return this.#fail(subject, now, 'totp_invalid');
  }

  /** Counts a wrong (or replayed) code towards the lockout; a subject already locked stays locked. */
  async #fail(subject: TotpSubject, now: number, reason: SecondFactorFailure): Promise<SecondFactorResult> {
    const r = await this.#store.recordFailure(subject, now, this.#maxFailures, this.#lockoutMs);
    return { ok: false, reason: r.lockedBefore ? 'totp_locked' : reason };
  }
}
