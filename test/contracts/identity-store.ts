import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { IdentityConflictError, type BackupCodeHash, type NewUser } from '../../src/store/identity-types.js';
import type { Store } from '../../src/store/types.js';

/**
 * The contract every `IdentityStores` implementation (SQLite, PostgreSQL) must pass: the
 * semantics documented in src/store/identity-types.ts, which Basic auth, the TOTP step and
 * sessions rely on. `open` must return a new, empty store each time.
 *
 * @example
 * identityStoreContract('sqlite', async () => openSqliteStore(':memory:'));
 */
export function identityStoreContract(name: string, open: () => Promise<Store>): void {
  async function withStore(body: (store: Store) => Promise<void>): Promise<void> {
    const store = await open();
    try {
      await body(store);
    } finally {
      await store.close();
    }
  }
  const T = Date.UTC(2026, 0, 1);
  const user = (n: string, over: Partial<NewUser> = {}): NewUser => ({
    name: n,
    role: 'developer',
    passwordHash: '$argon2id$v=19$m=19456,t=2,p=1$placeholder',
    scopes: { instances: ['openai'], models: null },
    limits: { rpm: 5, tpm: null, budgetUsd: 2.5 },
    createdAt: T,
    ...over,
  });
  const codes = (n: number): BackupCodeHash[] => Array.from({ length: n }, (_, index) => ({ index, salt: `salt${index}`, hash: `hash${index}` }));

  describe(`IdentityStores contract: ${name}`, () => {
    test('users: create, get, list by name; a taken name is a conflict; changes bump the counter and notify watchers', async () => {
      await withStore(async (store) => {
        const ids = store.identity;
        let notified = 0;
        const unwatch = ids.watch(() => notified++);
        const rev0 = await ids.currentRev();
        const created = await ids.users.create(user('zed'));
        await ids.users.create(user('amy', { role: 'viewer', passwordHash: null }));
        assert.deepEqual(created, {
          name: 'zed', role: 'developer', passwordHash: '$argon2id$v=19$m=19456,t=2,p=1$placeholder', disabled: false,
          scopes: { instances: ['openai'], models: null }, limits: { rpm: 5, tpm: null, budgetUsd: 2.5 },
          createdAt: T, updatedAt: T, passwordChangedAt: T,
        });
        await assert.rejects(ids.users.create(user('zed')), IdentityConflictError);
        assert.deepEqual((await ids.users.list()).map((u) => u.name), ['amy', 'zed']);
        assert.equal((await ids.users.get('amy'))?.passwordHash, null);
        assert.equal(await ids.users.get('nobody'), undefined);
        const rev1 = await ids.currentRev();
        assert.ok(rev1 > rev0);
        assert.equal(notified, 2);

        const changed = await ids.users.setPassword('zed', 'new-hash', T + 5);
        assert.equal(changed?.passwordHash, 'new-hash');
        assert.equal(changed?.passwordChangedAt, T + 5);
        const disabled = await ids.users.setDisabled('zed', true, T + 6);
        assert.equal(disabled?.disabled, true);
        assert.equal(disabled?.updatedAt, T + 6);
        assert.equal((await ids.users.setDisabled('zed', false, T + 7))?.disabled, false);
        assert.ok((await ids.currentRev()) > rev1);
        assert.equal(notified, 5);
        const rev2 = await ids.currentRev();
        assert.equal(await ids.users.setDisabled('nobody', true, T), undefined);
        assert.equal(await ids.users.setPassword('nobody', 'h', T), undefined);
        assert.equal(await ids.currentRev(), rev2, 'no change, no bump');
        unwatch();
        await ids.users.setDisabled('zed', true, T + 8);
        assert.equal(notified, 5, 'an unwatched listener is not called');
      });
    });

    test('totp: enrol, replace, list, remove (with its backup codes)', async () => {
      await withStore(async (store) => {
        const totp = store.identity.totp;
        const rev0 = await store.identity.currentRev();
        const e = await totp.enroll({ subject: 'key:k1', secret: 'plain:AAAA', required: true, backupCodes: codes(10), createdAt: T });
        assert.deepEqual(e, { subject: 'key:k1', secret: 'plain:AAAA', required: true, createdAt: T, lastStep: null, failures: 0, lockedUntil: null, backupCodesLeft: 10 });
        await totp.enroll({ subject: 'user:bo', secret: 'plain:BBBB', required: false, backupCodes: codes(2), createdAt: T });
        assert.deepEqual((await totp.list()).map((x) => x.subject), ['key:k1', 'user:bo']);
        await totp.enroll({ subject: 'user:Al', secret: 'plain:DDDD', required: true, backupCodes: [], createdAt: T });
        assert.deepEqual(await totp.subjects('user'), ['user:Al', 'user:bo'], 'byte order');
        assert.deepEqual(await totp.subjects('key'), ['key:k1']);
        assert.equal(await totp.remove('user:Al'), true);
        assert.ok((await store.identity.currentRev()) > rev0);
        await totp.acceptStep('key:k1', 100, T);
        const again = await totp.enroll({ subject: 'key:k1', secret: 'plain:CCCC', required: false, backupCodes: codes(3), createdAt: T + 1 });
        assert.equal(again.secret, 'plain:CCCC');
        assert.equal(again.lastStep, null, 're-enrolment resets the replay guard');
        assert.equal(again.backupCodesLeft, 3);
        assert.deepEqual((await totp.backupCodes('key:k1')).map((c) => c.index), [0, 1, 2]);
        assert.equal(await totp.remove('key:k1'), true);
        assert.equal(await totp.remove('key:k1'), false);
        assert.equal(await totp.get('key:k1'), undefined);
        assert.deepEqual(await totp.backupCodes('key:k1'), []);
      });
    });

    test('totp: acceptStep is a monotonic replay guard; it does not bump the counter', async () => {
      await withStore(async (store) => {
        const totp = store.identity.totp;
        assert.equal(await totp.acceptStep('key:none', 1, T), 'not_enrolled');
        await totp.enroll({ subject: 'key:k', secret: 'plain:A', required: true, backupCodes: [], createdAt: T });
        const rev = await store.identity.currentRev();
        assert.equal(await totp.acceptStep('key:k', 100, T), 'ok');
        assert.equal(await totp.acceptStep('key:k', 100, T), 'replayed');
        assert.equal(await totp.acceptStep('key:k', 99, T), 'replayed');
        assert.equal(await totp.acceptStep('key:k', 101, T), 'ok');
        assert.equal((await totp.get('key:k'))?.lastStep, 101);
        assert.equal(await store.identity.currentRev(), rev);
      });
    });

    test('totp: failures lock at maxFailures; while locked nothing is accepted or counted; a success resets the count', async () => {
      await withStore(async (store) => {
        const totp = store.identity.totp;
        await totp.enroll({ subject: 'key:k', secret: 'plain:A', required: true, backupCodes: codes(2), createdAt: T });
        for (let i = 1; i <= 2; i++) assert.deepEqual(await totp.recordFailure('key:k', T, 3, 1000), { lockedBefore: false, lockedUntil: null });
        assert.equal(await totp.acceptStep('key:k', 1, T), 'ok');
        assert.equal((await totp.get('key:k'))?.failures, 0);
        for (let i = 1; i <= 2; i++) await totp.recordFailure('key:k', T, 3, 1000);
        assert.deepEqual(await totp.recordFailure('key:k', T, 3, 1000), { lockedBefore: false, lockedUntil: T + 1000 });
        assert.deepEqual(await totp.recordFailure('key:k', T + 10, 3, 1000), { lockedBefore: true, lockedUntil: T + 1000 });
        assert.equal(await totp.acceptStep('key:k', 2, T + 999), 'locked');
        assert.equal(await totp.consumeBackupCode('key:k', 0, T + 999), false);
        assert.equal((await totp.get('key:k'))?.backupCodesLeft, 2);
        assert.equal(await totp.acceptStep('key:k', 2, T + 1000), 'ok', 'the lock ends at lockedUntil');
        assert.deepEqual(await totp.recordFailure('key:none', T, 3, 1000), { lockedBefore: false, lockedUntil: null });
      });
    });

    test('totp: a backup code is consumed exactly once, even when raced', async () => {
      await withStore(async (store) => {
        const totp = store.identity.totp;
        await totp.enroll({ subject: 'user:u', secret: 'plain:A', required: true, backupCodes: codes(3), createdAt: T });
        const results = await Promise.all(Array.from({ length: 6 }, () => totp.consumeBackupCode('user:u', 1, T)));
        assert.equal(results.filter(Boolean).length, 1);
        assert.deepEqual((await totp.backupCodes('user:u')).map((c) => c.index), [0, 2]);
        assert.equal((await totp.get('user:u'))?.backupCodesLeft, 2);
        assert.equal(await totp.consumeBackupCode('user:u', 7, T), false);
        assert.equal(await totp.consumeBackupCode('user:none', 0, T), false);
      });
    });

    test('sessions: create, get, revoke (bumps the counter), prune expired', async () => {
      await withStore(async (store) => {
        const sessions = store.identity.sessions;
        const s = await sessions.create({ id: 's1', secretHash: 'ab'.repeat(32), keyId: 'k1', user: null, createdAt: T, expiresAt: T + 1000 });
        assert.deepEqual(s, { id: 's1', kind: 'token', secretHash: 'ab'.repeat(32), keyId: 'k1', user: null, principal: null, createdAt: T, lastSeenAt: T, expiresAt: T + 1000, revokedAt: null });
        await sessions.create({ id: 's2', secretHash: 'cd'.repeat(32), keyId: null, user: 'bo', createdAt: T, expiresAt: T + 5000 });
        await assert.rejects(sessions.create({ id: 's3', secretHash: 'x', keyId: null, user: null, createdAt: T, expiresAt: T }));
        const rev = await store.identity.currentRev();
        assert.equal((await sessions.revoke('s2', T + 1))?.revokedAt, T + 1);
        assert.ok((await store.identity.currentRev()) > rev);
        assert.equal(await sessions.revoke('nope', T), undefined);
        assert.equal(await sessions.prune(T + 2000), 1);
        assert.equal(await sessions.get('s1'), undefined);
        assert.equal((await sessions.get('s2'))?.user, 'bo');
      });
    });

    test('users: delete removes the user, its and its keys\' TOTP enrolments (with backup codes) and sessions; bumps the counter', async () => {
      await withStore(async (store) => {
        const ids = store.identity;
        await ids.users.create(user('gone'));
        await ids.users.create(user('stays'));
        await ids.totp.enroll({ subject: 'user:gone', secret: 'plain:AAAA', required: true, backupCodes: codes(3), createdAt: T });
        await ids.totp.enroll({ subject: 'key:kg', secret: 'plain:BBBB', required: true, backupCodes: codes(2), createdAt: T });
        await ids.totp.enroll({ subject: 'user:stays', secret: 'plain:CCCC', required: true, backupCodes: codes(1), createdAt: T });
        await ids.sessions.create({ id: 'su', secretHash: 'ab'.repeat(32), keyId: null, user: 'gone', createdAt: T, expiresAt: T + 9000 });
        await ids.sessions.create({ id: 'sk', secretHash: 'ab'.repeat(32), keyId: 'kg', user: null, createdAt: T, expiresAt: T + 9000 });
        await ids.sessions.create({ id: 'ss', secretHash: 'ab'.repeat(32), keyId: null, user: 'stays', createdAt: T, expiresAt: T + 9000 });
        let notified = 0;
        const unwatch = ids.watch(() => notified++);
        const rev = await ids.currentRev();
        assert.deepEqual(await ids.users.delete('gone', ['kg']), { sessions: 2, totpEnrolments: 2 });
        assert.ok((await ids.currentRev()) > rev);
        assert.equal(notified, 1);
        unwatch();
        assert.equal(await ids.users.get('gone'), undefined);
        assert.equal(await ids.totp.get('user:gone'), undefined);
        assert.equal(await ids.totp.get('key:kg'), undefined);
        assert.deepEqual(await ids.totp.backupCodes('user:gone'), []);
        assert.deepEqual(await ids.totp.backupCodes('key:kg'), []);
        assert.equal(await ids.sessions.get('su'), undefined);
        assert.equal(await ids.sessions.get('sk'), undefined);
        assert.equal((await ids.sessions.get('ss'))?.user, 'stays');
        assert.equal((await ids.totp.get('user:stays'))?.backupCodesLeft, 1);
        assert.equal(await ids.users.delete('gone'), undefined);
        assert.deepEqual((await ids.users.list()).map((u) => u.name), ['stays']);
      });
    });

    test('console sessions: an OIDC principal as the subject, and touch() moves the last use forward only', async () => {
      await withStore(async (store) => {
        const sessions = store.identity.sessions;
        const principal = { id: 'oidc:https://idp.example#alice', user: 'alice@example.com', roles: ['viewer'] };
        const s = await sessions.create({ id: 'c1', kind: 'console', secretHash: 'ef'.repeat(32), keyId: null, user: null, principal, createdAt: T, expiresAt: T + 9000 });
        assert.deepEqual({ kind: s.kind, principal: s.principal, lastSeenAt: s.lastSeenAt }, { kind: 'console', principal, lastSeenAt: T });
        await sessions.touch('c1', T + 500);
        await sessions.touch('c1', T + 100);
        assert.equal((await sessions.get('c1'))?.lastSeenAt, T + 500);
        await assert.rejects(sessions.create({ id: 'c2', kind: 'console', secretHash: 'x', keyId: 'k1', user: null, principal, createdAt: T, expiresAt: T }), /exactly one/);
      });
    });
  });
}
