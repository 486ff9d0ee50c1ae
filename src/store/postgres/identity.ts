import type pg from 'pg';
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
import type { PgDatabase } from './database.js';

type Row = Record<string, unknown>;

/**
 * Users, TOTP enrolments and sessions in PostgreSQL, with the semantics of
 * store/sqlite/identity.ts. Read-modify-write steps (TOTP replay guard, failure counting,
 * backup codes) lock the enrolment row (`FOR UPDATE`), so two replicas checking the same code
 * at once cannot both accept it. Security changes bump `identity_rev` inside their
 * transaction; `watch` listeners of this process run after the commit, other replicas poll
 * `currentRev()`.
 */
export function postgresIdentityStores(db: PgDatabase): IdentityStores {
  const listeners = new Set<() => void>();
  const notify = () => {
    for (const l of [...listeners]) l();
  };
  return {
    users: new PgUserStore(db, notify),
    totp: new PgTotpStore(db, notify),
    sessions: new PgSessionStore(db, notify),
    async currentRev() {
      const { rows } = await db.query(`SELECT value FROM counters WHERE name = 'identity_rev'`);
      return rows[0]!['value'] as number;
    },
    watch(listener) {
      listeners.add(listener);
      return () => void listeners.delete(listener);
    },
  };
}

/** Called inside the transaction of a security change. */
async function bump(c: pg.PoolClient): Promise<void> {
  await c.query(`UPDATE counters SET value = value + 1 WHERE name = 'identity_rev'`);
}

function toUser(r: Row): UserRecord {
  return {
    name: r['name'] as string,
    role: r['role'] as string,
    passwordHash: (r['password_hash'] as string | null) ?? null,
    disabled: r['disabled'] === true,
    scopes: r['scopes'] as UserRecord['scopes'],
    limits: r['limits'] as UserRecord['limits'],
    createdAt: r['created_at'] as number,
    updatedAt: r['updated_at'] as number,
    passwordChangedAt: r['password_changed_at'] as number,
  };
}

class PgUserStore implements UserStore {
  readonly #db: PgDatabase;
  readonly #notify: () => void;

  constructor(db: PgDatabase, notify: () => void) {
    this.#db = db;
    this.#notify = notify;
  }

  async create(user: NewUser): Promise<UserRecord> {
    const at = user.createdAt ?? Date.now();
    const record = await this.#db.transaction(async (c) => {
      const { rows } = await c.query(
        `INSERT INTO users (name, role, password_hash, disabled, scopes, limits, created_at, updated_at, password_changed_at)
         VALUES ($1, $2, $3, FALSE, $4, $5, $6, $6, $6) ON CONFLICT (name) DO NOTHING RETURNING *`,
        [user.name, user.role, user.passwordHash, JSON.stringify(user.scopes), JSON.stringify(user.limits), at],
      );
      if (!rows[0]) throw new IdentityConflictError(`a user named "${user.name}" exists`);
      await bump(c);
      return toUser(rows[0]);
    });
    this.#notify();
    return record;
  }

  async get(name: string): Promise<UserRecord | undefined> {
    const { rows } = await this.#db.query('SELECT * FROM users WHERE name = $1', [name]);
    return rows[0] ? toUser(rows[0]) : undefined;
  }

  async list(): Promise<UserRecord[]> {
    return (await this.#db.query('SELECT * FROM users ORDER BY name')).rows.map(toUser);
  }

  setPassword(name: string, passwordHash: string, at: number): Promise<UserRecord | undefined> {
    return this.#update('UPDATE users SET password_hash = $1, password_changed_at = $2, updated_at = $2 WHERE name = $3 RETURNING *', [passwordHash, at, name]);
  }

  setDisabled(name: string, disabled: boolean, at: number): Promise<UserRecord | undefined> {
    return this.#update('UPDATE users SET disabled = $1, updated_at = $2 WHERE name = $3 RETURNING *', [disabled, at, name]);
  }

  async delete(name: string, keyIds: readonly string[] = []): Promise<UserDeletion | undefined> {
    const deletion = await this.#db.transaction(async (c) => {
      if (((await c.query('DELETE FROM users WHERE name = $1', [name])).rowCount ?? 0) === 0) return undefined;
      const sessions = (await c.query('DELETE FROM sessions WHERE user_name = $1 OR key_id = ANY($2::text[])', [name, keyIds])).rowCount ?? 0;
      // Backup codes go with their enrolment (ON DELETE CASCADE).
      const subjects = [`user:${name}`, ...keyIds.map((id) => `key:${id}`)];
      const totpEnrolments = (await c.query('DELETE FROM totp_enrolments WHERE subject = ANY($1::text[])', [subjects])).rowCount ?? 0;
      await bump(c);
      return { sessions, totpEnrolments };
    });
    if (deletion) this.#notify();
    return deletion;
  }

  async #update(sql: string, args: unknown[]): Promise<UserRecord | undefined> {
    const record = await this.#db.transaction(async (c) => {
      const { rows } = await c.query(sql, args);
      if (!rows[0]) return undefined;
      await bump(c);
      return toUser(rows[0]);
    });
    if (record) this.#notify();
    return record;
  }
}

const SELECT_ENROLMENT = `SELECT e.*, (SELECT COUNT(*) FROM totp_backup_codes b WHERE b.subject = e.subject AND b.used_at IS NULL) AS backup_left
  FROM totp_enrolments e`;

function toEnrolment(r: Row): TotpEnrolment {
  return {
    subject: r['subject'] as TotpSubject,
    secret: r['secret'] as string,
    required: r['required'] === true,
    createdAt: r['created_at'] as number,
    lastStep: (r['last_step'] as number | null) ?? null,
    failures: r['failures'] as number,
    lockedUntil: (r['locked_until'] as number | null) ?? null,
    backupCodesLeft: Number(r['backup_left'] ?? 0),
  };
}

class PgTotpStore implements TotpStore {
  readonly #db: PgDatabase;
  readonly #notify: () => void;

  constructor(db: PgDatabase, notify: () => void) {
    this.#db = db;
    this.#notify = notify;
  }

  async enroll(e: { subject: TotpSubject; secret: string; required: boolean; backupCodes: readonly BackupCodeHash[]; createdAt: number }): Promise<TotpEnrolment> {
    const record = await this.#db.transaction(async (c) => {
      // Two replicas enrolling the same subject at once: one after the other, last one wins (as in SQLite).
      await c.query('SELECT pg_advisory_xact_lock(hashtext($1))', [`totp:${e.subject}`]);
      await c.query('DELETE FROM totp_enrolments WHERE subject = $1', [e.subject]);
      await c.query(
        'INSERT INTO totp_enrolments (subject, secret, required, created_at, last_step, failures, locked_until) VALUES ($1, $2, $3, $4, NULL, 0, NULL)',
        [e.subject, e.secret, e.required, e.createdAt],
      );
      if (e.backupCodes.length > 0) {
        await c.query(
          `INSERT INTO totp_backup_codes (subject, idx, salt, hash, used_at)
           SELECT $1, idx, salt, hash, NULL FROM unnest($2::int[], $3::text[], $4::text[]) AS v(idx, salt, hash)`,
          [e.subject, e.backupCodes.map((b) => b.index), e.backupCodes.map((b) => b.salt), e.backupCodes.map((b) => b.hash)],
        );
      }
      await bump(c);
      return toEnrolment((await c.query(`${SELECT_ENROLMENT} WHERE e.subject = $1`, [e.subject])).rows[0]!);
    });
    this.#notify();
    return record;
  }

  async get(subject: TotpSubject): Promise<TotpEnrolment | undefined> {
    const { rows } = await this.#db.query(`${SELECT_ENROLMENT} WHERE e.subject = $1`, [subject]);
    return rows[0] ? toEnrolment(rows[0]) : undefined;
  }

  async list(): Promise<TotpEnrolment[]> {
    return (await this.#db.query(`${SELECT_ENROLMENT} ORDER BY e.subject`)).rows.map(toEnrolment);
  }

  async subjects(kind: 'user' | 'key'): Promise<TotpSubject[]> {
    // COLLATE "C": byte order, as SQLite sorts.
    const { rows } = await this.#db.query('SELECT subject FROM totp_enrolments WHERE subject LIKE $1 ORDER BY subject COLLATE "C"', [`${kind}:%`]);
    return rows.map((r) => r['subject'] as TotpSubject);
  }

  async remove(subject: TotpSubject): Promise<boolean> {
    const removed = await this.#db.transaction(async (c) => {
      const n = (await c.query('DELETE FROM totp_enrolments WHERE subject = $1', [subject])).rowCount ?? 0;
      if (n > 0) await bump(c);
      return n > 0;
    });
    if (removed) this.#notify();
    return removed;
  }

  acceptStep(subject: TotpSubject, step: number, now: number): Promise<StepDecision> {
    return this.#db.transaction(async (c): Promise<StepDecision> => {
      const { rows } = await c.query('SELECT last_step, locked_until FROM totp_enrolments WHERE subject = $1 FOR UPDATE', [subject]);
      const row = rows[0];
      if (!row) return 'not_enrolled';
      const lockedUntil = row['locked_until'] as number | null;
      if (lockedUntil !== null && lockedUntil > now) return 'locked';
      const last = row['last_step'] as number | null;
      if (last !== null && step <= last) return 'replayed';
      await c.query('UPDATE totp_enrolments SET last_step = $1, failures = 0 WHERE subject = $2', [step, subject]);
      return 'ok';
    });
  }

  recordFailure(subject: TotpSubject, now: number, maxFailures: number, lockMs: number): Promise<{ lockedBefore: boolean; lockedUntil: number | null }> {
    return this.#db.transaction(async (c) => {
      const { rows } = await c.query('SELECT failures, locked_until FROM totp_enrolments WHERE subject = $1 FOR UPDATE', [subject]);
      const row = rows[0];
      if (!row) return { lockedBefore: false, lockedUntil: null };
      const lockedUntil = row['locked_until'] as number | null;
      if (lockedUntil !== null && lockedUntil > now) return { lockedBefore: true, lockedUntil };
      const failures = (row['failures'] as number) + 1;
      if (failures >= maxFailures) {
        await c.query('UPDATE totp_enrolments SET failures = 0, locked_until = $1 WHERE subject = $2', [now + lockMs, subject]);
        return { lockedBefore: false, lockedUntil: now + lockMs };
      }
      await c.query('UPDATE totp_enrolments SET failures = $1 WHERE subject = $2', [failures, subject]);
      return { lockedBefore: false, lockedUntil: null };
    });
  }

  async backupCodes(subject: TotpSubject): Promise<BackupCodeHash[]> {
    const { rows } = await this.#db.query('SELECT idx, salt, hash FROM totp_backup_codes WHERE subject = $1 AND used_at IS NULL ORDER BY idx', [subject]);
    return rows.map((r) => ({ index: r['idx'] as number, salt: r['salt'] as string, hash: r['hash'] as string }));
  }

  consumeBackupCode(subject: TotpSubject, index: number, now: number): Promise<boolean> {
    return this.#db.transaction(async (c) => {
      const { rows } = await c.query('SELECT locked_until FROM totp_enrolments WHERE subject = $1 FOR UPDATE', [subject]);
      const row = rows[0];
      if (!row) return false;
      const lockedUntil = row['locked_until'] as number | null;
      if (lockedUntil !== null && lockedUntil > now) return false;
      const used = (await c.query('UPDATE totp_backup_codes SET used_at = $1 WHERE subject = $2 AND idx = $3 AND used_at IS NULL', [now, subject, index])).rowCount === 1;
      if (used) await c.query('UPDATE totp_enrolments SET failures = 0 WHERE subject = $1', [subject]);
      return used;
    });
  }
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

class PgSessionStore implements SessionStore {
  readonly #db: PgDatabase;
  readonly #notify: () => void;

  constructor(db: PgDatabase, notify: () => void) {
    this.#db = db;
    this.#notify = notify;
  }

  async create(s: NewSession): Promise<SessionRecord> {
    checkSessionSubject(s);
    const { rows } = await this.#db.query(
      'INSERT INTO sessions (id, kind, secret_hash, key_id, user_name, principal, created_at, last_seen_at, expires_at, revoked_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $7, $8, NULL) RETURNING *',
      [s.id, s.kind ?? 'token', s.secretHash, s.keyId, s.user, s.principal ? JSON.stringify(s.principal) : null, s.createdAt, s.expiresAt],
    );
    return toSession(rows[0]!);
  }

  async get(id: string): Promise<SessionRecord | undefined> {
    const { rows } = await this.#db.query('SELECT * FROM sessions WHERE id = $1', [id]);
    return rows[0] ? toSession(rows[0]) : undefined;
  }

  async touch(id: string, at: number): Promise<void> {
    await this.#db.query('UPDATE sessions SET last_seen_at = $1 WHERE id = $2 AND (last_seen_at IS NULL OR last_seen_at < $1)', [at, id]);
  }

  async revoke(id: string, at: number): Promise<SessionRecord | undefined> {
    const record = await this.#db.transaction(async (c) => {
      const { rows } = await c.query('SELECT * FROM sessions WHERE id = $1 FOR UPDATE', [id]);
      if (!rows[0]) return undefined;
      if (rows[0]['revoked_at'] == null) {
        await c.query('UPDATE sessions SET revoked_at = $1 WHERE id = $2', [at, id]);
        await bump(c);
      }
      return toSession((await c.query('SELECT * FROM sessions WHERE id = $1', [id])).rows[0]!);
    });
    if (record) this.#notify();
    return record;
  }

  async prune(before: number): Promise<number> {
    return (await this.#db.query('DELETE FROM sessions WHERE expires_at < $1', [before])).rowCount ?? 0;
  }
}
