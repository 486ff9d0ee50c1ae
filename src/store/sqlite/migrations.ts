import { AUDIT_DETAIL_MIGRATION, AUDIT_SEVERITY_MIGRATION } from './audit-detail.js';
import { GOVERNANCE_MIGRATION, RECORD_ID_MIGRATION } from './governance.js';
import { CONSOLE_SESSION_MIGRATION, IDENTITY_MIGRATION } from './identity.js';
import { RESPONSE_ITEMS_MIGRATION, RESPONSES_MIGRATION } from './responses.js';

/**
 * Versioned schema migrations, applied in order inside one transaction each; `PRAGMA
 * user_version` records the version reached. Append only: never edit a released migration.
 */
export const MIGRATIONS: readonly string[] = [
  // 1: API keys, the change counter the revocation watcher polls, the audit log.
  `
  CREATE TABLE api_keys (
    id           TEXT PRIMARY KEY,
    name         TEXT NOT NULL,
    user_id      TEXT,
    role         TEXT NOT NULL,
    secret_hash  TEXT NOT NULL,
    created_at   INTEGER NOT NULL,
    expires_at   INTEGER,
    revoked_at   INTEGER,
    last_used_at INTEGER,
    scopes       TEXT NOT NULL,
    limits       TEXT NOT NULL,
    rotated_from TEXT REFERENCES api_keys(id),
    rev          INTEGER NOT NULL
  );
  CREATE INDEX api_keys_rev ON api_keys(rev);
  CREATE TABLE counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
  INSERT INTO counters (name, value) VALUES ('api_keys_rev', 0);
  CREATE TABLE audit_log (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    time           INTEGER NOT NULL,
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
  // 2: users, TOTP enrolments, sessions.
  IDENTITY_MIGRATION,
  // 3: usage rows, settings.
  GOVERNANCE_MIGRATION,
  // 4: audit detail for admin changes.
  AUDIT_DETAIL_MIGRATION,
  // 5: record ids (journal replay writes each usage row and audit event once), the store's id.
  RECORD_ID_MIGRATION,
  // 6: stored Responses API responses.
  RESPONSES_MIGRATION,
  // 7: the stored responses holding each item, for item_reference input items.
  RESPONSE_ITEMS_MIGRATION,
  // 8: keys newest first (the admin key list pages through them without sorting every key).
  `CREATE INDEX api_keys_created ON api_keys(created_at, id);`,
  // 9: console sessions beside session tokens.
  CONSOLE_SESSION_MIGRATION,
  // 10: imported keys (`llmproxy keys import`) are found by SHA-256 of their secret, not by an id inside it.
  `ALTER TABLE api_keys ADD COLUMN lookup TEXT;
   CREATE UNIQUE INDEX api_keys_lookup ON api_keys(lookup);`,
  // 11: audit severity.
  AUDIT_SEVERITY_MIGRATION,
];
