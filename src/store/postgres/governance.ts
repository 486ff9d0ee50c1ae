import { usageFilterTerms, usageSeriesFromRows, usageSummaryFromRow } from '../rows.js';
import type { GovernanceStores, Setting, SettingsStore, SpendTotals, UsageFilter, UsageQuery, UsageRow, UsageSeries, UsageSeriesQuery, UsageStore, UsageSummaryRow } from '../governance-types.js';
import type { PgDatabase } from './database.js';

/** Usage rows and settings in PostgreSQL, with the semantics of store/sqlite/governance.ts. */
export function postgresGovernanceStores(db: PgDatabase): GovernanceStores {
  return { usage: new PgUsageStore(db), settings: new PgSettingsStore(db) };
}

/** Column per `by`; fixed strings, never client text, so interpolating them is safe. */
const GROUP_COLUMN = { key: 'key_id', user: 'user_id', instance: 'instance', model: 'model' } as const;
/** Group expression per series `by`: one series named `all` for `none`. */
const SERIES_GROUP = { ...GROUP_COLUMN, none: "CAST('all' AS TEXT)" } as const;

/** `AND column = $n` per filter field set, numbered after the `args` already there (which it extends). */
function filterSql(filter: UsageFilter | undefined, args: unknown[]): string {
  return usageFilterTerms(filter)
    .map(([column, value]) => {
      args.push(value);
      return ` AND ${column} = $${args.length}`;
    })
    .join('');
}

const USAGE_COLUMNS = ['time', 'request_id', 'record_id', 'key_id', 'user_id', 'principal_kind', 'instance', 'model', 'input_tokens', 'output_tokens', 'cost_micros', 'latency_ms', 'status'] as const;
/** PostgreSQL takes at most 65535 parameters per statement; 13 per row. */
const USAGE_BATCH = 1000;

class PgUsageStore implements UsageStore {
  readonly #db: PgDatabase;

  constructor(db: PgDatabase) {
    this.#db = db;
  }

  async append(rows: readonly UsageRow[]): Promise<void> {
    if (rows.length === 0) return;
    await this.#db.transaction(async (c) => {
      for (let start = 0; start < rows.length; start += USAGE_BATCH) {
        const params: unknown[] = [];
        const tuples = rows.slice(start, start + USAGE_BATCH).map((r) => {
          const base = params.length;
          params.push(r.time, r.requestId, r.recordId ?? null, r.keyId, r.user, r.principalKind, r.instance, r.model, r.inputTokens, r.outputTokens, Math.round(r.costMicros), Math.round(r.latencyMs), r.status);
          return `(${USAGE_COLUMNS.map((_, i) => `$${base + i + 1}`).join(', ')})`;
        });
        await c.query(`INSERT INTO usage_log (${USAGE_COLUMNS.join(', ')}) VALUES ${tuples.join(', ')} ON CONFLICT (record_id) DO NOTHING`, params);
      }
    });
  }

  async summary(q: UsageQuery): Promise<UsageSummaryRow[]> {
    const column = GROUP_COLUMN[q.by];
    if (column === undefined) throw new Error(`cannot group usage by "${String(q.by)}"`);
    const args: unknown[] = [q.since];
    if (q.until !== undefined) args.push(q.until);
    const filter = filterSql(q.filter, args);
    // NULLS FIRST on the group: SQLite sorts NULL before any text; keep the same order.
    const { rows } = await this.#db.query(
      `SELECT ${column} AS grp, COUNT(*) AS requests, SUM(input_tokens) AS input_tokens, SUM(output_tokens) AS output_tokens, SUM(cost_micros) AS cost_micros
       FROM usage_log WHERE time >= $1 ${q.until === undefined ? '' : 'AND time < $2'}${filter}
       GROUP BY ${column} ORDER BY cost_micros DESC, requests DESC, grp ASC NULLS FIRST`,
      args,
    );
    return rows.map(usageSummaryFromRow);
  }

  async series(q: UsageSeriesQuery): Promise<UsageSeries[]> {
    const group = SERIES_GROUP[q.by];
    if (group === undefined) throw new Error(`cannot group usage by "${String(q.by)}"`);
    const args: unknown[] = [q.since, q.until, q.bucketMs];
    const filter = filterSql(q.filter, args);
    if (q.maxGroups !== undefined) args.push(q.maxGroups);
    // As in SQLite: b per group and bucket, g the groups kept; NULL groups sort first and join by IS NOT DISTINCT FROM.
    const { rows } = await this.#db.query(
      `WITH b AS (
         SELECT ${group} AS grp, (time - $1::bigint) / $3::bigint AS slot, COUNT(*) AS requests, SUM(CASE WHEN status >= 400 THEN 1 ELSE 0 END) AS errors,
                SUM(input_tokens) AS input_tokens, SUM(output_tokens) AS output_tokens, SUM(cost_micros) AS cost_micros
         FROM usage_log WHERE time >= $1 AND time < $2${filter} GROUP BY 1, 2
       ), g AS (
         SELECT grp, SUM(cost_micros) AS total, SUM(requests) AS n FROM b GROUP BY grp ORDER BY total DESC, n DESC, grp ASC NULLS FIRST ${q.maxGroups === undefined ? '' : `LIMIT $${args.length}`}
       )
       SELECT b.* FROM b JOIN g ON b.grp IS NOT DISTINCT FROM g.grp ORDER BY g.total DESC, g.n DESC, g.grp ASC NULLS FIRST, b.slot`,
      args,
    );
    return usageSeriesFromRows(rows, q.since, q.bucketMs);
  }

  async spendSince(since: number): Promise<SpendTotals> {
    const totals: SpendTotals = { global: 0, keys: {}, users: {}, instances: {} };
    const { rows } = await this.#db.query('SELECT key_id, user_id, instance, SUM(cost_micros) AS micros FROM usage_log WHERE time >= $1 GROUP BY key_id, user_id, instance', [since]);
    for (const r of rows) {
      // SUM(bigint) is numeric, which node-postgres returns as a string.
      const micros = Number(r['micros'] ?? 0);
      const key = r['key_id'] as string | null;
      const user = r['user_id'] as string | null;
      const instance = r['instance'] as string | null;
      totals.global += micros;
      if (key !== null) totals.keys[key] = (totals.keys[key] ?? 0) + micros;
      if (user !== null) totals.users[user] = (totals.users[user] ?? 0) + micros;
      if (instance !== null) totals.instances[instance] = (totals.instances[instance] ?? 0) + micros;
    }
    return totals;
  }

  async prune(before: number, limit?: number): Promise<number> {
    if (limit === undefined) return (await this.#db.query('DELETE FROM usage_log WHERE time < $1', [before])).rowCount ?? 0;
    const sql = 'DELETE FROM usage_log WHERE id IN (SELECT id FROM usage_log WHERE time < $1 ORDER BY time LIMIT $2 FOR UPDATE SKIP LOCKED)';
    return (await this.#db.query(sql, [before, limit])).rowCount ?? 0;
  }

  async eraseUser(user: string, replacement: string | null): Promise<number> {
    if (replacement === null) return (await this.#db.query('DELETE FROM usage_log WHERE user_id = $1', [user])).rowCount ?? 0;
    return (await this.#db.query('UPDATE usage_log SET user_id = $1 WHERE user_id = $2', [replacement, user])).rowCount ?? 0;
  }
}

class PgSettingsStore implements SettingsStore {
  readonly #db: PgDatabase;

  constructor(db: PgDatabase) {
    this.#db = db;
  }

  async get(name: string): Promise<Setting | undefined> {
    const { rows } = await this.#db.query('SELECT value, updated_at FROM settings WHERE name = $1', [name]);
    return rows[0] ? { value: rows[0]['value'] as string, updatedAt: rows[0]['updated_at'] as number } : undefined;
  }

  async set(name: string, value: string | null): Promise<void> {
    if (value === null) await this.#db.query('DELETE FROM settings WHERE name = $1', [name]);
    else {
      await this.#db.query(
        'INSERT INTO settings (name, value, updated_at) VALUES ($1, $2, $3) ON CONFLICT (name) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at',
        [name, value, Date.now()],
      );
    }
  }

  async claim(name: string, value: string, at: number, staleBefore: number): Promise<boolean> {
    // The upsert's WHERE runs on the locked conflicting row, so of concurrent claims one updates (or inserts) and the rest change nothing.
    const { rowCount } = await this.#db.query(
      'INSERT INTO settings (name, value, updated_at) VALUES ($1, $2, $3) ON CONFLICT (name) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at WHERE settings.updated_at < $4',
      [name, value, at, staleBefore],
    );
    return rowCount === 1;
  }
}
