import { usageFilterTerms, usageSeriesFromRows, usageSummaryFromRow } from '../rows.js';
import type Database from 'better-sqlite3';
import type { GovernanceStores, SettingsStore, SpendTotals, UsageFilter, UsageQuery, UsageRow, UsageSeries, UsageSeriesQuery, UsageStore, UsageSummaryRow } from '../governance-types.js';

/** Migration 3: usage rows, settings (lockdown). */
export const GOVERNANCE_MIGRATION = `
  CREATE TABLE usage_log (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    time           INTEGER NOT NULL,
    request_id     TEXT NOT NULL,
    key_id         TEXT,
    user_id        TEXT,
    principal_kind TEXT,
    instance       TEXT,
    model          TEXT,
    input_tokens   INTEGER NOT NULL,
    output_tokens  INTEGER NOT NULL,
    cost_micros    INTEGER NOT NULL,
    latency_ms     INTEGER NOT NULL,
    status         INTEGER NOT NULL
  );
  CREATE INDEX usage_log_time ON usage_log(time);
  CREATE TABLE settings (
    name       TEXT PRIMARY KEY,
    value      TEXT NOT NULL,
    updated_at INTEGER NOT NULL
  );
`;

/**
 * Migration 5: a unique id per usage row and audit event, so a row written twice (a journal
 * replayed after a crash between the store's commit and the segment's deletion, a retried
 * batch) is kept once; older rows have none (NULLs never conflict). And a random id of this
 * store, which journal folders are tagged with (store/journal.ts).
 */
export const RECORD_ID_MIGRATION = `
  ALTER TABLE usage_log ADD COLUMN record_id TEXT;
  CREATE UNIQUE INDEX usage_log_record ON usage_log(record_id);
  ALTER TABLE audit_log ADD COLUMN record_id TEXT;
  CREATE UNIQUE INDEX audit_log_record ON audit_log(record_id);
  INSERT INTO settings (name, value, updated_at) VALUES ('store_id', lower(hex(randomblob(16))), CAST(strftime('%s', 'now') AS INTEGER) * 1000)
    ON CONFLICT (name) DO NOTHING;
`;

/** Column per `by`; fixed strings, never client text, so interpolating them is safe. */
const GROUP_COLUMN = { key: 'key_id', user: 'user_id', instance: 'instance', model: 'model' } as const;
/** Group expression per series `by`: one series named `all` for `none`. */
const SERIES_GROUP = { ...GROUP_COLUMN, none: "CAST('all' AS TEXT)" } as const;

/** `AND column = @fN` per filter field set, and the named parameters. */
function filterSql(filter: UsageFilter | undefined): { sql: string; params: Record<string, string> } {
  const params: Record<string, string> = {};
  const sql = usageFilterTerms(filter)
    .map(([column, value], i) => {
      params[`f${i}`] = value;
      return ` AND ${column} = @f${i}`;
    })
    .join('');
  return { sql, params };
}

export function sqliteGovernanceStores(db: Database.Database): GovernanceStores {
  return { usage: new SqliteUsageStore(db), settings: new SqliteSettingsStore(db) };
}

/** The month's spend as last read, and the last row it includes. */
interface SpendSnapshot {
  since: number;
  lastId: number;
  totals: SpendTotals;
}

/**
 * Rows written after `id`, from `time`, summed per key, user and instance. `id` only grows
 * (AUTOINCREMENT) and writers take turns, so a row committed later never has a lower id.
 */
export const SPEND_AFTER_SQL = 'SELECT key_id, user_id, instance, SUM(cost_micros) AS micros, MAX(id) AS last_id FROM usage_log WHERE id > ? AND time >= ? GROUP BY key_id, user_id, instance';

class SqliteUsageStore implements UsageStore {
  readonly #db: Database.Database;
  readonly #insert: Database.Statement;
  readonly #spendAfter: Database.Statement;
  /**
   * The budget ledger asks for the month's spend every few seconds, and better-sqlite3 answers
   * on the event loop: summing the whole month each time would stall every request longer as
   * the month fills. So each answer adds only the rows written since the last one.
   */
  #spend: SpendSnapshot | undefined;

  constructor(db: Database.Database) {
    this.#db = db;
    this.#spendAfter = db.prepare(SPEND_AFTER_SQL);
    this.#insert = db.prepare(
      `INSERT INTO usage_log (time, request_id, record_id, key_id, user_id, principal_kind, instance, model, input_tokens, output_tokens, cost_micros, latency_ms, status)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
       ON CONFLICT (record_id) DO NOTHING`,
    );
  }

  async append(rows: readonly UsageRow[]): Promise<void> {
    if (rows.length === 0) return;
    // Positional parameters: binding by name from a spread copy of each row cost several times more.
    this.#db.transaction(() => {
      for (const r of rows) {
        this.#insert.run(r.time, r.requestId, r.recordId ?? null, r.keyId, r.user, r.principalKind, r.instance, r.model, r.inputTokens, r.outputTokens, Math.round(r.costMicros), Math.round(r.latencyMs), r.status);
      }
    })();
  }

  async summary(q: UsageQuery): Promise<UsageSummaryRow[]> {
    const column = GROUP_COLUMN[q.by];
    if (column === undefined) throw new Error(`cannot group usage by "${String(q.by)}"`);
    const until = q.until === undefined ? '' : 'AND time < @until';
    const filter = filterSql(q.filter);
    const rows = this.#db
      .prepare(
        `SELECT ${column} AS grp, COUNT(*) AS requests, SUM(input_tokens) AS input_tokens, SUM(output_tokens) AS output_tokens, SUM(cost_micros) AS cost_micros
         FROM usage_log WHERE time >= @since ${until}${filter.sql} GROUP BY ${column} ORDER BY cost_micros DESC, requests DESC, grp`,
      )
      .all({ since: q.since, ...(q.until === undefined ? {} : { until: q.until }), ...filter.params }) as Array<Record<string, number | string | null>>;
    return rows.map(usageSummaryFromRow);
  }

  async series(q: UsageSeriesQuery): Promise<UsageSeries[]> {
    const group = SERIES_GROUP[q.by];
    if (group === undefined) throw new Error(`cannot group usage by "${String(q.by)}"`);
    const filter = filterSql(q.filter);
    // b: one row per group and bucket; g: the groups kept (largest cost first), ranked.
    const rows = this.#db
      .prepare(
        `WITH b AS (
           SELECT ${group} AS grp, (time - CAST(@since AS INTEGER)) / CAST(@bucket AS INTEGER) AS slot, COUNT(*) AS requests, SUM(CASE WHEN status >= 400 THEN 1 ELSE 0 END) AS errors,
                  SUM(input_tokens) AS input_tokens, SUM(output_tokens) AS output_tokens, SUM(cost_micros) AS cost_micros
           FROM usage_log WHERE time >= @since AND time < @until${filter.sql} GROUP BY 1, 2
         ), g AS (
           SELECT grp, SUM(cost_micros) AS total, SUM(requests) AS n FROM b GROUP BY grp ORDER BY total DESC, n DESC, grp ${q.maxGroups === undefined ? '' : 'LIMIT @max'}
         )
         SELECT b.* FROM b JOIN g ON b.grp IS g.grp ORDER BY g.total DESC, g.n DESC, g.grp, b.slot`,
      )
      .all({ since: q.since, until: q.until, bucket: q.bucketMs, ...(q.maxGroups === undefined ? {} : { max: q.maxGroups }), ...filter.params }) as Array<Record<string, unknown>>;
    return usageSeriesFromRows(rows, q.since, q.bucketMs);
  }

  async spendSince(since: number): Promise<SpendTotals> {
    const snapshot: SpendSnapshot = this.#spend?.since === since ? this.#spend : { since, lastId: 0, totals: { global: 0, keys: {}, users: {}, instances: {} } };
    const { totals } = snapshot;
    const rows = this.#spendAfter.all(snapshot.lastId, since) as Array<{ key_id: string | null; user_id: string | null; instance: string | null; micros: number | null; last_id: number }>;
    for (const r of rows) {
      const micros = Number(r.micros ?? 0);
      totals.global += micros;
      if (r.key_id !== null) totals.keys[r.key_id] = (totals.keys[r.key_id] ?? 0) + micros;
      if (r.user_id !== null) totals.users[r.user_id] = (totals.users[r.user_id] ?? 0) + micros;
      if (r.instance !== null) totals.instances[r.instance] = (totals.instances[r.instance] ?? 0) + micros;
      snapshot.lastId = Math.max(snapshot.lastId, r.last_id);
    }
    this.#spend = snapshot;
    return { global: totals.global, keys: { ...totals.keys }, users: { ...totals.users }, instances: { ...totals.instances } };
  }

  async prune(before: number, limit?: number): Promise<number> {
    // Rows the snapshot counted may go: the next answer sums the month afresh.
    if (this.#spend !== undefined && before > this.#spend.since) this.#spend = undefined;
    if (limit === undefined) return this.#db.prepare('DELETE FROM usage_log WHERE time < ?').run(before).changes;
    return this.#db.prepare('DELETE FROM usage_log WHERE id IN (SELECT id FROM usage_log WHERE time < ? ORDER BY time LIMIT ?)').run(before, limit).changes;
  }

  async eraseUser(user: string, replacement: string | null): Promise<number> {
    // The spend snapshot counted per user: the next answer sums afresh.
    this.#spend = undefined;
    if (replacement === null) return this.#db.prepare('DELETE FROM usage_log WHERE user_id = ?').run(user).changes;
    return this.#db.prepare('UPDATE usage_log SET user_id = ? WHERE user_id = ?').run(replacement, user).changes;
  }
}

class SqliteSettingsStore implements SettingsStore {
  readonly #get: Database.Statement;
  readonly #put: Database.Statement;
  readonly #delete: Database.Statement;
  readonly #claim: Database.Statement;

  constructor(db: Database.Database) {
    this.#get = db.prepare('SELECT value, updated_at FROM settings WHERE name = ?');
    this.#put = db.prepare(
      'INSERT INTO settings (name, value, updated_at) VALUES (?, ?, ?) ON CONFLICT(name) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at',
    );
    this.#delete = db.prepare('DELETE FROM settings WHERE name = ?');
    this.#claim = db.prepare(
      'INSERT INTO settings (name, value, updated_at) VALUES (?, ?, ?) ON CONFLICT(name) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at WHERE settings.updated_at < ?',
    );
  }

  async get(name: string) {
    const row = this.#get.get(name) as { value: string; updated_at: number } | undefined;
    return row ? { value: row.value, updatedAt: row.updated_at } : undefined;
  }

  async set(name: string, value: string | null): Promise<void> {
    if (value === null) this.#delete.run(name);
    else this.#put.run(name, value, Date.now());
  }

  async claim(name: string, value: string, at: number, staleBefore: number): Promise<boolean> {
    // One statement: SQLite serialises writers, so two processes on one file cannot both win.
    return this.#claim.run(name, value, at, staleBefore).changes === 1;
  }
}
