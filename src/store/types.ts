import type { KeyLimits, KeyScopes } from './access-types.js';
import type { GovernanceStores } from './governance-types.js';
import type { IdentityStores } from './identity-types.js';
import type { ResponseStore } from './response-types.js';

/**
 * Storage interfaces. SQLite implements them now (store/sqlite/); PostgreSQL and Redis will
 * implement the same ones. Methods are async so a networked store fits the same shape.
 */

export interface KeyRecord {
  /** The public id part of the key (`llmp_<id>_...`). */
  id: string;
  name: string;
  user: string | null;
  role: string;
  /** argon2id hash of the secret part. */
  secretHash: string;
  createdAt: number;
  expiresAt: number | null;
  revokedAt: number | null;
  lastUsedAt: number | null;
  scopes: KeyScopes;
  limits: KeyLimits;
  /** The key this one replaced through `keys rotate`, if any. */
  rotatedFrom: string | null;
  /** Store-wide change counter at the last security-relevant change (see `changesSince`). */
  rev: number;
  /**
   * Imported keys only (`llmproxy keys import`): SHA-256 of the whole presented secret, hex, by
   * which a key that is not `llmp_<id>_...` is found; unique. null for keys the gateway issued.
   */
  lookup?: string | null;
}

export type NewKey = Omit<KeyRecord, 'createdAt' | 'revokedAt' | 'lastUsedAt' | 'rev'> & { createdAt?: number };

export interface KeyStore {
  create(key: NewKey): Promise<KeyRecord>;
  /** Creates `key` only if the store holds no key at all (first-start bootstrap); atomic. */
  createIfEmpty(key: NewKey): Promise<KeyRecord | undefined>;
  get(id: string): Promise<KeyRecord | undefined>;
  /** The imported key whose `lookup` is `lookup` (revoked or not), if any. */
  findByLookup(lookup: string): Promise<KeyRecord | undefined>;
  list(): Promise<KeyRecord[]>;
  /**
   * The keys matching `q`, newest first (`created_at` DESC, then `id` DESC), one page of them,
   * and how many match in all. Filters and paging run in the database, so a store with many
   * keys answers without reading them all.
   *
   * @example
   * const { records, total } = await store.keys.search({ text: 'ci', status: 'active', limit: 50, offset: 0 });
   */
  search(q: KeyQuery): Promise<{ records: KeyRecord[]; total: number }>;
  /** Sets `revokedAt` (if not already revoked); returns the updated record. */
  revoke(id: string, at: number): Promise<KeyRecord | undefined>;
  /**
   * Creates `replacement` and limits the old key's life to `oldExpiresAt` (revokes it when
   * that is now or earlier), in one transaction.
   */
  rotate(oldId: string, replacement: NewKey, oldExpiresAt: number): Promise<{ old: KeyRecord; replacement: KeyRecord }>;
  /**
   * Writes `replacement` (a pseudonym, or null) as the user of every key of `user` (after the
   * user's deletion revoked them); not a security change, so `rev` is not bumped. Returns how many.
   */
  eraseUser(user: string, replacement: string | null): Promise<number>;
  /** Records last-use times in one batch; not a security change, so `rev` is not bumped. */
  touch(lastUsed: ReadonlyMap<string, number>): Promise<void>;
  /** The current change counter. */
  currentRev(): Promise<number>;
  /** Keys changed after `rev` (revocations, expiry changes), and the new counter. */
  changesSince(rev: number): Promise<{ records: KeyRecord[]; rev: number }>;
}

export type KeyStatus = 'active' | 'revoked' | 'expired';

/** What `KeyStore.search` looks for; every given filter must hold. */
export interface KeyQuery {
  /** Case-insensitive substring of the id, the name or the user. */
  text?: string;
  /** As `keyStatus` (clientauth/api-key/view.ts) computes it at `now`. */
  status?: KeyStatus;
  role?: string;
  user?: string;
  /** Keys whose scopes allow this instance: `scopes.instances` null or holding it. */
  instance?: string;
  /** Keys created before this time (epoch ms): `keys list --stale 60d` is `createdBefore: now - 60d`. */
  createdBefore?: number;
  /** Keys created at or after this time (epoch ms). */
  createdSince?: number;
  /** At most this many records; every match when absent. */
  limit?: number;
  /** Skip this many matches first (default 0). */
  offset?: number;
  /** The time `status` is judged at (default: now). */
  now?: number;
}

export type AuditResult = 'success' | 'failure' | 'denied' | 'throttled';

/** How urgently an audit event wants a human: `critical` (lockdown on), `warning` (a refusal, a failing credential), `info`. */
export type AuditSeverity = 'info' | 'warning' | 'critical';

/** One authentication or authorization decision. Never holds a secret. */
export interface AuditEvent {
  time: number;
  requestId: string;
  /** Unique per event, given by the audit trail; the store writes an event with a given `recordId` once (journal replay, retried batch). */
  recordId?: string;
  /** `auth` for request authentication; later kinds (admin changes) add their own. */
  event: string;
  result: AuditResult;
  /** Why, for anything but success: `missing`, `malformed`, `unknown_key`, `bad_secret`, `revoked`, `expired`, a 403 code... */
  reason: string | null;
  method: string;
  keyId: string | null;
  user: string | null;
  clientAddress: string;
  httpMethod: string;
  /** Path without the query string (queries can carry secrets). */
  path: string;
  instance: string | null;
  /** Admin changes: what changed (`target`, `before`, `after`, ...), never a secret. */
  detail?: AuditDetail | null;
  /** How much the event matters. Absent: derived from `event` and `result` when the event is recorded (store/audit-severity.ts); alerts such as usage anomalies are `warning`. */
  severity?: AuditSeverity;
}

export type AuditDetail = Readonly<Record<string, unknown>>;

/** An audit event as stored, with the store's id for it (unique and stable in this store). */
export interface StoredAuditEvent extends AuditEvent {
  id: number;
}

/** Where a page of audit events ended: the last event's time and id (events are ordered by both, newest first). */
export interface AuditPosition {
  time: number;
  id: number;
}

/** What `AuditLog.query` / `search` look for; every given filter must hold. */
export interface AuditQuery {
  /** From this time on (inclusive). */
  since?: number;
  /** Before this time (exclusive). */
  until?: number;
  /** Only events of this kind (`auth`, `admin`, ...). */
  event?: string;
  keyId?: string;
  user?: string;
  instance?: string;
  result?: AuditResult;
  severity?: AuditSeverity;
  /** Case-insensitive substring of the path, the reason or the request id. */
  text?: string;
  /** Only events after this one in newest-first order: the next page. */
  after?: AuditPosition;
  /** At most this many events (default 100). */
  limit?: number;
}

/**
 * @example
 * const page = await store.audit.search({ event: 'admin', limit: 50 });
 * const next = await store.audit.search({ event: 'admin', limit: 50, after: page.at(-1) });
 */
export interface AuditLog {
  /** Appends events in one transaction; an event whose `recordId` is already stored is skipped. */
  append(events: readonly AuditEvent[]): Promise<void>;
  /** Matching events, newest first (time DESC, then id DESC). */
  query(q: AuditQuery): Promise<AuditEvent[]>;
  /** As `query`, each event with its store id. */
  search(q: AuditQuery): Promise<StoredAuditEvent[]>;
  /** The event with store id `id`. */
  get(id: number): Promise<StoredAuditEvent | undefined>;
  /** Deletes events older than `before`, at most `limit` of them (oldest first) when given; returns how many. */
  prune(before: number, limit?: number): Promise<number>;
  /**
   * Erases a user from these events: with `replacement` null deletes the events naming `user`; otherwise
   * writes `replacement` (a pseudonym) in their place, keeping the aggregates. Returns how many events.
   */
  eraseUser(user: string, replacement: string | null): Promise<number>;
}

/**
 * Shared counters for rate limits: fixed windows (requests and tokens per minute) and in-flight
 * gauges. In memory for one process; Redis (store/redis/) when replicas share limits. Every
 * operation is atomic, so concurrent replicas never admit beyond a limit.
 */
export interface CounterStore {
  /**
   * Adds `amount` to counter `key` in the current window of `windowMs` unless the total would
   * exceed `limit`; returns whether it was added, the total after the decision, and when the
   * window ends (epoch ms).
   */
  tryAdd(key: string, amount: number, limit: number, windowMs: number): Promise<{ admitted: boolean; total: number; resetAt: number }>;
  /** Adds unconditionally (a correction; may be negative). */
  add(key: string, amount: number, windowMs: number): Promise<{ total: number; resetAt: number }>;
  /** Takes one in-flight slot of `key` if fewer than `limit` are taken; a slot lapses after `ttlMs` if never released. */
  acquire(key: string, limit: number, ttlMs: number): Promise<boolean>;
  release(key: string): Promise<void>;
  /** Throws when a networked store does not answer (for /ready); absent in memory. */
  ping?(): Promise<void>;
  close(): Promise<void>;
}

/**
 * Monthly budget spend shared by every replica (Redis), in integer micro-dollars, per field:
 * `g` (gateway-wide), `k:<key id>`, `u:<user>`. `month` is the month's first instant (epoch ms).
 */
export interface BudgetCounters {
  budgetSpent(month: number, fields: readonly string[]): Promise<number[]>;
  /** Adds `micros` to every field, atomically. */
  budgetCharge(month: number, fields: readonly string[], micros: number): Promise<void>;
  /** Raises each field to at least its total; never lowers one. */
  budgetReconcile(month: number, totals: ReadonlyMap<string, number>): Promise<void>;
}

/** A change every replica applies at once: re-read key `id` / the lockdown settings / users, enrolments and sessions now. */
export type FleetEvent = { kind: 'key'; id: string } | { kind: 'lockdown' } | { kind: 'identity' };

/**
 * Change announcements between replicas (Redis publish/subscribe, with `storage.redis`). The
 * store stays the truth; an event only makes a replica re-read it now rather than at its next poll.
 */
export interface FleetEvents {
  publish(event: FleetEvent): Promise<void>;
  on(listener: (event: FleetEvent) => void): () => void;
  /** Since when every event has been heard without a gap (undefined while the channel is down). */
  trustedSince(): number | undefined;
  close(): Promise<void>;
}

export interface Store {
  readonly keys: KeyStore;
  readonly audit: AuditLog;
  readonly identity: IdentityStores;
  readonly governance: GovernanceStores;
  /** Responses API responses kept for `previous_response_id` and `/v1/responses/{id}`. */
  readonly responses: ResponseStore;
  /** Throws when the store cannot serve (for /ready). */
  ping(): Promise<void>;
  /** False while a networked store is known to be unreachable (its last use failed to reach it); absent for an embedded one. */
  isUp?(): boolean;
  close(): Promise<void>;
}
