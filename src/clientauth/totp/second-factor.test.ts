import assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, test } from 'node:test';
import { TOTP } from 'otpauth';
import { openSqliteStore, type SqliteStore } from '../../store/sqlite/index.js';
import type { TotpSubject } from '../../store/identity-types.js';
import { totpFor } from './codes.js';
import { enrolTotp } from './enrol.js';
import { SecondFactorChecker } from './second-factor.js';
import { TotpSecretBox } from './secret-box.js';

const STEP = 30_000;
// A fixed instant in the middle of a step, so ±1 step stays unambiguous.
const T0 = Date.UTC(2026, 0, 15, 12, 0, 15);
const LOCK_MS = 15 * 60_000;

/** A code for `secret` at `at`, computed by otpauth itself (as an authenticator app would). */
function codeAt(secret: string, at: number): string {
  return TOTP.generate({ secret: totpFor(secret).secret, algorithm: 'SHA1', digits: 6, period: 30, timestamp: at });
}

describe('TOTP second factor checks (RFC 6238, injected clock)', () => {
  let store: SqliteStore;
  let now: number;
  let checker: SecondFactorChecker;
  const box = new TotpSecretBox(undefined);

  beforeEach(() => {
    store = openSqliteStore(':memory:');
    now = T0;
    checker = new SecondFactorChecker({ store: store.identity.totp, maxFailures: 5, lockoutMs: LOCK_MS, now: () => now });
  });
  afterEach(() => store.close());

  async function enrol(subject: TotpSubject = 'key:k1') {
    return enrolTotp(store.identity.totp, box, subject, 'test', true, now);
  }

  test('the current code and the codes one step either side are accepted; two steps away are refused', async () => {
    for (const [offset, ok] of [[0, true], [-1, true], [1, true], [-2, false], [2, false]] as const) {
      const e = await enrol(`key:offset${offset}`);
      const result = await checker.check(`key:offset${offset}`, e.secret, codeAt(e.secret, T0 + offset * STEP));
      assert.equal(result.ok, ok, `offset ${offset} steps`);
      if (!result.ok) assert.equal(result.reason, 'totp_invalid');
    }
  });

  test('a code (step) already used is refused as a replay, as is an older step after a newer one', async () => {
    const e = await enrol();
    const code = codeAt(e.secret, now);
    assert.deepEqual(await checker.check('key:k1', e.secret, code), { ok: true, via: 'totp' });
    assert.deepEqual(await checker.check('key:k1', e.secret, code), { ok: false, reason: 'totp_replayed' });
    // The next step's code is fine; afterwards the previous step's code (still in the window) is not.
    now += STEP;
    assert.deepEqual(await checker.check('key:k1', e.secret, codeAt(e.secret, now)), { ok: true, via: 'totp' });
    assert.deepEqual(await checker.check('key:k1', e.secret, codeAt(e.secret, now - STEP)), { ok: false, reason: 'totp_replayed' });
  });

  test('five wrong codes lock the subject: even the right code is refused until the lockout ends', async () => {
    const e = await enrol();
    const right = codeAt(e.secret, now);
    const wrong = right === '000000' ? '111111' : '000000';
    for (let i = 0; i < 5; i++) assert.deepEqual(await checker.check('key:k1', e.secret, wrong), { ok: false, reason: 'totp_invalid' }, `wrong code ${i + 1}`);
    assert.deepEqual(await checker.check('key:k1', e.secret, right), { ok: false, reason: 'totp_locked' });
    // A backup code does not get around the lock either.
    assert.deepEqual(await checker.check('key:k1', e.secret, e.backupCodes[0]!), { ok: false, reason: 'totp_locked' });
    const stored = await store.identity.totp.get('key:k1');
    assert.equal(stored?.lockedUntil, T0 + LOCK_MS);
    assert.equal(stored?.backupCodesLeft, 10, 'a refused backup code is not consumed');

    now = T0 + LOCK_MS - 1_000;
    assert.deepEqual(await checker.check('key:k1', e.secret, codeAt(e.secret, now)), { ok: false, reason: 'totp_locked' });
    now = T0 + LOCK_MS + 1;
    assert.deepEqual(await checker.check('key:k1', e.secret, codeAt(e.secret, now)), { ok: true, via: 'totp' });
  });

  test('a success resets the count of wrong codes; the lock is per subject', async () => {
    const e = await enrol('key:k1');
    const other = await enrol('key:k2');
    const wrong = (secret: string) => (codeAt(secret, now) === '000000' ? '111111' : '000000');
    for (let i = 0; i < 4; i++) await checker.check('key:k1', e.secret, wrong(e.secret));
    assert.equal((await checker.check('key:k1', e.secret, codeAt(e.secret, now))).ok, true);
    for (let i = 0; i < 4; i++) await checker.check('key:k1', e.secret, wrong(e.secret));
    now += STEP;
    assert.equal((await checker.check('key:k1', e.secret, codeAt(e.secret, now))).ok, true, 'eight wrong codes with a success between do not lock');
    for (let i = 0; i < 5; i++) await checker.check('key:k1', e.secret, wrong(e.secret));
    assert.deepEqual(await checker.check('key:k1', e.secret, codeAt(e.secret, now + STEP)), { ok: false, reason: 'totp_locked' });
    assert.deepEqual(await checker.check('key:k2', other.secret, codeAt(other.secret, now)), { ok: true, via: 'totp' }, 'another subject is not locked');
  });

  test('a backup code works once, with or without dashes and in any case', async () => {
    const e = await enrol();
    assert.equal(e.backupCodes.length, 10);
    assert.equal(new Set(e.backupCodes).size, 10);
    const [first, second] = e.backupCodes as [string, string];
    assert.deepEqual(await checker.check('key:k1', e.secret, first), { ok: true, via: 'backup_code' });
    assert.deepEqual(await checker.check('key:k1', e.secret, first), { ok: false, reason: 'totp_invalid' });
    assert.deepEqual(await checker.check('key:k1', e.secret, second.replace(/-/g, '').toUpperCase()), { ok: true, via: 'backup_code' });
    assert.equal((await store.identity.totp.get('key:k1'))?.backupCodesLeft, 8);
  });

  test('concurrent uses of one backup code: exactly one succeeds', async () => {
    const e = await enrol();
    const results = await Promise.all(Array.from({ length: 5 }, () => checker.check('key:k1', e.secret, e.backupCodes[3]!)));
    assert.equal(results.filter((r) => r.ok).length, 1);
  });

  test('re-enrolling replaces the secret and the backup codes; removing the enrolment ends both', async () => {
    const first = await enrol();
    const second = await enrol();
    assert.notEqual(first.secret, second.secret);
    assert.deepEqual(await checker.check('key:k1', second.secret, first.backupCodes[0]!), { ok: false, reason: 'totp_invalid' });
    assert.equal((await checker.check('key:k1', second.secret, second.backupCodes[0]!)).ok, true);
    assert.equal(await store.identity.totp.remove('key:k1'), true);
    assert.equal(await store.identity.totp.get('key:k1'), undefined);
    assert.deepEqual(await store.identity.totp.backupCodes('key:k1'), []);
  });

  test('garbage is refused and counts as a wrong code', async () => {
    const e = await enrol();
    for (const junk of ['12345', '1234567', 'abcdef', '', 'zzzz-zzzz-zzz0']) {
      assert.deepEqual(await checker.check('key:k1', e.secret, junk), { ok: false, reason: 'totp_invalid' }, JSON.stringify(junk));
    }
    assert.equal((await store.identity.totp.get('key:k1'))?.lockedUntil, T0 + LOCK_MS);
  });
});
