import type { AuditTrail } from '../store/audit-trail.js';
import type { Logger } from '../observability/logger.js';
import type { Metrics } from '../observability/metrics.js';
import type { SecretScrubber } from '../observability/scrubber.js';
import type { Middleware, RouteSpec } from '../request/types.js';
import type { FleetEvents, Store } from '../store/types.js';
import type { ApiKeyVerifier } from './api-key/verifier.js';
import type { Authenticator } from './authenticator.js';
import type { AuthConfig } from './config.js';
import type { RoleTable } from './rbac.js';
import type { FailedAttemptThrottle } from './throttle.js';

export interface ClientAuthDeps {
  /** The `auth` section and the proxies whose forwarded-for headers are trusted (the ALB header is accepted only from them). */
  config: { auth: AuthConfig; server: { trusted_proxies: readonly string[] } };
  baseDir: string;
  store: Store;
  verifier: ApiKeyVerifier;
  roles: RoleTable;
  throttle: FailedAttemptThrottle;
  audit: AuditTrail;
  logger: Logger;
  metrics: Metrics;
  scrubber: SecretScrubber;
  /** Changes announced between replicas (with `storage.redis`). */
  announcements?: FleetEvents;
}

/** What one family of client-auth kinds adds to the gateway. */
export interface ClientAuthParts {
  /** Tried in order before the API key authenticator. */
  authenticators?: Authenticator[];
  /** Steps run once a principal is established (the TOTP second factor). */
  after?: Middleware[];
  /** Routes of their own (`POST /auth/v1/session`). */
  routes?: RouteSpec[];
  start?(): Promise<void>;
  stop?(): Promise<void>;
}

export interface ClientAuth {
  authenticators: Authenticator[];
  after: Middleware[];
  routes: RouteSpec[];
  start(): Promise<void>;
  stop(): Promise<void>;
}
