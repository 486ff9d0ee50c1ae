import type { UserDeletion } from './identity-types.js';
import type { Store } from './types.js';

/** What `deleteUser` did, for the `user.delete` audit detail and the CLI and admin API answers. */
export interface UserErasure extends UserDeletion {
  /** The user's keys, each revoked (refused at once here, by other replicas within seconds). */
  keysRevoked: string[];
  purged: boolean;
  /** The stand-in written where the name was (`privacy.pseudonymise`); null when rows were deleted or nothing was purged. */
  pseudonym: string | null;
  usageRows: number;
  auditEvents: number;
}

/**
 * Deletes user `name`: revokes its keys first (so they stop working before anything else
 * changes; a revoked key also reaches other replicas, which a deleted row would not), then
 * removes the user with its TOTP enrolment, backup codes and sessions, and those of its keys.
 * With `purge`, the user's usage rows and audit events are deleted, or, given `pseudonym`,
 * rewritten under it (aggregates kept); the keys then carry the pseudonym (or no user). Without
 * `purge`, history stays under the name. Undefined when there is no such user.
 *
 * @example
 * await deleteUser(store, 'alice', { purge: true, pseudonym: pseudonymiser(key) });
 */
export async function deleteUser(store: Store, name: string, options: { purge: boolean; pseudonym?: ((name: string) => string) | undefined; now?: number }): Promise<UserErasure | undefined> {
  if ((await store.identity.users.get(name)) === undefined) return undefined;
  const at = options.now ?? Date.now();
  const keys = (await store.keys.search({ user: name })).records;
  const keysRevoked: string[] = [];
  for (const key of keys) {
    if (key.revokedAt === null || key.revokedAt > at) await store.keys.revoke(key.id, at);
    keysRevoked.push(key.id);
  }
  const deletion = await store.identity.users.delete(name, keys.map((k) => k.id));
  if (deletion === undefined) return undefined; // deleted meanwhile by someone else
  if (!options.purge) return { ...deletion, keysRevoked, purged: false, pseudonym: null, usageRows: 0, auditEvents: 0 };
  const replacement = options.pseudonym?.(name) ?? null;
  const usageRows = await store.governance.usage.eraseUser(name, replacement);
  const auditEvents = await store.audit.eraseUser(name, replacement);
  await store.keys.eraseUser(name, replacement);
  return { ...deletion, keysRevoked, purged: true, pseudonym: replacement, usageRows, auditEvents };
}

/** A deletion as the CLI and the admin API show it and its audit event records (no secret, no name). */
export function erasureJson(e: UserErasure) {
  return {
    purged: e.purged,
    pseudonymised: e.pseudonym !== null,
    keys_revoked: e.keysRevoked,
    sessions_deleted: e.sessions,
    totp_enrolments_deleted: e.totpEnrolments,
    usage_rows: e.usageRows,
    audit_events: e.auditEvents,
  };
}
