import type { Config } from '../config/schema.js';
import type { Middleware } from '../middleware/types.js';
import type { AuditTrail } from '../observability/audit-trail.js';
import type { Logger } from '../observability/logger.js';
import type { Metrics } from '../observability/metrics.js';
import type { SecretScrubber } from '../observability/scrubber.js';
import type { RouteSpec } from '../server/router.js';
import type { FleetEvents, Store } from '../store/types.js';
import type { ApiKeyVerifier } from './api-key/verifier.js';
import { apiKeyAuthenticator, type Authenticator } from './authenticator.js';
import { federatedClientAuth } from './federated.js';
import { localClientAuth } from './local.js';
import type { RoleTable } from './rbac.js';
import type { FailedAttemptThrottle } from './throttle.js';

export interface ClientAuthDeps {
  config: Config;
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

/**
 * Assembles layer 1 from config: passwords, TOTP and sessions (local.ts), OIDC, the AWS ALB
 * header and Kubernetes service-account tokens (federated.ts), and API keys, which come last
 * and also decide requests that present no credential at all.
 */
export async function buildClientAuth(deps: ClientAuthDeps): Promise<ClientAuth> {
  const parts = [await localClientAuth(deps), await federatedClientAuth(deps)];
  return {
    authenticators: [...parts.flatMap((p) => p.authenticators ?? []), apiKeyAuthenticator(deps.verifier)],
    after: parts.flatMap((p) => p.after ?? []),
    routes: parts.flatMap((p) => p.routes ?? []),
    async start() {
      for (const p of parts) await p.start?.();
    },
    async stop() {
      for (const p of parts) await p.stop?.();
    },
  };
}
