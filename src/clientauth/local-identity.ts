import type { ApiKeyVerifier } from './api-key/verifier.js';
import { UserDirectory } from './basic/users.js';
import type { RoleTable } from './rbac.js';
import type { Logger } from '../observability/logger.js';
import type { FleetEvents, Store } from '../store/types.js';
import { IdentityWatch } from './session/watch.js';

/**
 * The users' identity state that the kinds of users with passwords, second factors and sessions
 * share: one watch over the identity store (user, enrolment, session and key changes, from this
 * process, other processes and other replicas), the user directory it clears, and whether the
 * cached identity can be trusted right now. Each kind registers its own caches with `watch`.
 */
export class LocalIdentity {
  readonly watch: IdentityWatch;
  readonly users: UserDirectory;
  readonly trusted: () => boolean;

  constructor(deps: { store: Store; verifier: ApiKeyVerifier; logger: Logger; roles?: RoleTable; announcements?: FleetEvents }, pollMs: number) {
    const { store, verifier, logger } = deps;
    this.watch = new IdentityWatch(store.identity, store.keys, verifier, { pollMs, logger, ...(deps.announcements ? { announcements: deps.announcements } : {}) });
    const watch = this.watch;
    this.trusted = () => watch.trusted();
    this.users = new UserDirectory(store.identity.users, this.trusted, undefined, deps.roles);
    watch.onIdentityChange(() => this.users.clear());
  }
}
