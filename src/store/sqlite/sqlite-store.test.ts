import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import Database from 'better-sqlite3';
import { keyStoreContract } from '../../../test/contracts/key-store.js';
import { migrate, openSqliteStore, type SqliteStore } from './index.js';
import { MIGRATIONS } from './migrations.js';

const root = mkdtempSync(join(tmpdir(), 'llmproxy-sqlite-store-'));
after(() => rmSync(root, { recursive: true, force: true }));

let n = 0;
const freshPath = () => join(root, `store-${++n}`, 'llmproxy.db');
/** Each store remembers its file so the contract's restart test can reopen it. */
const paths = new WeakMap<object, string>();

function openAt(path: string): SqliteStore {
  const store = openSqliteStore(path);
  paths.set(store, path);
  return store;
}

keyStoreContract('sqlite (file)', async () => openAt(freshPath()), {
  async reopen(store) {
    const path = paths.get(store);
    assert.ok(path, 'not a store this test opened');
    await store.close();
    return openAt(path);
  },
  async bulkInsertKeys(store, records) {
    const path = paths.get(store);
    assert.ok(path, 'not a store this test opened');
    // A second connection to the same file, as another process would write it.
    const db = new Database(path);
    try {
      const insert = db.prepare(
        `INSERT INTO api_keys (id, name, user_id, role, secret_hash, created_at, expires_at, revoked_at, last_used_at, scopes, limits, rotated_from, rev)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      );
      db.transaction(() => {
        for (const r of records) {
          insert.run(r.id, r.name, r.user, r.role, r.secretHash, r.createdAt, r.expiresAt, r.revokedAt, r.lastUsedAt, JSON.stringify(r.scopes), JSON.stringify(r.limits), r.rotatedFrom, r.rev);
        }
      })();
    } finally {
      db.close();
    }
  },
});

keyStoreContract('sqlite (:memory:)', async () => openSqliteStore(':memory:'));

function userVersion(path: string): number {
  const db = new Database(path, { readonly: true });
  try {
    return db.pragma('user_version', { simple: true }) as number;
  } finally {
    db.close();
  }
}

function tables(path: string): string[] {
  const db = new Database(path, { readonly: true });
  try {
    return (db.prepare(`SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name`).all() as Array<{ name: string }>).map((r) => r.name);
  } finally {
    db.close();
  }
}

describe('SQLite store: schema migrations', () => {
  test('a new file (in a folder that does not exist yet) is created at the latest schema version', async () => {
    const path = join(root, 'nested', 'deeper', 'llmproxy.db');
    const store = openSqliteStore(path);
    await store.ping();
    await store.close();
    assert.ok(existsSync(path));
    assert.ok(MIGRATIONS.length >= 1);
    assert.equal(userVersion(path), MIGRATIONS.length);
    // Every migration's tables exist (later migrations add more; each owner checks its own).
    const created = tables(path);
    for (const name of ['api_keys', 'audit_log', 'counters', 'users', 'totp_enrolments', 'totp_backup_codes', 'sessions']) assert.ok(created.includes(name), name);
  });

  test('reopening runs no migration twice and keeps the data; migrate() on an up-to-date database is a no-op', async () => {
    const path = freshPath();
    const first = openSqliteStore(path);
    await first.keys.create({
      id: 'AAAAAAAAAAAA',
      name: 'survivor',
      user: null,
      role: 'developer',
      secretHash: 'h',
      expiresAt: null,
      scopes: { instances: null, models: null },
      limits: { rpm: null, tpm: null, budgetUsd: null },
      rotatedFrom: null,
    });
    const rev = await first.keys.currentRev();
    await first.close();
    for (let i = 0; i < 3; i++) {
      // A migration applied twice would fail here (CREATE TABLE of an existing table) or reset the counter.
      const again = openSqliteStore(path);
      assert.equal((await again.keys.get('AAAAAAAAAAAA'))?.name, 'survivor');
      assert.equal(await again.keys.currentRev(), rev);
      await again.close();
      assert.equal(userVersion(path), MIGRATIONS.length);
    }
    const db = new Database(path);
    try {
      migrate(db);
      migrate(db);
      assert.equal(db.pragma('user_version', { simple: true }), MIGRATIONS.length);
      assert.equal((db.prepare(`SELECT COUNT(*) AS n FROM counters WHERE name = 'api_keys_rev'`).get() as { n: number }).n, 1);
    } finally {
      db.close();
    }
  });

  test('a database from a newer llmproxy is refused, untouched', () => {
    const path = freshPath();
    void openSqliteStore(path).close();
    const db = new Database(path);
    db.pragma(`user_version = ${MIGRATIONS.length + 1}`);
    db.close();
    assert.throws(() => openSqliteStore(path), /newer than this llmproxy/);
    assert.equal(userVersion(path), MIGRATIONS.length + 1);
  });

  test('a failed migration leaves the database at its previous version', () => {
    const path = join(root, `partial-${++n}.db`);
    const db = new Database(path);
    try {
      // An object the first migration wants to create already exists: the migration must roll back whole.
      db.exec('CREATE TABLE counters (name TEXT)');
      assert.throws(() => migrate(db));
      assert.equal(db.pragma('user_version', { simple: true }), 0);
      const names = (db.prepare(`SELECT name FROM sqlite_master WHERE type = 'table'`).all() as Array<{ name: string }>).map((r) => r.name);
      assert.deepEqual(names, ['counters'], 'nothing of the failed migration was kept');
    } finally {
      db.close();
    }
  });
});
