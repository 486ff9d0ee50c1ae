import type { UserRecord, UserStore } from '../../store/identity-types.js';
import type { Principal } from '../../request/principal.js';
import { BUILTIN_ROLE_TABLE, type RoleTable } from '../rbac.js';
import { compileScopes } from '../scopes.js';

export interface KnownUser {
  record: UserRecord;
  principal: Principal;
}

/** The principal a user authenticates as (Basic, or a session of that user): its stored role plus what `rbac.assignments` gives it. */
export function userPrincipal(record: UserRecord, roles: RoleTable = BUILTIN_ROLE_TABLE): Principal {
  const id = `user:${record.name}`;
  return {
    id,
    kind: 'basic',
    user: record.name,
    roles: roles.withAssigned(id, record.name, [record.role]),
    scopes: compileScopes(record.scopes),
    limits: record.limits,
  };
}

/**
 * Users by name, remembered until the identity store reports a change (`clear`, wired to
 * IdentityWatch). Reads the store when a name is not remembered or caches are not `trusted`.
 */
export class UserDirectory {
  readonly #store: UserStore;
  readonly #trusted: () => boolean;
  readonly #known = new Map<string, KnownUser | null>();
  readonly #maxEntries: number;
  readonly #roles: RoleTable;

  constructor(store: UserStore, trusted: () => boolean, maxEntries = 10_000, roles: RoleTable = BUILTIN_ROLE_TABLE) {
    this.#store = store;
    this.#trusted = trusted;
    this.#maxEntries = maxEntries;
    this.#roles = roles;
  }

  /** Rejects when the store cannot be read. */
  async get(name: string): Promise<KnownUser | undefined> {
    if (this.#trusted()) {
      const hit = this.#known.get(name);
      if (hit !== undefined) return hit ?? undefined;
    }
    const record = await this.#store.get(name);
    const known = record ? { record, principal: userPrincipal(record, this.#roles) } : null;
    // Unknown names are not remembered: a client guessing names must not fill the map.
    if (known) {
      this.#known.set(name, known);
      if (this.#known.size > this.#maxEntries) this.#known.delete(this.#known.keys().next().value!);
    }
    return known ?? undefined;
  }

  clear(): void {
    this.#known.clear();
  }
}
