import type { UserRecord, UserStore } from '../../store/identity-types.js';
import type { Principal } from '../../request/principal.js';
import { compileScopes } from '../scopes.js';

export interface KnownUser {
  record: UserRecord;
  principal: Principal;
}

/** The principal a user authenticates as (Basic, or a session of that user). */
export function userPrincipal(record: UserRecord): Principal {
  return {
    id: `user:${record.name}`,
    kind: 'basic',
    user: record.name,
    roles: [record.role],
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

  constructor(store: UserStore, trusted: () => boolean, maxEntries = 10_000) {
    this.#store = store;
    this.#trusted = trusted;
    this.#maxEntries = maxEntries;
  }

  /** Rejects when the store cannot be read. */
  async get(name: string): Promise<KnownUser | undefined> {
    if (this.#trusted()) {
      const hit = this.#known.get(name);
      if (hit !== undefined) return hit ?? undefined;
    }
    const record = await this.#store.get(name);
    const known = record ? { record, principal: userPrincipal(record) } : null;
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
