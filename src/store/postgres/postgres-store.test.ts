import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import pg from 'pg';
import { keyStoreContract } from '../../../test/contracts/key-store.js';
import { freshDatabase, requireService } from '../../../test/helpers/services.js';
import { newKeyId } from '../../clientauth/api-key/format.js';
import type { AuditEvent, NewKey } from '../types.js';
import { openPostgresStore, type PostgresStore } from './index.js';
import { PG_MIGRATIONS, migratePostgres } from './migrations.js';

const postgres = await requireService('postgres');

/** Every database this file created, dropped at the end. */
const databases: Array<{ drop(): Promise<void> }> = [];
after(async () => {
  await Promise.all(databases.map((d) => d.drop()));
});

/** A new empty database; the store and its URL. */
async function freshStore(): Promise<{ store: PostgresStore; url: string }> {
  const db = await freshDatabase();
  databases.push(db);
  return { store: await openPostgresStore(db.url, { poolSize: 4 }), url: db.url };
}

async function freshUrl(): Promise<string> {
  const db = await freshDatabase();
  databases.push(db);
  return db.url;
}

/** Runs one query on `url` outside any store. */
async function sql<R extends Record<string, unknown>>(url: string, text: string, params: unknown[] = []): Promise<R[]> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return (await client.query<R>(text, params)).rows;
  } finally {
    await client.end();
  }
}

function newKey(overrides: Partial<NewKey> = {}): NewKey {
  const id = newKeyId();
  return {
    id,
    name: `key-${id}`,
    user: null,
    role: 'developer',
    secretHash: `$argon2id$v=19$m=19456,t=2,p=1$${id}`,
    expiresAt: null,
    scopes: { instances: null, models: null },
    limits: { rpm: null, tpm: null, budgetUsd: null },
    rotatedFrom: null,
    ...overrides,
  };
}

if (postgres.skip === false) {
  const urls = new WeakMap<object, string>();
  keyStoreContract(
    'postgres',
    async () => {
      const { store, url } = await freshStore();
      urls.set(store, url);
      return store;
    },
    {
      async reopen(store) {
        const url = urls.get(store);
        assert.ok(url, 'not a store this test opened');
        await store.close();
        const again = await openPostgresStore(url);
        urls.set(again, url);
        return again;
      },
      async bulkInsertKeys(store, records) {
        const url = urls.get(store);
        assert.ok(url, 'not a store this test opened');
        const rows = records.map((r) => ({
          id: r.id,
          name: r.name,
          user_id: r.user,
          role: r.role,
          secret_hash: r.secretHash,
          created_at: r.createdAt,
          expires_at: r.expiresAt,
          revoked_at: r.revokedAt,
          last_used_at: r.lastUsedAt,
          scopes: r.scopes,
          limits: r.limits,
          rotated_from: r.rotatedFrom,
          rev: r.rev,
        }));
        // One statement, so one transaction: every row from a JSON array.
        await sql(url, 'INSERT INTO api_keys SELECT * FROM json_populate_recordset(NULL::api_keys, $1::json)', [JSON.stringify(rows)]);
      },
    },
  );
}

describe('PostgreSQL store: migrations', { skip: postgres.skip }, () => {
  test('a new database is migrated to the latest version, each version recorded once', async () => {
    const { store, url } = await freshStore();
    await store.close();
    const versions = await sql<{ version: number }>(url, 'SELECT version FROM schema_migrations ORDER BY version');
    assert.deepEqual(versions.map((r) => r.version), PG_MIGRATIONS.map((_, i) => i + 1));
    const tables = await sql<{ table_name: string }>(url, `SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' ORDER BY table_name`);
    for (const t of ['api_keys', 'audit_log', 'counters', 'schema_migrations']) assert.ok(tables.some((r) => r.table_name === t), `table ${t}`);
  });

  test('replicas starting at once (four stores opened concurrently) apply each migration exactly once', async () => {
    const url = await freshUrl();
    const stores = await Promise.all(Array.from({ length: 4 }, () => openPostgresStore(url, { poolSize: 2 })));
    try {
      const versions = await sql<{ version: number }>(url, 'SELECT version FROM schema_migrations ORDER BY version');
      assert.deepEqual(versions.map((r) => r.version), PG_MIGRATIONS.map((_, i) => i + 1));
      const counters = await sql<{ n: string }>(url, `SELECT COUNT(*) AS n FROM counters WHERE name = 'api_keys_rev'`);
      assert.equal(Number(counters[0]!.n), 1, 'the seed row of migration 1 was inserted once');
      // Every replica works on the same schema.
      const k = await stores[0]!.keys.create(newKey());
      for (const s of stores) assert.equal((await s.keys.get(k.id))?.id, k.id);
    } finally {
      await Promise.all(stores.map((s) => s.close()));
    }
  });

  test('reopening runs no migration twice and keeps the data', async () => {
    const { store, url } = await freshStore();
    const k = await store.keys.create(newKey({ name: 'survivor' }));
    const rev = await store.keys.currentRev();
    await store.close();
    for (let i = 0; i < 2; i++) {
      const again = await openPostgresStore(url);
      assert.equal((await again.keys.get(k.id))?.name, 'survivor');
      assert.equal(await again.keys.currentRev(), rev);
      await again.close();
    }
    const versions = await sql<{ n: string }>(url, 'SELECT COUNT(*) AS n FROM schema_migrations');
    assert.equal(Number(versions[0]!.n), PG_MIGRATIONS.length);
  });

  test('a database from a newer llmproxy is refused, untouched', async () => {
    const { store, url } = await freshStore();
    await store.close();
    await sql(url, 'INSERT INTO schema_migrations (version, applied_at) VALUES ($1, 0)', [PG_MIGRATIONS.length + 1]);
    await assert.rejects(openPostgresStore(url), /newer than this llmproxy/);
    const max = await sql<{ v: number }>(url, 'SELECT MAX(version) AS v FROM schema_migrations');
    assert.equal(max[0]!.v, PG_MIGRATIONS.length + 1);
  });

  test('a failed migration rolls back whole and leaves the previous version', async () => {
    const url = await freshUrl();
    const pool = new pg.Pool({ connectionString: url, max: 1 });
    try {
      const client = await pool.connect();
      try {
        await assert.rejects(migratePostgres(client, ['CREATE TABLE a (x INT)', 'CREATE TABLE b (x INT); SELECT no_such_function()']));
        const versions = await client.query<{ version: number }>('SELECT version FROM schema_migrations ORDER BY version');
        assert.deepEqual(versions.rows.map((r) => r.version), [1]);
        const b = await client.query(`SELECT 1 FROM information_schema.tables WHERE table_name = 'b'`);
        assert.equal(b.rowCount, 0, 'nothing of the failed migration was kept');
        // The lock was released: a later run (fixed migration) proceeds.
        await migratePostgres(client, ['CREATE TABLE a (x INT)', 'CREATE TABLE b (x INT)']);
        const after = await client.query<{ version: number }>('SELECT version FROM schema_migrations ORDER BY version');
        assert.deepEqual(after.rows.map((r) => r.version), [1, 2]);
      } finally {
        client.release();
      }
    } finally {
      await pool.end();
    }
  });
});

describe('PostgreSQL store: several replicas on one database', { skip: postgres.skip }, () => {
  test('two replicas bootstrapping at once create exactly one key', async () => {
    const url = await freshUrl();
    const [a, b] = await Promise.all([openPostgresStore(url, { poolSize: 4 }), openPostgresStore(url, { poolSize: 4 })]);
    try {
      // Several attempts from each replica, interleaved, on separate pools (separate connections).
      const attempts = await Promise.all(
        Array.from({ length: 8 }, (_, i) => (i % 2 === 0 ? a : b).keys.createIfEmpty(newKey({ role: 'admin', name: `bootstrap-${i}` }))),
      );
      const created = attempts.filter((r) => r !== undefined);
      assert.equal(created.length, 1, 'exactly one bootstrap key');
      assert.deepEqual(await a.keys.list(), created);
      assert.deepEqual(await b.keys.list(), created);
    } finally {
      await Promise.all([a.close(), b.close()]);
    }
  });

  test('a revocation by one replica reaches the other through changesSince; revisions never go back', async () => {
    const url = await freshUrl();
    const [a, b] = await Promise.all([openPostgresStore(url), openPostgresStore(url)]);
    try {
      const keys = await Promise.all(Array.from({ length: 6 }, () => a.keys.create(newKey())));
      const seen = await b.keys.changesSince(0);
      assert.deepEqual(seen.records.map((r) => r.id).sort(), keys.map((k) => k.id).sort());
      // Concurrent changes from both replicas: each gets its own revision.
      await Promise.all(keys.map((k, i) => (i % 2 === 0 ? a : b).keys.revoke(k.id, Date.now())));
      const changes = await b.keys.changesSince(seen.rev);
      assert.equal(changes.records.length, keys.length);
      assert.ok(changes.records.every((r) => r.revokedAt !== null));
      const revs = changes.records.map((r) => r.rev);
      assert.equal(new Set(revs).size, revs.length, 'distinct revisions');
      assert.equal(changes.rev, await a.keys.currentRev());
    } finally {
      await Promise.all([a.close(), b.close()]);
    }
  });
});

describe('PostgreSQL store: audit log', { skip: postgres.skip }, () => {
  test('a large batch (beyond one statement\'s parameter limit) is appended whole, in order', async () => {
    const { store } = await freshStore();
    try {
      const base = Date.UTC(2025, 5, 1);
      const events: AuditEvent[] = Array.from({ length: 2500 }, (_, i) => ({
        time: base + i,
        requestId: `req-${i}`,
        event: 'auth',
        result: i % 2 === 0 ? 'success' : 'failure',
        reason: i % 2 === 0 ? null : 'bad_secret',
        method: 'api_key',
        keyId: `k${i % 3}`,
        user: null,
        clientAddress: '127.0.0.1',
        httpMethod: 'POST',
        path: '/v1/chat/completions',
        instance: null,
      }));
      await store.audit.append(events);
      // `detail` (admin changes) comes back as null for events without one, as in SQLite.
      const all = (await store.audit.query({ limit: 5000 })).map(({ detail, ...e }) => (detail == null ? e : { ...e, detail }));
      assert.equal(all.length, 2500);
      // Severity is derived when not given: a failed authentication is a warning.
      assert.deepEqual(all[0], { ...events[2499], severity: 'warning' });
      assert.deepEqual(all[2499], { ...events[0], severity: 'info' });
      assert.equal((await store.audit.query({ limit: 5000, result: 'failure', keyId: 'k1' })).length, events.filter((e) => e.result === 'failure' && e.keyId === 'k1').length);
      assert.equal(await store.audit.prune(base + 1000), 1000);
    } finally {
      await store.close();
    }
  });

  test('a batch that fails part-way appends nothing', async () => {
    const { store } = await freshStore();
    try {
      const good: AuditEvent = { time: 1, requestId: 'r', event: 'auth', result: 'success', reason: null, method: 'api_key', keyId: null, user: null, clientAddress: '::1', httpMethod: 'GET', path: '/', instance: null };
      const bad = { ...good, path: null as unknown as string };
      await assert.rejects(store.audit.append([...Array.from({ length: 1200 }, () => good), bad]));
      assert.deepEqual(await store.audit.query({}), []);
    } finally {
      await store.close();
    }
  });
});

describe('PostgreSQL store: audit detail and event filter (migration 4)', { skip: postgres.skip }, () => {
  test('admin-change detail round-trips as JSON and events filter by kind', async () => {
    const { store } = await freshStore();
    try {
      const base: AuditEvent = { time: 1, requestId: 'r1', event: 'auth', result: 'success', reason: null, method: 'api_key', keyId: 'k', user: null, clientAddress: '::1', httpMethod: 'GET', path: '/', instance: null };
      const admin: AuditEvent = { ...base, time: 2, requestId: 'r2', event: 'admin', httpMethod: 'POST', path: '/admin/v1/keys/k/revoke', detail: { action: 'key.revoke', target: 'k', before: { revokedAt: null }, after: { revokedAt: 5, scopes: ['a', 'b'] } } };
      await store.audit.append([base, admin]);
      assert.deepEqual(await store.audit.query({ event: 'admin' }), [{ ...admin, severity: 'info' }]);
      assert.deepEqual(await store.audit.query({ event: 'auth' }), [{ ...base, detail: null, severity: 'info' }]);
    } finally {
      await store.close();
    }
  });
});

describe('PostgreSQL store: the connection URL is a secret', { skip: postgres.skip }, () => {
  test('a connection failure names no password and no URL', async () => {
    const password = 'correct-horse-battery-staple-9f3k';
    // Port 1 on loopback: nothing listens, the connection is refused at once.
    const url = `postgres://llmproxy:${password}@127.0.0.1:1/llmproxy`;
    const err = await openPostgresStore(url, { connectTimeoutMs: 2000 }).then(
      () => assert.fail('opened a store on a closed port'),
      (e: unknown) => e as Error & { code?: string },
    );
    assert.match(err.message, /cannot open the PostgreSQL store/);
    assert.equal(err.code, 'ECONNREFUSED');
    assert.ok(!err.message.includes(password) && !(err.stack ?? '').includes(password), 'no password');
    assert.ok(!err.message.includes(url), 'no URL');
    assert.ok(!JSON.stringify({ ...err }).includes(password), 'no password in the error\'s fields');
  });

  test('a wrong password is refused without echoing it', async () => {
    // Trust auth accepts any password, so ask for a role that does not exist instead.
    const password = 'another-secret-value-7c1d2e';
    const url = new URL(postgres.url);
    url.username = 'no_such_role_llmproxy';
    url.password = password;
    const err = await openPostgresStore(url.toString(), { connectTimeoutMs: 2000 }).then(
      () => assert.fail('opened a store as an unknown role'),
      (e: unknown) => e as Error,
    );
    assert.ok(!err.message.includes(password) && !(err.stack ?? '').includes(password));
  });

  test('ping fails once the store is closed; close is idempotent', async () => {
    const { store } = await freshStore();
    await store.ping();
    await store.close();
    await assert.rejects(store.ping(), /closed/);
    await store.close();
  });
});
