import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { newKeyId } from '../../src/clientauth/api-key/format.js';
import { keyStatus } from '../../src/clientauth/api-key/view.js';
import type { AuditEvent, KeyRecord, NewKey, Store, StoredAuditEvent } from '../../src/store/types.js';
import { auditSeverity } from '../../src/store/audit-severity.js';

export interface KeyStoreContractOptions {
  /** Closes `store` and opens the same data again (a restart). */
  reopen?: (store: Store) => Promise<Store>;
  /** Writes `records` straight into the store's database, in one transaction (for the 10,000-key search test). */
  bulkInsertKeys?: (store: Store, records: readonly KeyRecord[]) => Promise<void>;
}

/**
 * The contract every `Store` implementation (SQLite now, PostgreSQL later) must pass: the
 * semantics of `KeyStore` and `AuditLog` from src/store/types.ts, as the verifier, the CLI and
 * the audit trail rely on them.
 *
 * `open` must return a new, empty store each time. `reopen`, when given, closes `store` and
 * opens the same data again (a restart), to check that what was written survives.
 *
 * @example
 * keyStoreContract('sqlite', async () => openSqliteStore(join(mkdtempSync(...), 'llmproxy.db')));
 */
export function keyStoreContract(name: string, open: () => Promise<Store>, options: KeyStoreContractOptions = {}): void {
  /** Runs `body` against a fresh store and always closes it. */
  async function withStore(body: (store: Store) => Promise<Store | void>): Promise<void> {
    let store = await open();
    try {
      store = (await body(store)) ?? store;
    } finally {
      await store.close();
    }
  }

  let clock = Date.UTC(2025, 0, 1);
  function newKey(overrides: Partial<NewKey> = {}): NewKey {
    const id = newKeyId();
    return {
      id,
      name: `key-${id}`,
      user: null,
      role: 'developer',
      secretHash: `$argon2id$v=19$m=19456,t=2,p=1$${id}`,
      createdAt: (clock += 1000),
      expiresAt: null,
      scopes: { instances: null, models: null },
      limits: { rpm: null, tpm: null, budgetUsd: null },
      rotatedFrom: null,
      ...overrides,
    };
  }

  /** An event as the store gives it back: with the severity given, or the one derived from its kind and result. */
  function event(time: number, overrides: Partial<AuditEvent> = {}): AuditEvent {
    const e: AuditEvent = {
      time,
      requestId: `req-${time}`,
      event: 'auth',
      result: 'success',
      reason: null,
      method: 'api_key',
      keyId: null,
      user: null,
      clientAddress: '127.0.0.1',
      httpMethod: 'POST',
      path: '/transparent/openai/v1/chat/completions',
      instance: 'openai',
      detail: null,
      ...overrides,
    };
    return { ...e, severity: auditSeverity(e) };
  }

  describe(`KeyStore / AuditLog contract: ${name}`, () => {
    test('imported keys: findByLookup finds one by its tag, revoked or not; a tag is unique; issued keys carry none', async () => {
      await withStore(async ({ keys }) => {
        const tag = 'a'.repeat(64);
        const imported = await keys.create(newKey({ name: 'user1', lookup: tag }));
        const issued = await keys.create(newKey());
        assert.equal(imported.lookup, tag);
        assert.equal(issued.lookup, undefined, 'an issued key has no lookup tag');
        assert.deepEqual(await keys.findByLookup(tag), imported);
        assert.equal(await keys.findByLookup('b'.repeat(64)), undefined);
        await assert.rejects(keys.create(newKey({ name: 'other', lookup: tag })), 'a second key with the same tag is refused');
        const revoked = await keys.revoke(imported.id, clock + 1);
        assert.deepEqual(await keys.findByLookup(tag), revoked, 'found after revocation too (a revoked secret is never re-imported)');
        assert.equal((await keys.get(imported.id))?.lookup, tag);
        assert.equal((await keys.list()).find((k) => k.id === issued.id)?.lookup, undefined);
      });
    });

    test('search by creation time: createdBefore (exclusive) and createdSince (inclusive), with status', async () => {
      await withStore(async ({ keys }) => {
        const t0 = Date.UTC(2026, 0, 1);
        const day = 86_400_000;
        const old = await keys.create(newKey({ name: 'old', createdAt: t0 }));
        const oldRevoked = await keys.create(newKey({ name: 'old-revoked', createdAt: t0 + 1 }));
        await keys.revoke(oldRevoked.id, t0 + 2);
        const middle = await keys.create(newKey({ name: 'middle', createdAt: t0 + 39 * day }));
        const fresh = await keys.create(newKey({ name: 'fresh', createdAt: t0 + 80 * day }));
        const now = t0 + 100 * day;
        const ids = async (q: Parameters<typeof keys.search>[0]) => (await keys.search(q)).records.map((r) => r.id);
        // --stale 60d: active keys created more than 60 days before now.
        assert.deepEqual(await ids({ status: 'active', createdBefore: now - 60 * day, now }), [middle.id, old.id]);
        assert.deepEqual(await ids({ createdBefore: now - 60 * day, now }), [middle.id, oldRevoked.id, old.id]);
        assert.deepEqual(await ids({ createdBefore: middle.createdAt }), [oldRevoked.id, old.id], 'exclusive');
        assert.deepEqual(await ids({ createdSince: middle.createdAt }), [fresh.id, middle.id], 'inclusive');
        assert.deepEqual(await ids({ createdSince: t0 + 30 * day, createdBefore: t0 + 60 * day }), [middle.id]);
        assert.equal((await keys.search({ status: 'active', createdBefore: now - 60 * day, now, limit: 1 })).total, 2);
      });
    });

    test('create stores every field and get returns it; unknown ids are undefined; ids are unique', async () => {
      await withStore(async ({ keys }) => {
        const spec = newKey({
          user: 'alice',
          role: 'admin',
          expiresAt: Date.UTC(2030, 0, 1),
          scopes: { instances: ['openai', 'bedrock_us1'], models: ['gpt-4o', 'ft:gpt-4o:*'], endpoints: ['chat', 'embeddings'] },
          limits: { rpm: 60, tpm: 100_000, budgetUsd: 12.5 },
        });
        const rev0 = await keys.currentRev();
        const created = await keys.create(spec);
        const { createdAt, ...rest } = spec;
        const expected: KeyRecord = { ...rest, createdAt: createdAt!, revokedAt: null, lastUsedAt: null, rotatedFrom: null, rev: created.rev };
        assert.deepEqual(created, expected);
        assert.ok(created.rev > rev0, 'a creation moves the change counter');
        assert.deepEqual(await keys.get(spec.id), expected);
        assert.equal(await keys.get(newKeyId()), undefined);
        await assert.rejects(keys.create(newKey({ id: spec.id })), 'a second key with the same id is refused');
        assert.deepEqual(await keys.get(spec.id), expected, 'the refused duplicate changed nothing');

        const { createdAt: _ignored, ...withoutTime } = newKey();
        const before = Date.now();
        const stamped = await keys.create(withoutTime);
        assert.ok(stamped.createdAt >= before && stamped.createdAt <= Date.now(), 'createdAt defaults to now');
      });
    });

    test('list returns every key, revoked ones included, oldest first', async () => {
      await withStore(async ({ keys }) => {
        assert.deepEqual(await keys.list(), []);
        const a = await keys.create(newKey());
        const b = await keys.create(newKey());
        const c = await keys.create(newKey());
        await keys.revoke(b.id, Date.now());
        const listed = await keys.list();
        assert.deepEqual(listed.map((k) => k.id), [a.id, b.id, c.id]);
        assert.notEqual(listed[1]!.revokedAt, null);
      });
    });

    test('revoke sets revokedAt once, moves the change counter once, and ignores unknown ids', async () => {
      await withStore(async ({ keys }) => {
        const k = await keys.create(newKey());
        const at = Date.now();
        const revoked = await keys.revoke(k.id, at);
        assert.equal(revoked?.revokedAt, at);
        assert.ok(revoked.rev > k.rev);
        const rev = await keys.currentRev();
        const again = await keys.revoke(k.id, at + 5000);
        assert.equal(again?.revokedAt, at, 'a second revocation keeps the first time');
        assert.equal(again.rev, revoked.rev);
        assert.equal(await keys.currentRev(), rev, 'a no-op revocation is not a change');
        assert.deepEqual(await keys.get(k.id), revoked);
        assert.equal(await keys.revoke(newKeyId(), at), undefined);
      });
    });

    test('rotate with overlap: the replacement is linked to the old key, whose life is limited but never extended', async () => {
      await withStore(async ({ keys }) => {
        const old = await keys.create(newKey({ user: 'bob', role: 'viewer', limits: { rpm: 5, tpm: null, budgetUsd: null } }));
        const overlapEnd = Date.now() + 24 * 3_600_000;
        const { old: after, replacement } = await keys.rotate(old.id, newKey({ user: 'bob', role: 'viewer', rotatedFrom: old.id }), overlapEnd);
        assert.equal(after.expiresAt, overlapEnd);
        assert.equal(after.revokedAt, null, 'the old key keeps working during the overlap');
        assert.ok(after.rev > old.rev, 'an expiry change is a security change');
        assert.equal(replacement.rotatedFrom, old.id);
        assert.equal(replacement.role, 'viewer');
        assert.deepEqual(await keys.get(replacement.id), replacement);
        assert.deepEqual(await keys.get(old.id), after);

        // An old key that already expires sooner keeps its earlier expiry.
        const soon = Date.now() + 60_000;
        const short = await keys.create(newKey({ expiresAt: soon }));
        const r = await keys.rotate(short.id, newKey({ rotatedFrom: short.id }), Date.now() + 24 * 3_600_000);
        assert.equal(r.old.expiresAt, soon);
        assert.equal(r.old.revokedAt, null);
      });
    });

    test('rotate without overlap revokes the old key at once', async () => {
      await withStore(async ({ keys }) => {
        const old = await keys.create(newKey());
        const before = Date.now();
        const { old: after, replacement } = await keys.rotate(old.id, newKey({ rotatedFrom: old.id }), before);
        assert.ok(after.revokedAt !== null && after.revokedAt >= before && after.revokedAt <= Date.now());
        assert.ok(after.rev > old.rev);
        assert.equal(replacement.revokedAt, null);
        assert.equal(replacement.rotatedFrom, old.id);
      });
    });

    test('rotate is all or nothing: unknown, revoked or clashing keys change nothing', async () => {
      await withStore(async ({ keys }) => {
        const existing = await keys.create(newKey());
        const revoked = await keys.create(newKey());
        await keys.revoke(revoked.id, Date.now());
        const snapshot = await keys.list();
        const rev = await keys.currentRev();

        await assert.rejects(keys.rotate(newKeyId(), newKey(), Date.now() + 60_000));
        await assert.rejects(keys.rotate(revoked.id, newKey({ rotatedFrom: revoked.id }), Date.now() + 60_000));
        // The replacement cannot be created (its id is taken): the old key's expiry must not change either.
        await assert.rejects(keys.rotate(existing.id, newKey({ id: revoked.id, rotatedFrom: existing.id }), Date.now() + 60_000));
        await assert.rejects(keys.rotate(existing.id, newKey({ id: revoked.id, rotatedFrom: existing.id }), Date.now() - 1));

        assert.deepEqual(await keys.list(), snapshot);
        assert.equal(await keys.currentRev(), rev);
        assert.deepEqual((await keys.changesSince(rev)).records, []);
      });
    });

    test('touch records last use in a batch, never moves it back, and is not a security change', async () => {
      await withStore(async ({ keys }) => {
        const a = await keys.create(newKey());
        const b = await keys.create(newKey());
        const c = await keys.create(newKey());
        const rev = await keys.currentRev();
        const t = Date.now();
        await keys.touch(new Map());
        await keys.touch(new Map([[a.id, t], [b.id, t + 10], [newKeyId(), t]]));
        assert.equal((await keys.get(a.id))?.lastUsedAt, t);
        assert.equal((await keys.get(b.id))?.lastUsedAt, t + 10);
        assert.equal((await keys.get(c.id))?.lastUsedAt, null);
        // Two replicas flush in any order: an older time never overwrites a newer one.
        await keys.touch(new Map([[a.id, t - 5000], [b.id, t + 20]]));
        assert.equal((await keys.get(a.id))?.lastUsedAt, t);
        assert.equal((await keys.get(b.id))?.lastUsedAt, t + 20);
        assert.equal(await keys.currentRev(), rev);
        assert.deepEqual(await keys.changesSince(rev), { records: [], rev });
        assert.equal((await keys.get(a.id))?.rev, a.rev);
      });
    });

    test('createIfEmpty creates only into an empty store, exactly once even when raced', async () => {
      await withStore(async ({ keys }) => {
        const attempts = await Promise.all(Array.from({ length: 5 }, () => keys.createIfEmpty(newKey({ role: 'admin', name: 'bootstrap-admin' }))));
        const created = attempts.filter((r) => r !== undefined);
        assert.equal(created.length, 1, 'exactly one bootstrap key');
        assert.deepEqual(await keys.list(), created);
        assert.equal(await keys.createIfEmpty(newKey()), undefined);
        assert.equal((await keys.list()).length, 1);
      });
      await withStore(async ({ keys }) => {
        await keys.create(newKey());
        const rev = await keys.currentRev();
        assert.equal(await keys.createIfEmpty(newKey({ role: 'admin' })), undefined, 'a store with any key is not empty');
        assert.equal(await keys.currentRev(), rev);
        // Revoked keys still count: revoking every key must not let a new bootstrap admin in.
        const [only] = await keys.list();
        await keys.revoke(only!.id, Date.now());
        assert.equal(await keys.createIfEmpty(newKey({ role: 'admin' })), undefined);
      });
    });

    test('currentRev and changesSince report creations, revocations and rotations, each key once in its latest state', async () => {
      await withStore(async ({ keys }) => {
        const start = await keys.currentRev();
        assert.deepEqual(await keys.changesSince(start), { records: [], rev: start });
        const a = await keys.create(newKey());
        const b = await keys.create(newKey());
        const mid = await keys.currentRev();
        assert.ok(mid > start);
        const first = await keys.changesSince(start);
        assert.deepEqual(first.records.map((r) => r.id), [a.id, b.id]);
        assert.equal(first.rev, mid);

        // The revocation watcher's view: what changed since it last looked.
        const revokedAt = Date.now();
        await keys.revoke(a.id, revokedAt);
        const rotated = await keys.rotate(b.id, newKey({ rotatedFrom: b.id }), Date.now() + 60_000);
        const changes = await keys.changesSince(mid);
        assert.equal(changes.rev, await keys.currentRev());
        assert.ok(changes.rev > mid);
        const byId = new Map(changes.records.map((r) => [r.id, r]));
        assert.equal(byId.size, changes.records.length, 'each key appears once');
        assert.deepEqual([...byId.keys()].sort(), [a.id, b.id, rotated.replacement.id].sort());
        assert.equal(byId.get(a.id)?.revokedAt, revokedAt);
        assert.equal(byId.get(b.id)?.expiresAt, rotated.old.expiresAt);
        const revs = changes.records.map((r) => r.rev);
        assert.deepEqual(revs, [...revs].sort((x, y) => x - y), 'records come in change order');
        assert.ok(revs.every((r) => r > mid && r <= changes.rev));

        // Polling from the returned counter sees only what happens next.
        assert.deepEqual(await keys.changesSince(changes.rev), { records: [], rev: changes.rev });
        await keys.revoke(rotated.replacement.id, Date.now());
        const next = await keys.changesSince(changes.rev);
        assert.deepEqual(next.records.map((r) => r.id), [rotated.replacement.id]);
        assert.notEqual(next.records[0]!.revokedAt, null);
        // A watcher that has seen everything gets a snapshot in one call from the start.
        const all = await keys.changesSince(start);
        assert.equal(all.records.length, 3);
        assert.equal(all.rev, await keys.currentRev());
      });
    });

    test('audit: append and query newest first with filters; every field round-trips', async () => {
      await withStore(async ({ audit }) => {
        await audit.append([]);
        assert.deepEqual(await audit.query({}), []);
        const base = Date.UTC(2025, 5, 1);
        const events = [
          event(base, { keyId: 'k1', user: 'alice' }),
          event(base + 1000, { result: 'failure', reason: 'bad_secret', keyId: 'k1', instance: null, clientAddress: '2001:db8::1' }),
          event(base + 2000, { result: 'denied', reason: 'model_not_in_scope', keyId: 'k2', httpMethod: 'GET', path: '/metrics' }),
          event(base + 3000, { result: 'throttled', reason: 'too_many_failures', event: 'auth', keyId: null }),
          event(base + 4000, { event: 'admin', reason: 'key.revoke', method: 'cli', detail: { target: 'k2', before: { status: 'active' }, after: { status: 'revoked' } } }),
        ];
        await audit.append(events.slice(0, 2));
        await audit.append(events.slice(2));
        assert.deepEqual(await audit.query({}), [...events].reverse());
        assert.deepEqual(await audit.query({ keyId: 'k1' }), [events[1], events[0]]);
        assert.deepEqual(await audit.query({ result: 'failure' }), [events[1]]);
        assert.deepEqual(await audit.query({ since: base + 2000 }), [events[4], events[3], events[2]]);
        assert.deepEqual(await audit.query({ since: base + 1000, keyId: 'k1', result: 'failure' }), [events[1]]);
        assert.deepEqual(await audit.query({ limit: 2 }), [events[4], events[3]]);
        assert.deepEqual(await audit.query({ event: 'admin' }), [events[4]]);
        assert.deepEqual(await audit.query({ keyId: 'nobody' }), []);
      });
    });

    test('audit: query is bounded (100 by default) and prune removes only older events', async () => {
      await withStore(async ({ audit }) => {
        const base = Date.UTC(2025, 5, 1);
        await audit.append(Array.from({ length: 150 }, (_, i) => event(base + i * 1000)));
        const page = await audit.query({});
        assert.equal(page.length, 100);
        assert.equal(page[0]!.time, base + 149_000);
        assert.equal((await audit.query({ limit: 150 })).length, 150);

        assert.equal(await audit.prune(base), 0);
        assert.equal(await audit.prune(base + 50_000), 50);
        assert.equal(await audit.prune(base + 50_000), 0);
        const left = await audit.query({ limit: 1000 });
        assert.equal(left.length, 100);
        assert.equal(Math.min(...left.map((e) => e.time)), base + 50_000);
      });
    });

    test('audit: prune with a limit deletes at most that many, oldest first', async () => {
      await withStore(async ({ audit }) => {
        const base = Date.UTC(2025, 5, 1);
        await audit.append(Array.from({ length: 25 }, (_, i) => event(base + i * 1000)));
        assert.equal(await audit.prune(base + 20_000, 8), 8);
        assert.equal(Math.min(...(await audit.query({ limit: 100 })).map((e) => e.time)), base + 8000);
        assert.equal(await audit.prune(base + 20_000, 8), 8);
        assert.equal(await audit.prune(base + 20_000, 8), 4, 'the last batch is short: the purge loop stops');
        assert.equal(await audit.prune(base + 20_000, 8), 0);
        assert.equal((await audit.query({ limit: 100 })).length, 5);
      });
    });

    test('audit: severity is stored (given or derived), read back and filtered on', async () => {
      await withStore(async ({ audit }) => {
        const base = Date.UTC(2025, 5, 1);
        /** As a caller records it: without a severity unless one is given. */
        const given = (e: AuditEvent, severity?: AuditEvent['severity']): AuditEvent => {
          const { severity: _derived, ...rest } = e;
          return severity === undefined ? rest : { ...rest, severity };
        };
        const raw = [
          given(event(base)),
          given(event(base + 1000, { result: 'failure', reason: 'bad_secret' })),
          given(event(base + 2000, { event: 'lockdown', reason: 'lockdown on', detail: { lockdown: true } })),
          given(event(base + 3000, { event: 'credential', result: 'failure', reason: 'fetch_failed' }), 'warning'),
          given(event(base + 4000, { event: 'config.reload' }), 'critical'),
        ];
        await audit.append(raw);
        const stored = await audit.query({});
        assert.deepEqual(stored.map((e) => e.severity), ['critical', 'warning', 'critical', 'warning', 'info']);
        assert.deepEqual((await audit.query({ severity: 'critical' })).map((e) => e.time), [base + 4000, base + 2000]);
        assert.deepEqual((await audit.search({ severity: 'warning', event: 'auth' })).map((e) => e.reason), ['bad_secret']);
        assert.deepEqual(await audit.query({ severity: 'info' }), [event(base)]);
      });
    });

    test('audit and keys: a user is erased by deletion or under a pseudonym, other users untouched', async () => {
      await withStore(async ({ audit, keys }) => {
        const base = Date.UTC(2025, 5, 1);
        await audit.append([event(base, { user: 'alice' }), event(base + 1, { user: 'bob' }), event(base + 2, { user: 'alice', event: 'admin' })]);
        assert.equal(await audit.eraseUser('alice', 'anon:0123456789abcdef'), 2);
        assert.deepEqual((await audit.query({ user: 'anon:0123456789abcdef' })).map((e) => e.time), [base + 2, base]);
        assert.deepEqual(await audit.query({ user: 'alice' }), []);
        assert.equal(await audit.eraseUser('bob', null), 1);
        assert.equal((await audit.query({})).length, 2);
        assert.equal(await audit.eraseUser('nobody', null), 0);

        const k = await keys.create(newKey({ user: 'alice' }));
        const other = await keys.create(newKey({ user: 'bob' }));
        const rev = await keys.currentRev();
        assert.equal(await keys.eraseUser('alice', 'anon:0123456789abcdef'), 1);
        assert.equal((await keys.get(k.id))!.user, 'anon:0123456789abcdef');
        assert.equal((await keys.get(other.id))!.user, 'bob');
        assert.equal(await keys.currentRev(), rev, 'not a security change');
      });
    });

    test('search: filters by text, status, role, user and instance, newest first, with the total of all matches', async () => {
      await withStore(async ({ keys }) => {
        assert.deepEqual(await keys.search({}), { records: [], total: 0 });
        const now = Date.now();
        const ci = await keys.create(newKey({ name: 'Build-CI', user: 'alice@example.com', role: 'developer', scopes: { instances: ['primary', 'backup'], models: null } }));
        const ops = await keys.create(newKey({ name: 'ops', user: 'bob@example.com', role: 'admin', scopes: { instances: null, models: null } }));
        const old = await keys.create(newKey({ name: 'old-ci', user: 'alice@example.com', role: 'developer', expiresAt: now - 60_000, scopes: { instances: ['backup'], models: null } }));
        const gone = await keys.create(newKey({ name: 'gone', user: null, role: 'viewer', expiresAt: now - 60_000 }));
        const later = await keys.create(newKey({ name: 'later', user: 'carol', role: 'viewer', expiresAt: now + 3_600_000, scopes: { instances: ['primary'], models: null } }));
        await keys.revoke(gone.id, now - 1000);
        const ids = async (q: Parameters<typeof keys.search>[0]) => {
          const { records, total } = await keys.search({ now, ...q });
          return { ids: records.map((r) => r.id), total };
        };

        // Newest first; without a limit every match; records as get() returns them.
        const all = await keys.search({});
        assert.deepEqual(all.records.map((r) => r.id), [later.id, gone.id, old.id, ops.id, ci.id]);
        assert.equal(all.total, 5);
        assert.deepEqual(all.records[1], await keys.get(gone.id));
        // Text: a case-insensitive substring of the id, the name or the user (ids are letters and digits, never '-').
        assert.deepEqual(await ids({ text: '-ci' }), { ids: [old.id, ci.id], total: 2 });
        assert.deepEqual(await ids({ text: 'ALICE@' }), { ids: [old.id, ci.id], total: 2 });
        assert.deepEqual(await ids({ text: later.id.slice(2, 9).toLowerCase() }), { ids: [later.id], total: 1 });
        assert.deepEqual(await ids({ text: 'nobody-has-this' }), { ids: [], total: 0 });
        // Status as keyStatus judges it: revoked wins over expired.
        assert.deepEqual(await ids({ status: 'active' }), { ids: [later.id, ops.id, ci.id], total: 3 });
        assert.deepEqual(await ids({ status: 'expired' }), { ids: [old.id], total: 1 });
        assert.deepEqual(await ids({ status: 'revoked' }), { ids: [gone.id], total: 1 });
        assert.deepEqual(await ids({ status: 'active', now: now + 7_200_000 }), { ids: [ops.id, ci.id], total: 2 }, '"later" has expired by then');
        assert.deepEqual(await ids({ role: 'viewer' }), { ids: [later.id, gone.id], total: 2 });
        assert.deepEqual(await ids({ user: 'alice@example.com' }), { ids: [old.id, ci.id], total: 2 });
        assert.deepEqual(await ids({ user: 'alice' }), { ids: [], total: 0 }, 'user is an exact match');
        // Instance: keys whose scopes allow it (every instance, or a list holding it).
        assert.deepEqual(await ids({ instance: 'primary' }), { ids: [later.id, gone.id, ops.id, ci.id], total: 4 });
        assert.deepEqual(await ids({ instance: 'backup' }), { ids: [gone.id, old.id, ops.id, ci.id], total: 4 });
        assert.deepEqual(await ids({ instance: 'prim' }), { ids: [gone.id, ops.id], total: 2 }, 'an instance name is matched whole');
        // Filters combine; paging keeps the total of every match.
        assert.deepEqual(await ids({ user: 'alice@example.com', status: 'active', instance: 'primary' }), { ids: [ci.id], total: 1 });
        assert.deepEqual(await ids({ limit: 2 }), { ids: [later.id, gone.id], total: 5 });
        assert.deepEqual(await ids({ limit: 2, offset: 2 }), { ids: [old.id, ops.id], total: 5 });
        assert.deepEqual(await ids({ limit: 2, offset: 4 }), { ids: [ci.id], total: 5 });
        assert.deepEqual(await ids({ limit: 2, offset: 10 }), { ids: [], total: 5 });
        assert.deepEqual(await ids({ offset: 3 }), { ids: [ops.id, ci.id], total: 5 });
        // Client text is data, never SQL or a pattern.
        assert.deepEqual(await ids({ text: "%' OR 1=1 --" }), { ids: [], total: 0 });
        assert.deepEqual(await ids({ text: '_' }), { ids: [], total: 0 });
        assert.deepEqual(await ids({ instance: "x' OR '1'='1" }), { ids: [gone.id, ops.id], total: 2 });
      });
    });

    if (options.bulkInsertKeys) {
      const bulkInsertKeys = options.bulkInsertKeys;
      test('search over 10,000 keys: every page and filter is exact', async () => {
        await withStore(async (store) => {
          const now = Date.UTC(2026, 0, 1);
          const roles = ['developer', 'viewer', 'admin'];
          const instances: Array<string[] | null> = [null, ['primary'], ['primary', 'backup'], ['backup']];
          const records: KeyRecord[] = Array.from({ length: 10_000 }, (_, i) => ({
            // One case and one length: the same order under any collation.
            id: `bulk${String(i).padStart(5, '0')}`,
            name: `svc-${i}`,
            user: i % 10 === 0 ? null : `user${i % 50}@example.com`,
            role: roles[i % 3]!,
            secretHash: `$argon2id$v=19$m=19456,t=2,p=1$bulk${i}`,
            // Pairs share a creation time, so the id breaks ties.
            createdAt: now - 1_000_000_000 + Math.floor(i / 2) * 1000,
            expiresAt: i % 7 === 0 ? now - 1000 : i % 7 === 1 ? now + 1000 : null,
            revokedAt: i % 11 === 0 ? now - 5000 : null,
            lastUsedAt: null,
            scopes: { instances: instances[i % 4]!, models: null },
            limits: { rpm: null, tpm: null, budgetUsd: null },
            rotatedFrom: null,
            rev: 0,
          }));
          await bulkInsertKeys(store, records);
          const newestFirst = [...records].sort((a, b) => b.createdAt - a.createdAt || (a.id < b.id ? 1 : a.id > b.id ? -1 : 0));
          const matching = (pred: (r: KeyRecord) => boolean) => newestFirst.filter(pred).map((r) => r.id);
          const page = async (q: Parameters<typeof store.keys.search>[0]) => {
            const { records: found, total } = await store.keys.search({ now, ...q });
            return { ids: found.map((r) => r.id), total };
          };

          assert.deepEqual(await page({ limit: 50 }), { ids: matching(() => true).slice(0, 50), total: 10_000 });
          assert.deepEqual(await page({ limit: 500, offset: 4000 }), { ids: matching(() => true).slice(4000, 4500), total: 10_000 });
          assert.deepEqual(await page({ limit: 50, offset: 9990 }), { ids: matching(() => true).slice(9990), total: 10_000 });
          const everything = await store.keys.search({});
          assert.equal(everything.records.length, 10_000);
          assert.deepEqual(everything.records, newestFirst, 'every field of every key, in order');

          const revokedAdmins = (r: KeyRecord) => keyStatus(r, now) === 'revoked' && r.role === 'admin' && (r.scopes.instances === null || r.scopes.instances.includes('primary'));
          assert.deepEqual(await page({ status: 'revoked', role: 'admin', instance: 'primary', limit: 20, offset: 5 }), {
            ids: matching(revokedAdmins).slice(5, 25),
            total: matching(revokedAdmins).length,
          });
          for (const status of ['active', 'expired', 'revoked'] as const) {
            const expected = matching((r) => keyStatus(r, now) === status);
            assert.ok(expected.length > 0);
            assert.deepEqual(await page({ status, limit: 100, offset: 100 }), { ids: expected.slice(100, 200), total: expected.length }, status);
          }
          const svc12 = matching((r) => r.name.includes('svc-12'));
          assert.deepEqual(await page({ text: 'SVC-12' }), { ids: svc12, total: svc12.length });
          const user7 = matching((r) => r.user === 'user7@example.com' && (r.scopes.instances === null || r.scopes.instances.includes('backup')));
          assert.deepEqual(await page({ user: 'user7@example.com', instance: 'backup', limit: 10 }), { ids: user7.slice(0, 10), total: user7.length });
          assert.deepEqual(await page({ text: 'BULK09999' }), { ids: ['bulk09999'], total: 1 });
        });
      });
    }

    test('audit search: more filters, ids, newest first by time, and pages that follow each other', async () => {
      await withStore(async ({ audit }) => {
        assert.deepEqual(await audit.search({}), []);
        const base = Date.UTC(2025, 5, 1);
        const events = [
          event(base, { keyId: 'k1', user: 'alice', instance: 'primary', requestId: 'req-Alpha' }),
          event(base + 1000, { result: 'failure', reason: 'bad_secret', keyId: 'k1', instance: null }),
          event(base + 2000, { result: 'denied', reason: 'model_not_in_scope', keyId: 'k2', user: 'bob', instance: 'backup', path: '/v1/Embeddings' }),
          event(base + 2000, { user: 'alice', instance: 'backup' }),
          event(base + 4000, { event: 'admin', reason: 'key.revoke', method: 'cli', user: 'alice', detail: { target: 'k2', before: { status: 'active' }, after: { status: 'revoked' } } }),
        ];
        await audit.append(events);
        // Written late (a journal replay), yet older: its place follows its time.
        const late = event(base + 500, { requestId: 'req-late', user: 'carol' });
        await audit.append([late]);

        const found = await audit.search({});
        assert.equal(new Set(found.map((e) => e.id)).size, 6, 'every event has its own id');
        assert.ok(found.every((e) => Number.isSafeInteger(e.id)));
        const strip = (list: StoredAuditEvent[]) => list.map(({ id: _id, ...e }) => e);
        // Same time: the one stored later first.
        assert.deepEqual(strip(found), [events[4], events[3], events[2], events[1], late, events[0]]);
        assert.deepEqual(await audit.query({}), strip(found), 'query is search without the ids');
        for (const e of found) assert.deepEqual(await audit.get(e.id), e);
        assert.equal(await audit.get(Math.max(...found.map((e) => e.id)) + 1), undefined);

        const q = async (query: Parameters<typeof audit.search>[0]) => strip(await audit.search(query));
        assert.deepEqual(await q({ until: base + 2000 }), [events[1], late, events[0]], 'until is exclusive');
        assert.deepEqual(await q({ since: base + 1000, until: base + 2001 }), [events[3], events[2], events[1]]);
        assert.deepEqual(await q({ user: 'alice' }), [events[4], events[3], events[0]]);
        assert.deepEqual(await q({ instance: 'backup' }), [events[3], events[2]]);
        assert.deepEqual(await q({ user: 'alice', instance: 'backup', result: 'success' }), [events[3]]);
        // Text: a case-insensitive substring of the path, the reason or the request id.
        assert.deepEqual(await q({ text: 'embeddings' }), [events[2]]);
        assert.deepEqual(await q({ text: 'BAD_SEC' }), [events[1]]);
        assert.deepEqual(await q({ text: 'req-alpha' }), [events[0]]);
        assert.deepEqual(await q({ text: 'KEY.' }), [events[4]]);
        assert.deepEqual(await q({ text: "%' OR 1=1 --" }), []);

        // Pages of two, each starting after the last event of the one before: all six once, in order.
        const seen: StoredAuditEvent[] = [];
        let after: StoredAuditEvent | undefined;
        for (let i = 0; i < 4; i++) {
          const page = await audit.search({ limit: 2, ...(after ? { after: { time: after.time, id: after.id } } : {}) });
          seen.push(...page);
          after = page.at(-1);
          if (page.length < 2) break;
        }
        assert.deepEqual(seen, found);
        // A cursor combines with filters, across the two events of the same time.
        const first = await audit.search({ instance: 'backup', limit: 1 });
        assert.deepEqual(strip(first), [events[3]]);
        assert.deepEqual(await q({ instance: 'backup', limit: 1, after: { time: first[0]!.time, id: first[0]!.id } }), [events[2]]);
      });
    });

    test('ping answers while the store is open and fails once it is closed; close is idempotent', async () => {
      const store = await open();
      await store.ping();
      await store.close();
      await assert.rejects(store.ping(), '/ready relies on ping failing for an unusable store');
      await store.close();
    });

    if (options.reopen) {
      const reopen = options.reopen;
      test('keys, revocations, last use, the change counter and audit events survive a restart', async () => {
        await withStore(async (store) => {
          const a = await store.keys.create(newKey({ user: 'carol', scopes: { instances: ['x'], models: null } }));
          const b = await store.keys.create(newKey());
          await store.keys.revoke(b.id, Date.now());
          const t = Date.now();
          await store.keys.touch(new Map([[a.id, t]]));
          const rev = await store.keys.currentRev();
          const events = [event(t, { keyId: a.id })];
          await store.audit.append(events);
          const list = await store.keys.list();

          const again = await reopen(store);
          assert.deepEqual(await again.keys.list(), list);
          assert.equal((await again.keys.get(a.id))?.lastUsedAt, t);
          assert.equal(await again.keys.currentRev(), rev);
          assert.deepEqual(await again.audit.query({}), events);
          // The counter keeps moving forward after a restart, so watchers never miss a change.
          const c = await again.keys.create(newKey());
          assert.ok(c.rev > rev);
          assert.equal(await again.keys.createIfEmpty(newKey()), undefined);
          return again;
        });
      });
    }
  });
}
