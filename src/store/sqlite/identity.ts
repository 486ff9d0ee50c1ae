import type Database from 'better-sqlite3';
import {
  IdentityConflictError,
  type BackupCodeHash,
  type IdentityStores,
  type NewUser,
  checkSessionSubject,
  type NewSession,
  type SessionPrincipal,
  type SessionRecord,
  type SessionStore,
  type StepDecision,
  type TotpEnrolment,
  type TotpStore,
  type TotpSubject,
  type UserRecord,
  type UserStore,
  type UserDeletion,
} from '../identity-types.js';

/** Migration 2: users, TOTP enrolments and their backup codes, sessions, the identity change counter. */
export const IDENTITY_MIGRATION = `
  CREATE TABLE users (
    name                TEXT PRIMARY KEY,
    role                TEXT NOT NULL,
    password_hash       TEXT,
    disabled            INTEGER NOT NULL DEFAULT 0,
    scopes              TEXT NOT NULL,
    limits              TEXT NOT NULL,
    created_at          INTEGER NOT NULL,
    updated_at          INTEGER NOT NULL,
    password_changed_at INTEGER NOT NULL
  );
  CREATE TABLE totp_enrolments (
    subject      TEXT PRIMARY KEY,
    secret       TEXT NOT NULL,
    required     INTEGER NOT NULL,
    created_at   INTEGER NOT NULL,
    last_step    INTEGER,
    failures     INTEGER NOT NULL DEFAULT 0,
    locked_until INTEGER
  );
  CREATE TABLE totp_backup_codes (
    subject TEXT NOT NULL REFERENCES totp_enrolments(subject) ON DELETE CASCADE,
    idx     INTEGER NOT NULL,
    salt    TEXT NOT NULL,
    hash    TEXT NOT NULL,
    used_at INTEGER,
    PRIMARY KEY (subject, idx)
  );
  CREATE TABLE sessions (
    id          TEXT PRIMARY KEY,
    secret_hash TEXT NOT NULL,
    key_id      TEXT,
    user_name   TEXT,
    created_at  INTEGER NOT NULL,
    expires_at  INTEGER NOT NULL,
    revoked_at  INTEGER
  );
  CREATE INDEX sessions_expires ON sessions(expires_at);
  INSERT INTO counters (name, value) VALUES ('identity_rev', 0);
`;

/** Migration 9: console sessions (src/console/) beside session tokens: their kind, an OIDC principal, the last use. */
export const CONSOLE_SESSION_MIGRATION = `
  ALTER TABLE sessions ADD COLUMN kind TEXT NOT NULL DEFAULT 'token';
  ALTER TABLE sessions ADD COLUMN principal TEXT;
  ALTER TABLE sessions ADD COLUMN last_seen_at INTEGER;
`;

type Row = Record<string, unknown>;

export function sqliteIdentityStores(db: Database.Database): IdentityStores {
  const listeners = new Set<() => void>();
  const bumpStmt = db.prepare(`UPDATE counters SET value = value + 1 WHERE name = 'identity_rev'`);
  // Called inside the transaction of a change; listeners run after it committed.
  const bump = () => void bumpStmt.run();
  const notify = () => {
    for (const l of [...listeners]) l();
  };
  return {
    users: new SqliteUserStore(db, bump, notify),
    totp: new SqliteTotpStore(db, bump, notify),
    sessions: new SqliteSessionStore(db, bump, notify),
    async currentRev() {
      return (db.prepare(`SELECT value FROM counters WHERE name = 'identity_rev'`).get() as { value: number }).value;
    },
    watch(listener) {
      listeners.add(listener);
      return () => void listeners.delete(listener);
    },
  };
}

function toUser(r: Row): UserRecord {
  return {
    name: r['name'] as string,
    role: r['role'] as string,
    passwordHash: (r['password_hash'] as string | null) ?? null,
    disabled: r['disabled'] === 1,
    scopes: JSON.parse(r['scopes'] as string) as UserRecord['scopes'],
    limits: JSON.parse(r['limits'] as string) as UserRecord['limits'],
    createdAt: r['created_at'] as number,
    updatedAt: r['updated_at'] as number,
    passwordChangedAt: r['password_changed_at'] as number,
  };
}

class SqliteUserStore implements UserStore {
  readonly #db: Database.Database;
  readonly #bump: () => void;
  readonly #notify: () => void;
  readonly #get: Database.Statement;

  constructor(db: Database.Database, bump: () => void, notify: () => void) {
    this.#db = db;
    this.#bump = bump;
    this.#notify = notify;
    this.#get = db.prepare('SELECT * FROM users WHERE name = ?');
  }

  async create(user: NewUser): Promise<UserRecord> {
    const at = user.createdAt ?? Date.now();
    const record = this.#db
      .transaction(() => {
        if (this.#get.get(user.name)) throw new IdentityConflictError(`a user named "${user.name}" exists`);
        this.#db
          .prepare(
            `INSERT INTO users (name, role, password_hash, disabled, scopes, limits, created_at, updated_at, password_changed_at)
             VALUES (?, ?, ?, 0, ?, ?, ?, ?, ?)`,
          )
          .run(user.name, user.role, user.passwordHash, JSON.stringify(user.scopes), JSON.stringify(user.limits), at, at, at);
        this.#bump();
        return toUser(this.#get.get(user.name) as Row);
      })
      .immediate();
    this.#notify();
    return record;
  }

  async get(name: string): Promise<UserRecord | undefined> {
    const row = this.#get.get(name) as Row | undefined;
    return row ? toUser(row) : undefined;
  }

  async list(): Promise<UserRecord[]> {
    return (this.#db.prepare('SELECT * FROM users ORDER BY name').all() as Row[]).map(toUser);
  }

  async setPassword(name: string, passwordHash: string, at: number): Promise<UserRecord | undefined> {
    return this.#update(name, 'UPDATE users SET password_hash = ?, password_changed_at = ?, updated_at = ? WHERE name = ?', [passwordHash, at, at, name]);
  }

  async setDisabled(name: string, disabled: boolean, at: number): Promise<UserRecord | undefined> {
    return this.#update(name, 'UPDATE users SET disabled = ?, updated_at = ? WHERE name = ?', [disabled ? 1 : 0, at, name]);
  }

  async delete(name: string, keyIds: readonly string[] = []): Promise<UserDeletion | undefined> {
    const deletion = this.#db
      .transaction(() => {
        if (this.#db.prepare('DELETE FROM users WHERE name = ?').run(name).changes === 0) return undefined;
        const removeSessions = this.#db.prepare('DELETE FROM sessions WHERE key_id = ?');
        // Backup codes go with their enrolment (ON DELETE CASCADE).
        const removeEnrolment = this.#db.prepare('DELETE FROM totp_enrolments WHERE subject = ?');
        let sessions = this.#db.prepare('DELETE FROM sessions WHERE user_name = ?').run(name).changes;
        let totpEnrolments = removeEnrolment.run(`user:${name}`).changes;
        for (const id of keyIds) {
          sessions += removeSessions.run(id).changes;
          totpEnrolments += removeEnrolment.run(`key:${id}`).changes;
        }
        this.#bump();
        return { sessions, totpEnrolments };
      })
      .immediate();
    if (deletion) this.#notify();
    return deletion;
  }

  #update(name: string, sql: string, args: unknown[]): UserRecord | undefined {
    const record = this.#db
      .transaction(() => {
        if (this.#db.prepare(sql).run(...args).changes === 0) return undefined;
        this.#bump();
        return toUser(this.#get.get(name) as Row);
      })
      .immediate();
    if (record) this.#notify();
    return record;
  }
}

class SqliteTotpStore implements TotpStore {
  readonly #db: Database.Database;
  readonly #bump: () => void;
  readonly #notify: () => void;
  readonly #get: Database.Statement;

  constructor(db: Database.Database, bump: () => void, notify: () => void) {
    this.#db = db;
    this.#bump = bump;
    this.#notify = notify;
    this.#get = db.prepare(
      `SELECT e.*, (SELECT COUNT(*) FROM totp_backup_codes b WHERE b.subject = e.subject AND b.used_at IS NULL) AS backup_left
       FROM totp_enrolments e WHERE e.subject = ?`,
    );
  }

  async enroll(e: { subject: TotpSubject; secret: string; required: boolean; backupCodes: readonly BackupCodeHash[]; createdAt: number }): Promise<TotpEnrolment> {
    const record = this.#db
      .transaction(() => {
        this.#db.prepare('DELETE FROM totp_enrolments WHERE subject = ?').run(e.subject);
        this.#db
          .prepare('INSERT INTO totp_enrolments (subject, secret, required, created_at, last_step, failures, locked_until) VALUES (?, ?, ?, ?, NULL, 0, NULL)')
          .run(e.subject, e.secret, e.required ? 1 : 0, e.createdAt);
        const insert = this.#db.prepare('INSERT INTO totp_backup_codes (subject, idx, salt, hash, used_at) VALUES (?, ?, ?, ?, NULL)');
        for (const c of e.backupCodes) insert.run(e.subject, c.index, c.salt, c.hash);
        this.#bump();
        return toEnrolment(this.#get.get(e.subject) as Row);
      })
      .immediate();
    this.#notify();
    return record;
  }

  async get(subject: TotpSubject): Promise<TotpEnrolment | undefined> {
    const row = this.#get.get(subject) as Row | undefined;
    return row ? toEnrolment(row) : undefined;
  }

  async list(): Promise<TotpEnrolment[]> {
    const rows = this.#db
      .prepare(
        `SELECT e.*, (SELECT COUNT(*) FROM totp_backup_codes b WHERE b.subject = e.subject AND b.used_at IS NULL) AS backup_left
         FROM totp_enrolments e ORDER BY e.subject`,
      )
      .all() as Row[];
    return rows.map(toEnrolment);
  }

  async subjects(kind: 'user' | 'key'): Promise<TotpSubject[]> {
    // The prefix is one of two fixed strings; LIKE sees no wildcard in it.
    const rows = this.#db.prepare('SELECT subject FROM totp_enrolments WHERE subject LIKE ? ORDER BY subject').all(`${kind}:%`) as Array<{ subject: TotpSubject }>;
    return rows.map((r) => r.subject);
  }

  async remove(subject: TotpSubject): Promise<boolean> {
    const removed = this.#db
      .transaction(() => {
        const n = this.#db.prepare('DELETE FROM totp_enrolments WHERE subject = ?').run(subject).changes;
        if (n > 0) this.#bump();
        return n > 0;
      })
      .immediate();
    if (removed) this.#notify();
    return removed;
  }

  async acceptStep(subject: TotpSubject, step: number, now: number): Promise<StepDecision> {
    return this.#db
      .transaction((): StepDecision => {
        const row = this.#db.prepare('SELECT last_step, locked_until FROM totp_enrolments WHERE subject = ?').get(subject) as Row | undefined;
        if (!row) return 'not_enrolled';
        const lockedUntil = row['locked_until'] as number | null;
        if (lockedUntil !== null && lockedUntil > now) return 'locked';
        const last = row['last_step'] as number | null;
        if (last !== null && step <= last) return 'replayed';
        this.#db.prepare('UPDATE totp_enrolments SET last_step = ?, failures = 0 WHERE subject = ?').run(step, subject);
        return 'ok';
      })
      .immediate();
  }

  async recordFailure(subject: TotpSubject, now: number, maxFailures: number, lockMs: number): Promise<{ lockedBefore: boolean; lockedUntil: number | null }> {
    return this.#db
      .transaction(() => {
        const row = this.#db.prepare('SELECT failures, locked_until FROM totp_enrolments WHERE subject = ?').get(subject) as Row | undefined;
        if (!row) return { lockedBefore: false, lockedUntil: null };
        const lockedUntil = row['locked_until'] as number | null;
        if (lockedUntil !== null && lockedUntil > now) return { lockedBefore: true, lockedUntil };
        const failures = (row['failures'] as number) + 1;
        if (failures >= maxFailures) {
          this.#db.prepare('UPDATE totp_enrolments SET failures = 0, locked_until = ? WHERE subject = ?').run(now + lockMs, subject);
          return { lockedBefore: false, lockedUntil: now + lockMs };
        }
        this.#db.prepare('UPDATE totp_enrolments SET failures = ? WHERE subject = ?').run(failures, subject);
        return { lockedBefore: false, lockedUntil: null };
      })
      .immediate();
  }

  async backupCodes(subject: TotpSubject): Promise<BackupCodeHash[]> {
    const rows = this.#db.prepare('SELECT idx, salt, hash FROM totp_backup_codes WHERE subject = ? AND used_at IS NULL ORDER BY idx').all(subject) as Row[];
    return rows.map((r) => ({ index: r['idx'] as number, salt: r['salt'] as string, hash: r['hash'] as string }));
  }

  async consumeBackupCode(subject: TotpSubject, index: number, now: number): Promise<boolean> {
    return this.#db
      .transaction(() => {
        const row = this.#db.prepare('SELECT locked_until FROM totp_enrolments WHERE subject = ?').get(subject) as Row | undefined;
        if (!row) return false;
        const lockedUntil = row['locked_until'] as number | null;
        if (lockedUntil !== null && lockedUntil > now) return false;
        const used = this.#db.prepare('UPDATE totp_backup_codes SET used_at = ? WHERE subject = ? AND idx = ? AND used_at IS NULL').run(now, subject, index).changes === 1;
        if (used) this.#db.prepare('UPDATE totp_enrolments SET failures = 0 WHERE subject = ?').run(subject);
        return used;
      })
      .immediate();
  }
}

function toEnrolment(r: Row): TotpEnrolment {
  return {
    subject: r['subject'] as TotpSubject,
    secret: r['secret'] as string,
    required: r['required'] === 1,
    createdAt: r['created_at'] as number,
    lastStep: (r['last_step'] as number | null) ?? null,
    failures: r['failures'] as number,
    lockedUntil: (r['locked_until'] as number | null) ?? null,
    backupCodesLeft: (r['backup_left'] as number | undefined) ?? 0,
  };
}

function toSession(r: Row): SessionRecord {
  return {
    id: r['id'] as string,
    secretHash: r['secret_hash'] as string,
    kind: r['kind'] === 'console' ? 'console' : 'token',
    keyId: (r['key_id'] as string | null) ?? null,
    user: (r['user_name'] as string | null) ?? null,
    principal: r['principal'] == null ? null : (JSON.parse(r['principal'] as string) as SessionPrincipal),
    createdAt: r['created_at'] as number,
    lastSeenAt: (r['last_seen_at'] as number | null) ?? (r['created_at'] as number),
    expiresAt: r['expires_at'] as number,
    revokedAt: (r['revoked_at'] as number | null) ?? null,
  };
}

class SqliteSessionStore implements SessionStore {
  readonly #db: Database.Database;
  readonly #bump: () => void;
  readonly #notify: () => void;
  readonly #get: Database.Statement;

  constructor(db: Database.Database, bump: () => void, notify: () => void) {
    this.#db = db;
    this.#bump = bump;
    this.#notify = notify;
    this.#get = db.prepare('SELECT * FROM sessions WHERE id = ?');
  }

  async create(s: NewSession): Promise<SessionRecord> {
    checkSessionSubject(s);
    this.#db
      .prepare('INSERT INTO sessions (id, kind, secret_hash, key_id, user_name, principal, created_at, last_seen_at, expires_at, revoked_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, NULL)')
      .run(s.id, s.kind ?? 'token', s.secretHash, s.keyId, s.user, s.principal ? JSON.stringify(s.principal) : null, s.createdAt, s.createdAt, s.expiresAt);
    return toSession(this.#get.get(s.id) as Row);
  }

  async get(id: string): Promise<SessionRecord | undefined> {
    const row = this.#get.get(id) as Row | undefined;
    return row ? toSession(row) : undefined;
  }

  async touch(id: string, at: number): Promise<void> {
    this.#db.prepare('UPDATE sessions SET last_seen_at = ? WHERE id = ? AND (last_seen_at IS NULL OR last_seen_at < ?)').run(at, id, at);
  }

  async revoke(id: string, at: number): Promise<SessionRecord | undefined> {
    const record = this.#db
      .transaction(() => {
        const row = this.#get.get(id) as Row | undefined;
        if (!row) return undefined;
        if (row['revoked_at'] == null) {
          this.#db.prepare('UPDATE sessions SET revoked_at = ? WHERE id = ?').run(at, id);
          this.#bump();
        }
        return toSession(this.#get.get(id) as Row);
      })
      .immediate();
    if (record) this.#notify();
    return record;
  }

  async prune(before: number): Promise<number> {
    return this.#db.prepare('DELETE FROM sessions WHERE expires_at < ?').run(before).changes;
  }
}
