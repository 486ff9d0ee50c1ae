import type { KeyLimits, KeyScopes } from './access-types.js';

/**
 * Stores for users (Basic auth), TOTP enrolments and session tokens. SQLite implements them in
 * store/sqlite/identity.ts; a networked store (PostgreSQL) implements the same interfaces.
 *
 * Rules every implementation keeps:
 * - Every method is async and atomic on its own (one transaction each).
 * - Every *security-relevant* change (user created, password changed, user disabled or enabled,
 *   TOTP enrolled or removed, session revoked) increments one store-wide counter, `currentRev()`,
 *   and calls the `watch` listeners registered on this object (changes made in this process are
 *   seen at once; other processes see them by polling `currentRev()`). Per-request bookkeeping
 *   (`acceptStep`, `recordFailure`, `consumeBackupCode`, session creation) does not.
 * - No method logs or puts a secret, hash or TOTP secret in an error message.
 */
export interface IdentityStores {
  readonly users: UserStore;
  readonly totp: TotpStore;
  readonly sessions: SessionStore;
  /** The identity change counter (see above). */
  currentRev(): Promise<number>;
  /**
   * Calls `listener` after every security-relevant change made through this object, in this
   * process; returns a function that removes the listener.
   */
  watch(listener: () => void): () => void;
}

/** A Basic-auth user. `name` is the primary key (what the client sends before the colon). */
export interface UserRecord {
  name: string;
  role: string;
  /** argon2id hash of the password; null for a user without a password (cannot use Basic). */
  passwordHash: string | null;
  disabled: boolean;
  scopes: KeyScopes;
  limits: KeyLimits;
  createdAt: number;
  updatedAt: number;
  /** When the password was last set; sessions created before it are refused. */
  passwordChangedAt: number;
}

export type NewUser = Pick<UserRecord, 'name' | 'role' | 'passwordHash' | 'scopes' | 'limits'> & { createdAt?: number };

/** Thrown by `UserStore.create` when the name is taken. The message names the user only. */
export class IdentityConflictError extends Error {
  override readonly name = 'IdentityConflictError';
}

/**
 * @example
 * await store.identity.users.create({ name: 'alice', role: 'developer', passwordHash, scopes, limits });
 * await store.identity.users.setDisabled('alice', true, Date.now());
 */
export interface UserStore {
  /** Throws IdentityConflictError when a user with that name exists. */
  create(user: NewUser): Promise<UserRecord>;
  get(name: string): Promise<UserRecord | undefined>;
  /** Ordered by name. */
  list(): Promise<UserRecord[]>;
  /** Sets the password hash and `passwordChangedAt = at`; undefined when there is no such user. */
  setPassword(name: string, passwordHash: string, at: number): Promise<UserRecord | undefined>;
  setDisabled(name: string, disabled: boolean, at: number): Promise<UserRecord | undefined>;
  /**
   * Deletes the user with its TOTP enrolment and backup codes and its sessions, and the sessions
   * and enrolments of the keys `keyIds` (the user's keys, revoked first by the caller), in one
   * transaction; bumps the counter. Undefined when there is no such user.
   */
  delete(name: string, keyIds?: readonly string[]): Promise<UserDeletion | undefined>;
}

/** What `UserStore.delete` removed besides the user. */
export interface UserDeletion {
  sessions: number;
  /** TOTP enrolments removed (the user's and its keys'), each with its backup codes. */
  totpEnrolments: number;
}

/**
 * Whose second factor: `key:<key id>` or `user:<user name>`.
 */
export type TotpSubject = `key:${string}` | `user:${string}`;

export interface TotpEnrolment {
  subject: TotpSubject;
  /**
   * The TOTP secret as stored: `plain:<base32>` or `aes-256-gcm:<iv>:<tag>:<ciphertext>` (see
   * clientauth/totp/secret-box.ts). Opaque to the store.
   */
  secret: string;
  /** Whether requests of this subject must present a second factor. */
  required: boolean;
  createdAt: number;
  /** The highest RFC 6238 time step accepted so far (replay guard); null before the first use. */
  lastStep: number | null;
  /** Wrong codes since the last success or lockout. */
  failures: number;
  /** Until when (epoch ms) the second factor is locked; null or past means not locked. */
  lockedUntil: number | null;
  /** Backup codes not used yet. */
  backupCodesLeft: number;
}

/** One stored backup code: HMAC-SHA256(salt, code), hex; never the code. */
export interface BackupCodeHash {
  index: number;
  salt: string;
  hash: string;
}

export type StepDecision = 'ok' | 'replayed' | 'locked' | 'not_enrolled';

/**
 * @example
 * await totp.enroll({ subject: 'key:abc', secret: 'plain:JBSW...', required: true, backupCodes, createdAt: now });
 * await totp.acceptStep('key:abc', 58_000_001, now); // 'ok', then 'replayed' for the same step
 */
export interface TotpStore {
  /** Creates or replaces the enrolment of `subject` and all its backup codes, atomically. Bumps the counter. */
  enroll(e: { subject: TotpSubject; secret: string; required: boolean; backupCodes: readonly BackupCodeHash[]; createdAt: number }): Promise<TotpEnrolment>;
  get(subject: TotpSubject): Promise<TotpEnrolment | undefined>;
  list(): Promise<TotpEnrolment[]>;
  /** The enrolled subjects of one kind (`user:…` or `key:…`), sorted; no secrets read (the admin API's user list). */
  subjects(kind: 'user' | 'key'): Promise<TotpSubject[]>;
  /** Removes the enrolment and its backup codes; false when there was none. Bumps the counter. */
  remove(subject: TotpSubject): Promise<boolean>;
  /**
   * Atomically: `locked` if `lockedUntil > now`; `replayed` if `step <= lastStep`; otherwise
   * sets `lastStep = step`, `failures = 0` and returns `ok`.
   */
  acceptStep(subject: TotpSubject, step: number, now: number): Promise<StepDecision>;
  /**
   * Atomically records one wrong code. When already locked (`lockedUntil > now`) changes nothing
   * and returns `lockedBefore: true`. Otherwise increments `failures`; when it reaches
   * `maxFailures`, sets `lockedUntil = now + lockMs` and `failures = 0`.
   */
  recordFailure(subject: TotpSubject, now: number, maxFailures: number, lockMs: number): Promise<{ lockedBefore: boolean; lockedUntil: number | null }>;
  /** Unused backup codes of `subject`. */
  backupCodes(subject: TotpSubject): Promise<BackupCodeHash[]>;
  /**
   * Atomically marks backup code `index` used if it is unused and the subject is not locked,
   * and resets `failures`; returns whether this call consumed it.
   */
  consumeBackupCode(subject: TotpSubject, index: number, now: number): Promise<boolean>;
}

/**
 * A session's record; only SHA-256 of its secret is stored. `token` sessions are the bearer
 * tokens of `POST /auth/v1/session` (`llms_<id>_<secret>`); `console` sessions are the admin
 * console's cookies (src/console/), which also expire after a stretch without use.
 */
export interface SessionRecord {
  id: string;
  kind: 'token' | 'console';
  /** SHA-256 of the secret part, hex. */
  secretHash: string;
  /** Exactly one of keyId / user / principal is set: the subject the session stands for. */
  keyId: string | null;
  user: string | null;
  /** A federated (OIDC) sign-in's principal as it was at sign-in; its identity provider owns the rest. */
  principal: SessionPrincipal | null;
  createdAt: number;
  /** Last use recorded (at most about once a minute); `createdAt` until then. */
  lastSeenAt: number;
  expiresAt: number;
  revokedAt: number | null;
}

/** What a console session keeps of an OIDC principal: no token, no claim beyond these. */
export interface SessionPrincipal {
  id: string;
  user: string;
  roles: string[];
}

/** Refuses a session that does not name exactly one subject (key, user or federated principal). */
export function checkSessionSubject(s: Pick<SessionRecord, 'keyId' | 'user'> & { principal?: SessionPrincipal | null }): void {
  const subjects = [s.keyId, s.user, s.principal ?? null].filter((x) => x !== null).length;
  if (subjects !== 1) throw new Error('a session stands for exactly one key, one user or one federated principal');
}

export type NewSession = Omit<SessionRecord, 'revokedAt' | 'lastSeenAt' | 'kind' | 'principal'> & Partial<Pick<SessionRecord, 'kind' | 'principal'>>;

export interface SessionStore {
  create(s: NewSession): Promise<SessionRecord>;
  get(id: string): Promise<SessionRecord | undefined>;
  /** Records a use at `at` (console sessions' idle expiry); not an identity change. */
  touch(id: string, at: number): Promise<void>;
  /** Revokes one session (bumps the counter); undefined when there is no such session. */
  revoke(id: string, at: number): Promise<SessionRecord | undefined>;
  /** Deletes sessions that expired before `before`; returns how many. */
  prune(before: number): Promise<number>;
}
