import type { PoolClient } from 'pg';
import { severityBackfill } from '../audit-severity.js';

/**
 * Versioned PostgreSQL schema migrations, the same versions as the SQLite ones
 * (store/sqlite/migrations.ts) in PostgreSQL's dialect. Each runs in its own transaction and is
 * recorded in `schema_migrations`; the whole run holds a session advisory lock, so replicas
 * starting together apply each migration exactly once. Append only.
 *
 * Times are epoch milliseconds in BIGINT (parsed back to numbers by the store's type parser).
 */
export const PG_MIGRATIONS: readonly string[] = [
  // 1: API keys, the change counter the revocation watcher polls, the audit log.
  `
  CREATE TABLE api_keys (
    id           TEXT PRIMARY KEY,
    name         TEXT NOT NULL,
    user_id      TEXT,
    role         TEXT NOT NULL,
    secret_hash  TEXT NOT NULL,
    created_at   BIGINT NOT NULL,
    expires_at   BIGINT,
    revoked_at   BIGINT,
    last_used_at BIGINT,
    scopes       JSONB NOT NULL,
    limits       JSONB NOT NULL,
    rotated_from TEXT REFERENCES api_keys(id),
    rev          BIGINT NOT NULL
  );
  CREATE INDEX api_keys_rev ON api_keys(rev);
  CREATE TABLE counters (name TEXT PRIMARY KEY, value BIGINT NOT NULL);
  INSERT INTO counters (name, value) VALUES ('api_keys_rev', 0);
  CREATE TABLE audit_log (
    id             BIGSERIAL PRIMARY KEY,
    time           BIGINT NOT NULL,
    request_id     TEXT NOT NULL,
    event          TEXT NOT NULL,
    result         TEXT NOT NULL,
    reason         TEXT,
    method         TEXT NOT NULL,
    key_id         TEXT,
    user_id        TEXT,
    client_address TEXT NOT NULL,
    http_method    TEXT NOT NULL,
    path           TEXT NOT NULL,
    instance       TEXT
  );
  CREATE INDEX audit_log_time ON audit_log(time);
  CREATE INDEX audit_log_key ON audit_log(key_id, time);
  `,
  // 2: users, TOTP enrolments and their backup codes, sessions, the identity change counter
  //    (mirrors store/sqlite/identity.ts).
  `
  CREATE TABLE users (
    name                TEXT PRIMARY KEY,
    role                TEXT NOT NULL,
    password_hash       TEXT,
    disabled            BOOLEAN NOT NULL DEFAULT FALSE,
    scopes              JSONB NOT NULL,
    limits              JSONB NOT NULL,
    created_at          BIGINT NOT NULL,
    updated_at          BIGINT NOT NULL,
    password_changed_at BIGINT NOT NULL
  );
  CREATE TABLE totp_enrolments (
    subject      TEXT PRIMARY KEY,
    secret       TEXT NOT NULL,
    required     BOOLEAN NOT NULL,
    created_at   BIGINT NOT NULL,
    last_step    BIGINT,
    failures     INTEGER NOT NULL DEFAULT 0,
    locked_until BIGINT
  );
  CREATE TABLE totp_backup_codes (
    subject TEXT NOT NULL REFERENCES totp_enrolments(subject) ON DELETE CASCADE,
    idx     INTEGER NOT NULL,
    salt    TEXT NOT NULL,
    hash    TEXT NOT NULL,
    used_at BIGINT,
    PRIMARY KEY (subject, idx)
  );
  CREATE TABLE sessions (
    id          TEXT PRIMARY KEY,
    secret_hash TEXT NOT NULL,
    key_id      TEXT,
    user_name   TEXT,
    created_at  BIGINT NOT NULL,
    expires_at  BIGINT NOT NULL,
    revoked_at  BIGINT
  );
  CREATE INDEX sessions_expires ON sessions(expires_at);
  INSERT INTO counters (name, value) VALUES ('identity_rev', 0);
  `,
  // 3: usage rows, settings (mirrors store/sqlite/governance.ts).
  `
  CREATE TABLE usage_log (
    id             BIGSERIAL PRIMARY KEY,
    time           BIGINT NOT NULL,
    request_id     TEXT NOT NULL,
    key_id         TEXT,
    user_id        TEXT,
    principal_kind TEXT,
    instance       TEXT,
    model          TEXT,
    input_tokens   BIGINT NOT NULL,
    output_tokens  BIGINT NOT NULL,
    cost_micros    BIGINT NOT NULL,
    latency_ms     BIGINT NOT NULL,
    status         INTEGER NOT NULL
  );
  CREATE INDEX usage_log_time ON usage_log(time);
  CREATE TABLE settings (
    name       TEXT PRIMARY KEY,
    value      TEXT NOT NULL,
    updated_at BIGINT NOT NULL
  );
  `,
  // 4: what an admin change did (before/after, never a secret), as JSON
  //    (mirrors store/sqlite/audit-detail.ts).
  `
  ALTER TABLE audit_log ADD COLUMN detail JSONB;
  CREATE INDEX audit_log_event ON audit_log(event, time);
  `,
  // 5: record ids, so a journal replay or a retried batch writes each usage row and audit event
  //    once (older rows have none: NULLs never conflict); the store's random id, which journal
  //    folders are tagged with (mirrors store/sqlite/governance.ts).
  `
  ALTER TABLE usage_log ADD COLUMN record_id TEXT;
  CREATE UNIQUE INDEX usage_log_record ON usage_log(record_id);
  ALTER TABLE audit_log ADD COLUMN record_id TEXT;
  CREATE UNIQUE INDEX audit_log_record ON audit_log(record_id);
  INSERT INTO settings (name, value, updated_at) VALUES ('store_id', md5(random()::text || clock_timestamp()::text), (extract(epoch FROM clock_timestamp()) * 1000)::bigint)
    ON CONFLICT (name) DO NOTHING;
  `,
  // 6: stored Responses API responses (mirrors store/sqlite/responses.ts). Bodies are TEXT, not
  //    JSONB: they are only ever read whole, and TEXT keeps them as written.
  `
  CREATE TABLE responses (
    id          TEXT PRIMARY KEY,
    owner       TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    expires_at  BIGINT NOT NULL,
    instance    TEXT NOT NULL,
    model       TEXT NOT NULL,
    previous_id TEXT,
    input_items TEXT NOT NULL,
    response    TEXT NOT NULL
  );
  CREATE INDEX responses_expires ON responses(expires_at);
  `,
  // 7: the stored responses holding each item, for item_reference input items; rows go with
  //    their response through the cascade (mirrors store/sqlite/responses.ts).
  `
  CREATE TABLE response_items (
    owner       TEXT NOT NULL,
    item_id     TEXT NOT NULL,
    response_id TEXT NOT NULL REFERENCES responses(id) ON DELETE CASCADE,
    PRIMARY KEY (owner, item_id, response_id)
  );
  CREATE INDEX response_items_response ON response_items(response_id);
  `,
  // 8: keys newest first (the admin key list pages through them without sorting every key).
  `CREATE INDEX api_keys_created ON api_keys(created_at, id);`,
  // 9: console sessions (src/console/) beside session tokens: their kind, an OIDC principal, the last use.
  `
  ALTER TABLE sessions ADD COLUMN kind TEXT NOT NULL DEFAULT 'token';
  ALTER TABLE sessions ADD COLUMN principal TEXT;
  ALTER TABLE sessions ADD COLUMN last_seen_at BIGINT;
  `,
  // 10: imported keys (`llmproxy keys import`) are found by SHA-256 of their secret, not by an id inside it.
  `ALTER TABLE api_keys ADD COLUMN lookup TEXT;
   CREATE UNIQUE INDEX api_keys_lookup ON api_keys(lookup);`,
  // 11: audit severity; older rows get the gateway's default (mirrors store/sqlite/audit-detail.ts).
  `
  ALTER TABLE audit_log ADD COLUMN severity TEXT NOT NULL DEFAULT 'info';
  ${severityBackfill("detail->'lockdown' = 'true'::jsonb", "detail->'disabled' = 'true'::jsonb")};
  CREATE INDEX audit_log_severity ON audit_log(severity, time);
  `,
];

/** Arbitrary but fixed: the advisory lock id every llmproxy replica takes while migrating. */
const MIGRATION_LOCK = 0x6c6c6d70; // "llmp"

/**
 * Brings the schema up to `migrations.length`. Refuses a database that a newer llmproxy has
 * migrated further. Concurrent callers serialise on the advisory lock; the later one finds
 * nothing left to do.
 */
export async function migratePostgres(client: PoolClient, migrations: readonly string[] = PG_MIGRATIONS): Promise<void> {
  // Keyed by database too, so unrelated databases on one server do not wait for each other.
  await client.query('SELECT pg_advisory_lock($1, hashtext(current_database()))', [MIGRATION_LOCK]);
  try {
    await client.query('CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, applied_at BIGINT NOT NULL)');
    const { rows } = await client.query<{ v: number | null }>('SELECT MAX(version) AS v FROM schema_migrations');
    const current = rows[0]?.v ?? 0;
    if (current > migrations.length) {
      throw new Error(`the database schema (version ${current}) is newer than this llmproxy (version ${migrations.length}); upgrade llmproxy`);
    }
    for (let v = current; v < migrations.length; v++) {
      await client.query('BEGIN');
      try {
        const sql = migrations[v]!;
        if (sql.trim() !== '') await client.query(sql);
        await client.query('INSERT INTO schema_migrations (version, applied_at) VALUES ($1, $2)', [v + 1, Date.now()]);
        await client.query('COMMIT');
      } catch (err) {
        await client.query('ROLLBACK').catch(() => undefined);
        throw err;
      }
    }
  } finally {
    await client.query('SELECT pg_advisory_unlock($1, hashtext(current_database()))', [MIGRATION_LOCK]).catch(() => undefined);
  }
}
