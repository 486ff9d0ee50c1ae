import { auditSeverity } from '../audit-severity.js';
import { auditEventFromRow } from '../rows.js';
import pg from 'pg';
import { GatewayError } from '../../errors/gateway-error.js';
import type { GovernanceStores } from '../governance-types.js';
import type { IdentityStores } from '../identity-types.js';
import type { AuditDetail, AuditEvent, AuditLog, AuditQuery, KeyQuery, KeyRecord, KeyStore, NewKey, Store, StoredAuditEvent } from '../types.js';
import { auditConditions, keyConditions, whereClause, type SqlDialect } from '../search-sql.js';
import { scrubError, urlSecrets } from '../url-secret.js';
import { postgresGovernanceStores } from './governance.js';
import { postgresIdentityStores } from './identity.js';
import { migratePostgres } from './migrations.js';
import { PgDatabase } from './database.js';
import { PgResponseRows } from './responses.js';
import { RowResponseStore } from '../responses.js';
import type { ResponseStore } from '../response-types.js';

export interface PostgresStoreOptions {
  /** Most connections this process opens (default 10). */
  poolSize?: number;
  /** Give up connecting after this long (default 10 s). */
  connectTimeoutMs?: number;
  /** A query not answered within this long fails as `store_unavailable` (default 30 s): a server cut off by the network must not hold requests forever. */
  queryTimeoutMs?: number;
  /** Errors of idle pooled connections (the server restarted, a network blip); already scrubbed. */
  onError?: (err: Error) => void;
}

/**
 * Connects to PostgreSQL at `url`, brings the schema up to date (under an advisory lock, so
 * replicas starting together are safe) and returns the store. Every error it raises, now or
 * later, has the URL and its password cut out.
 *
 * @example
 * const store = await openPostgresStore(urlFromSecret, { poolSize: 10 });
 */
export async function openPostgresStore(url: string, options: PostgresStoreOptions = {}): Promise<PostgresStore> {
  const secrets = urlSecrets(url);
  let pool: pg.Pool;
  try {
    pool = new pg.Pool({
      connectionString: url,
      max: options.poolSize ?? 10,
      connectionTimeoutMillis: options.connectTimeoutMs ?? 10_000,
      query_timeout: options.queryTimeoutMs ?? 30_000,
      keepAlive: true,
      idleTimeoutMillis: 30_000,
      application_name: 'llmproxy',
      types: INT8_AS_NUMBER,
    });
  } catch (err) {
    throw scrubError(err, secrets, 'cannot open the PostgreSQL store');
  }
  pool.on('error', (err) => options.onError?.(scrubError(err, secrets, 'PostgreSQL connection error')));
  const db = new PgDatabase(pool, secrets);
  try {
    await db.withClient((client) => migratePostgres(client));
  } catch (err) {
    await pool.end().catch(() => undefined);
    // At startup the driver's own reason (ECONNREFUSED, a timeout) says more than store_unavailable.
    throw scrubError(err instanceof GatewayError && err.cause !== undefined ? err.cause : err, secrets, 'cannot open the PostgreSQL store');
  }
  return new PostgresStore(db);
}

/**
 * BIGINT columns hold epoch milliseconds and counters, all far below 2^53: read them as numbers
 * (node-postgres returns strings by default). Set per pool, not globally.
 */
const INT8_AS_NUMBER = {
  getTypeParser: ((oid: number, format?: string) =>
    oid === pg.types.builtins.INT8 ? (v: string) => Number(v) : pg.types.getTypeParser(oid, format as 'text')) as typeof pg.types.getTypeParser,
};

export class PostgresStore implements Store {
  readonly keys: PostgresKeyStore;
  readonly audit: PostgresAuditLog;
  readonly identity: IdentityStores;
  readonly governance: GovernanceStores;
  readonly responses: ResponseStore;
  readonly #db: PgDatabase;

  constructor(db: PgDatabase) {
    this.#db = db;
    this.keys = new PostgresKeyStore(db);
    this.audit = new PostgresAuditLog(db);
    this.identity = postgresIdentityStores(db);
    this.governance = postgresGovernanceStores(db);
    this.responses = new RowResponseStore(new PgResponseRows(db));
  }

  async ping(): Promise<void> {
    await this.#db.query('SELECT 1');
  }

  isUp(): boolean {
    return this.#db.up;
  }

  close(): Promise<void> {
    return this.#db.close();
  }
}

type Row = Record<string, unknown>;

/** PostgreSQL's side of the search conditions (store/search-sql.ts), numbering parameters into `args`. */
function postgresDialect(args: unknown[]): SqlDialect {
  return {
    param(value) {
      args.push(value);
      return `$${args.length}`;
    },
    contains: (column, p) => `strpos(lower(${column}), lower(${p}::text)) > 0`,
    // `instances: null` is a JSON null (not SQL NULL) inside the JSONB; `?` asks whether a string is an element of the array.
    scopesAllow: (p) => `(COALESCE(scopes->'instances', 'null'::jsonb) = 'null'::jsonb OR scopes->'instances' ? ${p}::text)`,
  };
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
    scopes: r['scopes'] as KeyRecord['scopes'],
    limits: r['limits'] as KeyRecord['limits'],
    rotatedFrom: (r['rotated_from'] as string | null) ?? null,
    rev: r['rev'] as number,
    // Only imported keys carry one; issued keys' records stay as they were.
    ...(r['lookup'] != null ? { lookup: r['lookup'] as string } : {}),
  };
}

const SELECT_KEY = 'SELECT * FROM api_keys WHERE id = $1';

/**
 * Keys in PostgreSQL. The change counter is one row of `counters`, bumped inside each changing
 * transaction: its row lock serialises key writers, so revisions become visible in the order
 * they were handed out and a watcher polling `changesSince` never skips one (a SEQUENCE would
 * not give that guarantee: a lower value can commit after a higher one).
 */
class PostgresKeyStore implements KeyStore {
  readonly #db: PgDatabase;

  constructor(db: PgDatabase) {
    this.#db = db;
  }

  async create(key: NewKey): Promise<KeyRecord> {
    return this.#db.transaction((c) => insertKey(c, key));
  }

  async createIfEmpty(key: NewKey): Promise<KeyRecord | undefined> {
    return this.#db.transaction(async (c) => {
      // Take the counter's row lock first: every key writer needs it, so two replicas
      // bootstrapping at once run one after the other, and the second (a new statement under
      // READ COMMITTED) sees the first one's key.
      await c.query(`SELECT value FROM counters WHERE name = 'api_keys_rev' FOR UPDATE`);
      const any = await c.query('SELECT 1 FROM api_keys LIMIT 1');
      return any.rowCount ? undefined : insertKey(c, key);
    });
  }

  async get(id: string): Promise<KeyRecord | undefined> {
    const { rows } = await this.#db.query(SELECT_KEY, [id]);
    return rows[0] ? toRecord(rows[0]) : undefined;
  }

  async findByLookup(lookup: string): Promise<KeyRecord | undefined> {
    const { rows } = await this.#db.query('SELECT * FROM api_keys WHERE lookup = $1', [lookup]);
    return rows[0] ? toRecord(rows[0]) : undefined;
  }

  async list(): Promise<KeyRecord[]> {
    return (await this.#db.query('SELECT * FROM api_keys ORDER BY created_at, id')).rows.map(toRecord);
  }

  async search(q: KeyQuery): Promise<{ records: KeyRecord[]; total: number }> {
    const args: unknown[] = [];
    const where = whereClause(keyConditions(q, postgresDialect(args)));
    return this.#db.transaction(async (c) => {
      // One snapshot for both statements: the count and the page see the same keys.
      await c.query('SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY');
      const { rows: counted } = await c.query(`SELECT COUNT(*) AS n FROM api_keys ${where}`, args);
      // LIMIT NULL: no limit.
      const { rows } = await c.query(`SELECT * FROM api_keys ${where} ORDER BY created_at DESC, id DESC LIMIT $${args.length + 1} OFFSET $${args.length + 2}`, [
        ...args,
        q.limit ?? null,
        q.offset ?? 0,
      ]);
      return { total: counted[0]!['n'] as number, records: rows.map(toRecord) };
    });
  }

  async revoke(id: string, at: number): Promise<KeyRecord | undefined> {
    return this.#db.transaction(async (c) => {
      const { rows } = await c.query(`${SELECT_KEY} FOR UPDATE`, [id]);
      if (!rows[0]) return undefined;
      if (rows[0]['revoked_at'] == null) {
        await c.query('UPDATE api_keys SET revoked_at = $1, rev = $2 WHERE id = $3', [at, await nextRev(c), id]);
      }
      return toRecord((await c.query(SELECT_KEY, [id])).rows[0]!);
    });
  }

  async rotate(oldId: string, replacement: NewKey, oldExpiresAt: number): Promise<{ old: KeyRecord; replacement: KeyRecord }> {
    return this.#db.transaction(async (c) => {
      const { rows } = await c.query(`${SELECT_KEY} FOR UPDATE`, [oldId]);
      if (!rows[0]) throw new Error(`no key with id ${oldId}`);
      const old = toRecord(rows[0]);
      if (old.revokedAt !== null) throw new Error(`key ${oldId} is revoked; create a new key instead`);
      const now = Date.now();
      if (oldExpiresAt <= now) {
        await c.query('UPDATE api_keys SET revoked_at = $1, rev = $2 WHERE id = $3', [now, await nextRev(c), oldId]);
      } else if (old.expiresAt === null || oldExpiresAt < old.expiresAt) {
        await c.query('UPDATE api_keys SET expires_at = $1, rev = $2 WHERE id = $3', [oldExpiresAt, await nextRev(c), oldId]);
      }
      const created = await insertKey(c, replacement);
      return { old: toRecord((await c.query(SELECT_KEY, [oldId])).rows[0]!), replacement: created };
    });
  }

  async eraseUser(user: string, replacement: string | null): Promise<number> {
    return (await this.#db.query('UPDATE api_keys SET user_id = $1 WHERE user_id = $2', [replacement, user])).rowCount ?? 0;
  }

  async touch(lastUsed: ReadonlyMap<string, number>): Promise<void> {
    if (lastUsed.size === 0) return;
    // One statement for the whole batch; GREATEST keeps the newest time whatever order replicas flush in.
    await this.#db.query(
      `UPDATE api_keys AS k SET last_used_at = GREATEST(COALESCE(k.last_used_at, 0), v.at)
       FROM unnest($1::text[], $2::bigint[]) AS v(id, at) WHERE k.id = v.id`,
      [[...lastUsed.keys()], [...lastUsed.values()]],
    );
  }

  async currentRev(): Promise<number> {
    const { rows } = await this.#db.query(`SELECT value FROM counters WHERE name = 'api_keys_rev'`);
    return rows[0]!['value'] as number;
  }

  async changesSince(rev: number): Promise<{ records: KeyRecord[]; rev: number }> {
    const records = (await this.#db.query('SELECT * FROM api_keys WHERE rev > $1 ORDER BY rev', [rev])).rows.map(toRecord);
    return { records, rev: records.length > 0 ? records[records.length - 1]!.rev : rev };
  }
}

async function nextRev(c: pg.PoolClient): Promise<number> {
  const { rows } = await c.query(`UPDATE counters SET value = value + 1 WHERE name = 'api_keys_rev' RETURNING value`);
  return rows[0]!['value'] as number;
}

async function insertKey(c: pg.PoolClient, key: NewKey): Promise<KeyRecord> {
  const rev = await nextRev(c);
  const { rows } = await c.query(
    `INSERT INTO api_keys (id, name, user_id, role, secret_hash, created_at, expires_at, scopes, limits, rotated_from, rev, lookup)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) RETURNING *`,
    [
      key.id,
      key.name,
      key.user,
      key.role,
      key.secretHash,
      key.createdAt ?? Date.now(),
      key.expiresAt,
      JSON.stringify(key.scopes),
      JSON.stringify(key.limits),
      key.rotatedFrom,
      rev,
      key.lookup ?? null,
    ],
  );
  return toRecord(rows[0]!);
}

const AUDIT_COLUMNS = ['time', 'request_id', 'record_id', 'event', 'result', 'reason', 'method', 'key_id', 'user_id', 'client_address', 'http_method', 'path', 'instance', 'detail', 'severity'] as const;
/** PostgreSQL takes at most 65535 parameters per statement; 15 per event. */
const AUDIT_BATCH = 1000;

class PostgresAuditLog implements AuditLog {
  readonly #db: PgDatabase;

  constructor(db: PgDatabase) {
    this.#db = db;
  }

  async append(events: readonly AuditEvent[]): Promise<void> {
    if (events.length === 0) return;
    await this.#db.transaction(async (c) => {
      for (let start = 0; start < events.length; start += AUDIT_BATCH) {
        const batch = events.slice(start, start + AUDIT_BATCH);
        const params: unknown[] = [];
        const tuples = batch.map((e) => {
          const base = params.length;
          params.push(e.time, e.requestId, e.recordId ?? null, e.event, e.result, e.reason, e.method, e.keyId, e.user, e.clientAddress, e.httpMethod, e.path, e.instance, e.detail ? JSON.stringify(e.detail) : null, auditSeverity(e));
          return `(${AUDIT_COLUMNS.map((_, i) => `$${base + i + 1}`).join(', ')})`;
        });
        await c.query(`INSERT INTO audit_log (${AUDIT_COLUMNS.join(', ')}) VALUES ${tuples.join(', ')} ON CONFLICT (record_id) DO NOTHING`, params);
      }
    });
  }

  async query(q: AuditQuery): Promise<AuditEvent[]> {
    return (await this.search(q)).map(({ id: _id, ...event }) => event);
  }

  async search(q: AuditQuery): Promise<StoredAuditEvent[]> {
    const args: unknown[] = [];
    const where = whereClause(auditConditions(q, postgresDialect(args)));
    args.push(q.limit ?? 100);
    const sql = `SELECT * FROM audit_log ${where} ORDER BY time DESC, id DESC LIMIT $${args.length}`;
    return (await this.#db.query(sql, args)).rows.map(toStoredEvent);
  }

  async get(id: number): Promise<StoredAuditEvent | undefined> {
    const { rows } = await this.#db.query('SELECT * FROM audit_log WHERE id = $1', [id]);
    return rows[0] ? toStoredEvent(rows[0]) : undefined;
  }

  async prune(before: number, limit?: number): Promise<number> {
    if (limit === undefined) return (await this.#db.query('DELETE FROM audit_log WHERE time < $1', [before])).rowCount ?? 0;
    // PostgreSQL has no DELETE ... LIMIT. SKIP LOCKED: replicas pruning at once take different rows, none waits.
    const sql = 'DELETE FROM audit_log WHERE id IN (SELECT id FROM audit_log WHERE time < $1 ORDER BY time LIMIT $2 FOR UPDATE SKIP LOCKED)';
    return (await this.#db.query(sql, [before, limit])).rowCount ?? 0;
  }

  async eraseUser(user: string, replacement: string | null): Promise<number> {
    if (replacement === null) return (await this.#db.query('DELETE FROM audit_log WHERE user_id = $1', [user])).rowCount ?? 0;
    return (await this.#db.query('UPDATE audit_log SET user_id = $1 WHERE user_id = $2', [replacement, user])).rowCount ?? 0;
  }
}

/** An audit row as an event with its id; `detail` is null for events that had none (as in SQLite). */
function toStoredEvent(r: Row): StoredAuditEvent {
  return { id: r['id'] as number, ...auditEventFromRow(r, (r['detail'] as AuditDetail | null) ?? null) };
}
