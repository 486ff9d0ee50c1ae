import { closeSync, mkdirSync, openSync } from 'node:fs';
import { dirname } from 'node:path';
import Database from 'better-sqlite3';
import type { GovernanceStores } from '../governance-types.js';
import type { IdentityStores } from '../identity-types.js';
import type { AuditDetail, AuditEvent, AuditLog, AuditQuery, KeyQuery, KeyRecord, KeyStore, NewKey, Store, StoredAuditEvent } from '../types.js';
import { sqliteGovernanceStores } from './governance.js';
import { sqliteIdentityStores } from './identity.js';
import { MIGRATIONS } from './migrations.js';
import { SqliteResponseRows } from './responses.js';
import { RowResponseStore } from '../responses.js';
import type { ResponseStore } from '../response-types.js';
import { auditSeverity } from '../audit-severity.js';
import { auditEventFromRow } from '../rows.js';
import { auditConditions, keyConditions, whereClause, type SqlDialect } from '../search-sql.js';

type Row = Record<string, unknown>;

/** SQLite's side of the search conditions (store/search-sql.ts), collecting positional parameters into `args`. */
function sqliteDialect(args: unknown[]): SqlDialect {
  return {
    param(value) {
      args.push(value);
      return '?';
    },
    // lower() folds ASCII letters only (SQLite without ICU); the same on both sides, so it stays consistent.
    contains: (column, p) => `instr(lower(${column}), lower(${p})) > 0`,
    scopesAllow: (p) => `(json_extract(scopes, '$.instances') IS NULL OR EXISTS (SELECT 1 FROM json_each(scopes, '$.instances') WHERE value = ${p}))`,
  };
}

/** Opens (creating if needed) the SQLite database at `path` and brings its schema up to date. */
export function openSqliteStore(path: string): SqliteStore {
  if (path !== ':memory:') {
    mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
    // A new file is created for the owner only (SQLite would use the umask, often 0644); its -wal and -shm files take the same mode.
    closeSync(openSync(path, 'a', 0o600));
  }
  const db = new Database(path);
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = NORMAL');
  db.pragma('busy_timeout = 5000');
  db.pragma('foreign_keys = ON');
  // SQLite's own default page cache (2 MiB) instead of better-sqlite3's build default (16 MiB):
  // the gateway appends rows and reads little back, and the larger cache only became resident
  // memory as the usage and audit tables grew (the month's spend is summed at start).
  db.pragma('cache_size = -2000');
  migrate(db);
  return new SqliteStore(db);
}

export function migrate(db: Database.Database): void {
  const current = db.pragma('user_version', { simple: true }) as number;
  if (current > MIGRATIONS.length) {
    throw new Error(`the database schema (version ${current}) is newer than this llmproxy (version ${MIGRATIONS.length}); upgrade llmproxy`);
  }
  for (let v = current; v < MIGRATIONS.length; v++) {
    db.transaction(() => {
      db.exec(MIGRATIONS[v]!);
      db.pragma(`user_version = ${v + 1}`);
    }).immediate();
  }
}

export class SqliteStore implements Store {
  readonly keys: SqliteKeyStore;
  readonly audit: SqliteAuditLog;
  readonly identity: IdentityStores;
  readonly governance: GovernanceStores;
  readonly responses: ResponseStore;
  readonly #db: Database.Database;

  constructor(db: Database.Database) {
    this.#db = db;
    this.keys = new SqliteKeyStore(db);
    this.audit = new SqliteAuditLog(db);
    this.identity = sqliteIdentityStores(db);
    this.governance = sqliteGovernanceStores(db);
    this.responses = new RowResponseStore(new SqliteResponseRows(db));
  }

  async ping(): Promise<void> {
    this.#db.prepare('SELECT 1').get();
  }

  async close(): Promise<void> {
    if (this.#db.open) this.#db.close();
  }
}

function toRecord(r: Row): KeyRecord {
  return {
    id: r['id'] as string,
    name: r['name'] as string,
    user: (r['user_id'] as string | null) ?? null,
    role: r['role'] as string,
    secretHash: r['secret_hash'] as string,
    createdAt: r['created_at'] as number,
    expiresAt: (r['expires_at'] as number | null) ?? null,
    revokedAt: (r['revoked_at'] as number | null) ?? null,
    lastUsedAt: (r['last_used_at'] as number | null) ?? null,
    scopes: JSON.parse(r['scopes'] as string) as KeyRecord['scopes'],
    limits: JSON.parse(r['limits'] as string) as KeyRecord['limits'],
    rotatedFrom: (r['rotated_from'] as string | null) ?? null,
    rev: r['rev'] as number,
    // Only imported keys carry one; issued keys' records stay as they were.
    ...(r['lookup'] != null ? { lookup: r['lookup'] as string } : {}),
  };
}

class SqliteKeyStore implements KeyStore {
  readonly #db: Database.Database;
  readonly #get: Database.Statement;
  readonly #insert: Database.Statement;
  readonly #bump: Database.Statement;
  readonly #touch: Database.Statement;

  constructor(db: Database.Database) {
    this.#db = db;
    this.#get = db.prepare('SELECT * FROM api_keys WHERE id = ?');
    this.#insert = db.prepare(
      `INSERT INTO api_keys (id, name, user_id, role, secret_hash, created_at, expires_at, scopes, limits, rotated_from, rev, lookup)
       VALUES (@id, @name, @user, @role, @secretHash, @createdAt, @expiresAt, @scopes, @limits, @rotatedFrom, @rev, @lookup)`,
    );
    this.#bump = db.prepare(`UPDATE counters SET value = value + 1 WHERE name = 'api_keys_rev' RETURNING value`);
    this.#touch = db.prepare('UPDATE api_keys SET last_used_at = MAX(COALESCE(last_used_at, 0), ?) WHERE id = ?');
  }

  #nextRev(): number {
    return (this.#bump.get() as { value: number }).value;
  }

  #insertKey(key: NewKey): KeyRecord {
    this.#insert.run({
      id: key.id,
      name: key.name,
      user: key.user,
      role: key.role,
      secretHash: key.secretHash,
      createdAt: key.createdAt ?? Date.now(),
      expiresAt: key.expiresAt,
      scopes: JSON.stringify(key.scopes),
      limits: JSON.stringify(key.limits),
      rotatedFrom: key.rotatedFrom,
      rev: this.#nextRev(),
      lookup: key.lookup ?? null,
    });
    return toRecord(this.#get.get(key.id) as Row);
  }

  async create(key: NewKey): Promise<KeyRecord> {
    return this.#db.transaction(() => this.#insertKey(key)).immediate();
  }

  async createIfEmpty(key: NewKey): Promise<KeyRecord | undefined> {
    return this.#db
      .transaction(() => {
        const any = this.#db.prepare('SELECT 1 FROM api_keys LIMIT 1').get();
        return any ? undefined : this.#insertKey(key);
      })
      .immediate();
  }

  async get(id: string): Promise<KeyRecord | undefined> {
    const row = this.#get.get(id) as Row | undefined;
    return row ? toRecord(row) : undefined;
  }

  async findByLookup(lookup: string): Promise<KeyRecord | undefined> {
    const row = this.#db.prepare('SELECT * FROM api_keys WHERE lookup = ?').get(lookup) as Row | undefined;
    return row ? toRecord(row) : undefined;
  }

  async list(): Promise<KeyRecord[]> {
    return (this.#db.prepare('SELECT * FROM api_keys ORDER BY created_at, id').all() as Row[]).map(toRecord);
  }

  async search(q: KeyQuery): Promise<{ records: KeyRecord[]; total: number }> {
    const args: unknown[] = [];
    const where = whereClause(keyConditions(q, sqliteDialect(args)));
    const count = this.#db.prepare(`SELECT COUNT(*) AS n FROM api_keys ${where}`);
    // LIMIT -1: no limit, SQLite's way (OFFSET needs a LIMIT).
    const page = this.#db.prepare(`SELECT * FROM api_keys ${where} ORDER BY created_at DESC, id DESC LIMIT ? OFFSET ?`);
    // One read transaction: the count and the page see the same keys.
    return this.#db.transaction(() => ({
      total: (count.get(...args) as { n: number }).n,
      records: (page.all(...args, q.limit ?? -1, q.offset ?? 0) as Row[]).map(toRecord),
    }))();
  }

  async revoke(id: string, at: number): Promise<KeyRecord | undefined> {
    return this.#db
      .transaction(() => {
        const row = this.#get.get(id) as Row | undefined;
        if (!row) return undefined;
        if (row['revoked_at'] == null) {
          this.#db.prepare('UPDATE api_keys SET revoked_at = ?, rev = ? WHERE id = ?').run(at, this.#nextRev(), id);
        }
        return toRecord(this.#get.get(id) as Row);
      })
      .immediate();
  }

  async rotate(oldId: string, replacement: NewKey, oldExpiresAt: number): Promise<{ old: KeyRecord; replacement: KeyRecord }> {
    return this.#db
      .transaction(() => {
        const row = this.#get.get(oldId) as Row | undefined;
        if (!row) throw new Error(`no key with id ${oldId}`);
        const old = toRecord(row);
        if (old.revokedAt !== null) throw new Error(`key ${oldId} is revoked; create a new key instead`);
        const now = Date.now();
        if (oldExpiresAt <= now) {
          this.#db.prepare('UPDATE api_keys SET revoked_at = ?, rev = ? WHERE id = ?').run(now, this.#nextRev(), oldId);
        } else if (old.expiresAt === null || oldExpiresAt < old.expiresAt) {
          this.#db.prepare('UPDATE api_keys SET expires_at = ?, rev = ? WHERE id = ?').run(oldExpiresAt, this.#nextRev(), oldId);
        }
        const created = this.#insertKey(replacement);
        return { old: toRecord(this.#get.get(oldId) as Row), replacement: created };
      })
      .immediate();
  }

  async eraseUser(user: string, replacement: string | null): Promise<number> {
    return this.#db.prepare('UPDATE api_keys SET user_id = ? WHERE user_id = ?').run(replacement, user).changes;
  }

  async touch(lastUsed: ReadonlyMap<string, number>): Promise<void> {
    if (lastUsed.size === 0) return;
    this.#db.transaction(() => {
      for (const [id, at] of lastUsed) this.#touch.run(at, id);
    })();
  }

  async currentRev(): Promise<number> {
    return (this.#db.prepare(`SELECT value FROM counters WHERE name = 'api_keys_rev'`).get() as { value: number }).value;
  }

  async changesSince(rev: number): Promise<{ records: KeyRecord[]; rev: number }> {
    const rows = this.#db.prepare('SELECT * FROM api_keys WHERE rev > ? ORDER BY rev').all(rev) as Row[];
    const records = rows.map(toRecord);
    return { records, rev: records.length > 0 ? records[records.length - 1]!.rev : rev };
  }
}

class SqliteAuditLog implements AuditLog {
  readonly #db: Database.Database;
  readonly #insert: Database.Statement;

  constructor(db: Database.Database) {
    this.#db = db;
    this.#insert = db.prepare(
      `INSERT INTO audit_log (time, request_id, record_id, event, result, reason, method, key_id, user_id, client_address, http_method, path, instance, detail, severity)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
       ON CONFLICT (record_id) DO NOTHING`,
    );
  }

  async append(events: readonly AuditEvent[]): Promise<void> {
    if (events.length === 0) return;
    // Positional parameters: binding by name from a spread copy of each event cost several times more.
    this.#db.transaction(() => {
      for (const e of events) {
        this.#insert.run(e.time, e.requestId, e.recordId ?? null, e.event, e.result, e.reason, e.method, e.keyId, e.user, e.clientAddress, e.httpMethod, e.path, e.instance, e.detail ? JSON.stringify(e.detail) : null, auditSeverity(e));
      }
    })();
  }

  async query(q: AuditQuery): Promise<AuditEvent[]> {
    return (await this.search(q)).map(({ id: _id, ...event }) => event);
  }

  async search(q: AuditQuery): Promise<StoredAuditEvent[]> {
    const args: unknown[] = [];
    const where = whereClause(auditConditions(q, sqliteDialect(args)));
    const sql = `SELECT * FROM audit_log ${where} ORDER BY time DESC, id DESC LIMIT ?`;
    return (this.#db.prepare(sql).all(...args, q.limit ?? 100) as Row[]).map(toStoredEvent);
  }

  async get(id: number): Promise<StoredAuditEvent | undefined> {
    const row = this.#db.prepare('SELECT * FROM audit_log WHERE id = ?').get(id) as Row | undefined;
    return row ? toStoredEvent(row) : undefined;
  }

  async prune(before: number, limit?: number): Promise<number> {
    if (limit === undefined) return this.#db.prepare('DELETE FROM audit_log WHERE time < ?').run(before).changes;
    // DELETE ... LIMIT needs a compile-time option SQLite builds often lack; the id subquery does not.
    return this.#db.prepare('DELETE FROM audit_log WHERE id IN (SELECT id FROM audit_log WHERE time < ? ORDER BY time LIMIT ?)').run(before, limit).changes;
  }

  async eraseUser(user: string, replacement: string | null): Promise<number> {
    if (replacement === null) return this.#db.prepare('DELETE FROM audit_log WHERE user_id = ?').run(user).changes;
    return this.#db.prepare('UPDATE audit_log SET user_id = ? WHERE user_id = ?').run(replacement, user).changes;
  }
}

function toStoredEvent(r: Row): StoredAuditEvent {
  return { id: r['id'] as number, ...auditEventFromRow(r, typeof r['detail'] === 'string' ? (JSON.parse(r['detail']) as AuditDetail) : null) };
}
