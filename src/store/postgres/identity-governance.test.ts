import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import { identityStoreContract } from '../../../test/contracts/identity-store.js';
import { freshDatabase, requireService } from '../../../test/helpers/services.js';
import type { UsageRow } from '../governance-types.js';
import { IdentityConflictError, type TotpSubject } from '../identity-types.js';
import { openSqliteStore } from '../sqlite/index.js';
import type { Store } from '../types.js';
import { openPostgresStore } from './index.js';

/**
 * The PostgreSQL identity and governance stores must behave exactly like the SQLite ones. Each
 * scenario runs the same operations against a fresh SQLite store and a fresh PostgreSQL store
 * and compares every result; then checks what only a shared database can show (two replicas
 * racing for the same TOTP step or backup code).
 */

const postgres = await requireService('postgres');

const databases: Array<{ drop(): Promise<void> }> = [];
after(async () => {
  await Promise.all(databases.map((d) => d.drop()));
});

async function freshPg(): Promise<{ store: Store; url: string }> {
  const db = await freshDatabase();
  databases.push(db);
  return { store: await openPostgresStore(db.url, { poolSize: 4 }), url: db.url };
}

if (postgres.skip === false) identityStoreContract('postgres', async () => (await freshPg()).store);

/** Runs `scenario` on SQLite and on PostgreSQL; both transcripts must be equal (and non-trivial). */
async function sameOnBoth(scenario: (store: Store) => Promise<unknown[]>): Promise<unknown[]> {
  const sqlite = openSqliteStore(':memory:');
  const { store: pg } = await freshPg();
  try {
    const expected = await scenario(sqlite);
    const actual = await scenario(pg);
    assert.ok(expected.length > 3);
    assert.deepEqual(actual, expected);
    return actual;
  } finally {
    await Promise.all([sqlite.close(), pg.close()]);
  }
}

/** Outcome of a call that may throw: the value, or the error's class and message. */
async function outcome(p: Promise<unknown>): Promise<unknown> {
  try {
    return { ok: await p };
  } catch (err) {
    return { error: (err as Error).name, conflict: err instanceof IdentityConflictError, message: (err as Error).message };
  }
}

const T = Date.UTC(2025, 2, 1);
const scopes = { instances: ['openai'], models: null };
const limits = { rpm: 10, tpm: null, budgetUsd: 2.5 };

describe('PostgreSQL identity stores behave like SQLite', { skip: postgres.skip }, () => {
  test('users: create, conflicts, get, list, password and disable changes, the change counter and watchers', async () => {
    await sameOnBoth(async ({ identity }) => {
      const out: unknown[] = [];
      let notified = 0;
      const stop = identity.watch(() => void notified++);
      const rev0 = await identity.currentRev();
      out.push(await outcome(identity.users.create({ name: 'bob', role: 'developer', passwordHash: 'h1', scopes, limits, createdAt: T })));
      out.push(await outcome(identity.users.create({ name: 'alice', role: 'admin', passwordHash: null, scopes: { instances: null, models: null }, limits, createdAt: T + 1 })));
      out.push(await outcome(identity.users.create({ name: 'bob', role: 'viewer', passwordHash: 'h2', scopes, limits, createdAt: T + 2 })));
      out.push(await identity.users.get('bob'), await identity.users.get('nobody'), await identity.users.list());
      out.push(await identity.users.setPassword('bob', 'h3', T + 10), await identity.users.setPassword('nobody', 'h', T));
      out.push(await identity.users.setDisabled('alice', true, T + 20), await identity.users.setDisabled('nobody', true, T));
      out.push((await identity.currentRev()) - rev0, notified);
      stop();
      await identity.users.setDisabled('alice', false, T + 30);
      out.push(notified, (await identity.currentRev()) - rev0, await identity.users.get('alice'));
      return out;
    });
  });

  test('TOTP: enrolment with backup codes, replay guard, failure lockout, backup codes, removal', async () => {
    await sameOnBoth(async ({ identity: { totp, currentRev } }) => {
      const out: unknown[] = [];
      const s: TotpSubject = 'key:abc';
      const codes = [0, 1, 2].map((i) => ({ index: i, salt: `salt${i}`, hash: `hash${i}` }));
      const rev0 = await currentRev();
      out.push(await totp.enroll({ subject: s, secret: 'plain:JBSWY3DP', required: true, backupCodes: codes, createdAt: T }));
      out.push(await totp.enroll({ subject: 'user:carol', secret: 'plain:KRSXG5CT', required: false, backupCodes: [], createdAt: T + 1 }));
      out.push(await totp.get(s), await totp.get('key:none'), await totp.list());
      out.push(await totp.acceptStep(s, 100, T), await totp.acceptStep(s, 100, T), await totp.acceptStep(s, 99, T), await totp.acceptStep(s, 101, T));
      out.push(await totp.acceptStep('key:none', 1, T));
      for (let i = 0; i < 4; i++) out.push(await totp.recordFailure(s, T + i, 3, 60_000));
      out.push(await totp.acceptStep(s, 200, T + 10), await totp.consumeBackupCode(s, 0, T + 10), await totp.get(s));
      out.push(await totp.acceptStep(s, 200, T + 70_000), await totp.consumeBackupCode(s, 1, T + 70_000), await totp.consumeBackupCode(s, 1, T + 70_001));
      out.push(await totp.backupCodes(s), await totp.get(s), await totp.recordFailure('key:none', T, 3, 1000));
      // Re-enrolment replaces the secret and every backup code and resets the guards.
      out.push(await totp.enroll({ subject: s, secret: 'plain:NEW', required: false, backupCodes: codes.slice(0, 1), createdAt: T + 100 }));
      out.push(await totp.backupCodes(s));
      out.push(await totp.remove(s), await totp.remove(s), await totp.get(s), await totp.backupCodes(s));
      out.push((await currentRev()) - rev0);
      return out;
    });
  });

  test('sessions: create, get, revoke once, prune; a session stands for one key or one user', async () => {
    await sameOnBoth(async ({ identity: { sessions, currentRev } }) => {
      const out: unknown[] = [];
      const rev0 = await currentRev();
      out.push(await sessions.create({ id: 's1', secretHash: 'sh1', keyId: 'k1', user: null, createdAt: T, expiresAt: T + 1000 }));
      out.push(await sessions.create({ id: 's2', secretHash: 'sh2', keyId: null, user: 'bob', createdAt: T, expiresAt: T + 5000 }));
      out.push((await outcome(sessions.create({ id: 's3', secretHash: 'x', keyId: 'k', user: 'bob', createdAt: T, expiresAt: T + 1 }))) as object);
      out.push(((await outcome(sessions.create({ id: 's1', secretHash: 'x', keyId: 'k', user: null, createdAt: T, expiresAt: T + 1 }))) as { error?: string }).error !== undefined);
      out.push((await currentRev()) - rev0, 'session creation is not a security change');
      out.push(await sessions.revoke('s1', T + 10), await sessions.revoke('s1', T + 20), await sessions.revoke('nope', T));
      out.push((await currentRev()) - rev0);
      out.push(await sessions.prune(T + 2000), await sessions.get('s1'), await sessions.get('s2'));
      return out;
    });
  });
});

describe('PostgreSQL governance stores behave like SQLite', { skip: postgres.skip }, () => {
  const row = (over: Partial<UsageRow>): UsageRow => ({
    time: T,
    requestId: 'r',
    keyId: null,
    user: null,
    principalKind: 'api-key',
    instance: 'openai',
    model: 'gpt-4o',
    inputTokens: 10,
    outputTokens: 5,
    costMicros: 100,
    latencyMs: 12,
    status: 200,
    ...over,
  });

  test('usage: append, summaries by every grouping, spend by key and user, prune', async () => {
    await sameOnBoth(async ({ governance: { usage } }) => {
      const out: unknown[] = [];
      await usage.append([]);
      await usage.append([
        row({ requestId: 'a', keyId: 'k1', user: 'bob', costMicros: 1500.4, latencyMs: 3.6 }),
        row({ requestId: 'b', keyId: 'k1', user: 'bob', time: T + 1000, model: 'gpt-4o-mini', costMicros: 20 }),
        row({ requestId: 'c', keyId: 'k2', user: null, time: T + 2000, instance: 'bedrock_us1', model: null, costMicros: 0, inputTokens: 0, outputTokens: 0, status: 499 }),
        row({ requestId: 'd', keyId: null, user: 'carol', principalKind: 'oidc', time: T + 3000, costMicros: 3_000_000 }),
      ]);
      for (const by of ['key', 'user', 'instance', 'model'] as const) out.push(await usage.summary({ by, since: T }));
      out.push(await usage.summary({ by: 'model', since: T + 1000, until: T + 3000 }));
      out.push(await outcome(usage.summary({ by: 'nonsense' as 'key', since: T })));
      out.push(await usage.spendSince(T), await usage.spendSince(T + 1500));
      out.push(await usage.prune(T + 1500), await usage.prune(T + 1500), await usage.summary({ by: 'key', since: 0 }));
      return out;
    });
  });

  test('usage: filtered summaries and bucketed series (errors, NULL groups, top groups) as SQLite answers them', async () => {
    const H = 3_600_000;
    await sameOnBoth(async ({ governance: { usage } }) => {
      const out: unknown[] = [];
      await usage.append([
        row({ requestId: 'a', keyId: 'k1', user: 'bob', costMicros: 100 }),
        row({ requestId: 'b', keyId: 'k1', user: 'bob', time: T + 10, status: 500 }),
        row({ requestId: 'c', keyId: 'k2', user: null, time: T + H + 5, model: 'claude', costMicros: 2_000_000, status: 429 }),
        row({ requestId: 'd', keyId: null, user: 'carol', time: T + 2 * H, instance: 'bedrock_us1', costMicros: 50 }),
        row({ requestId: 'e', keyId: 'k1', user: 'bob', time: T + 3 * H, costMicros: 7 }),
        row({ requestId: 'f', keyId: 'k1', user: 'bob', time: T - 1, costMicros: 9 }),
      ]);
      out.push(await usage.summary({ by: 'model', since: T, filter: { keyId: 'k1' } }));
      out.push(await usage.summary({ by: 'key', since: T, filter: { user: 'bob', model: 'gpt-4o', instance: 'openai' } }));
      out.push(await usage.summary({ by: 'user', since: 0, filter: { instance: 'nowhere' } }));
      for (const by of ['none', 'key', 'user', 'instance', 'model'] as const) out.push(await usage.series({ by, since: T, until: T + 3 * H, bucketMs: H }));
      out.push(await usage.series({ by: 'key', since: T, until: T + 4 * H, bucketMs: H, maxGroups: 2 }));
      out.push(await usage.series({ by: 'user', since: T, until: T + 4 * H, bucketMs: 4 * H, maxGroups: 1, filter: { keyId: 'k1' } }));
      out.push(await outcome(usage.series({ by: 'colour' as 'key', since: T, until: T + H, bucketMs: H })));
      return out;
    });
  });

  test('settings: get, set (last write wins), delete', async () => {
    await sameOnBoth(async ({ governance: { settings } }) => {
      const out: unknown[] = [];
      out.push(await settings.get('lockdown'));
      await settings.set('lockdown', JSON.stringify({ on: true }));
      const first = await settings.get('lockdown');
      out.push(first?.value, typeof first?.updatedAt === 'number' && first.updatedAt <= Date.now());
      await settings.set('lockdown', JSON.stringify({ on: false }));
      await settings.set('disabled_instances', '["openai"]');
      out.push((await settings.get('lockdown'))?.value, (await settings.get('disabled_instances'))?.value);
      await settings.set('lockdown', null);
      await settings.set('never-set', null);
      out.push(await settings.get('lockdown'), (await settings.get('disabled_instances'))?.value);
      return out;
    });
  });
});

describe('PostgreSQL identity stores: replicas racing on one database', { skip: postgres.skip }, () => {
  test('the same TOTP step or backup code presented to two replicas at once is accepted once', async () => {
    const { store: a, url } = await freshPg();
    const b = await openPostgresStore(url, { poolSize: 4 });
    try {
      const s: TotpSubject = 'user:race';
      await a.identity.totp.enroll({ subject: s, secret: 'plain:X', required: true, backupCodes: [{ index: 0, salt: 's', hash: 'h' }], createdAt: T });
      const steps = await Promise.all(Array.from({ length: 10 }, (_, i) => (i % 2 === 0 ? a : b).identity.totp.acceptStep(s, 5000, T)));
      assert.deepEqual(steps.filter((d) => d === 'ok').length, 1);
      assert.ok(steps.every((d) => d === 'ok' || d === 'replayed'));
      const used = await Promise.all(Array.from({ length: 10 }, (_, i) => (i % 2 === 0 ? a : b).identity.totp.consumeBackupCode(s, 0, T)));
      assert.equal(used.filter(Boolean).length, 1);
      // Failures counted by both replicas lock the factor exactly once.
      const failures = await Promise.all(Array.from({ length: 6 }, (_, i) => (i % 2 === 0 ? a : b).identity.totp.recordFailure(s, T, 3, 60_000)));
      assert.equal(failures.filter((f) => !f.lockedBefore && f.lockedUntil !== null).length, 1);
      assert.equal(failures.filter((f) => f.lockedBefore).length, 3);
      // A change on one replica moves the counter the other polls.
      const rev = await b.identity.currentRev();
      await a.identity.users.create({ name: 'dave', role: 'developer', passwordHash: 'h', scopes, limits });
      assert.ok((await b.identity.currentRev()) > rev);
      await assert.rejects(b.identity.users.create({ name: 'dave', role: 'developer', passwordHash: 'h', scopes, limits }), IdentityConflictError);
    } finally {
      await Promise.all([a.close(), b.close()]);
    }
  });
});
