import type { z } from 'zod';
import type { Logger } from '../observability/logger.js';
import type { Metrics } from '../observability/metrics.js';
import type { SecretScrubber } from '../observability/scrubber.js';
import type { Middleware, RouteSpec } from '../request/types.js';
import type { AuditTrail } from '../store/audit-trail.js';
import type { FleetEvents, Store } from '../store/types.js';
import type { ApiKeyVerifier } from './api-key/verifier.js';
import type { Authenticator } from './authenticator.js';
import type { LocalIdentity } from './local-identity.js';
import type { RoleTable } from './rbac.js';
import type { SessionAuthenticator } from './session/authenticator.js';
import type { TotpSecretBox } from './totp/secret-box.js';
import type { FailedAttemptThrottle } from './throttle.js';

/** What every client-auth kind may use besides its config: the gateway's stores and services. */
export interface ClientAuthServices {
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

/**
 * What a kind's `setup` receives. `Needs` is the part of the config it reads: its own `auth`
 * section (and, for a few, a field of another section, named in their doc comment).
 */
export interface ClientAuthKindContext<Needs> extends ClientAuthServices {
  config: Needs;
  /**
   * The users' identity state shared by the kinds of users with passwords, second factors and
   * sessions: one store watch, one user directory. Made on first use, started before and
   * stopped after the kinds.
   */
  local(): LocalIdentity;
}

/** Credentials another kind may exchange for its own (a session), and the steps such an exchange runs. */
export interface ExchangeParts {
  authenticators: Authenticator[];
  steps: Middleware[];
}

/** What one client-auth kind adds to the gateway. */
export interface ClientAuthParts {
  /** Tried in registry order; the first that claims a request decides it. */
  authenticators?: Authenticator[];
  /** Steps run once a principal is established (the TOTP second factor). */
  after?: Middleware[];
  /** Offered to kinds that exchange credentials (sessions): authenticators in registry order, then steps. */
  exchange?: Partial<ExchangeParts>;
  /** The session kind's check of session tokens, which the admin console also uses for its cookies. */
  sessions?: SessionAuthenticator;
  /** Routes of its own (`POST /auth/v1/session`), given every kind's exchange offers once all are set up. */
  routes?(exchange: ExchangeParts): RouteSpec[];
  /** The TOTP kind: the box TOTP secrets are sealed with, for enrolments made through the admin API. */
  totpBox?: TotpSecretBox;
  start?(): Promise<void>;
  stop?(): Promise<void>;
}

/**
 * A client-auth kind: a folder under `clientauth/` with its config section (`<kind>/config.ts`)
 * and a `kind.ts` declaring it, plus one line in `registry.ts`. The registry's order is the
 * authenticators' order, and the auth config section joins the `auth` schema.
 *
 * @example
 * export const oidcKind = {
 *   name: 'oidc',
 *   section: 'oidc',
 *   schema: oidcConfigSchema,
 *   setup: (ctx: ClientAuthKindContext<{ auth: { oidc: OidcIssuerConfig[] } }>) => ({ authenticators: [...] }),
 * } satisfies ClientAuthKind<'oidc', typeof oidcConfigSchema, { auth: { oidc: OidcIssuerConfig[] } }>;
 */
export interface ClientAuthKind<Section extends string, Schema extends z.ZodType, Needs> {
  /** The kind's folder name, e.g. `api-key`. */
  readonly name: string;
  /** Its section under `auth:` in the config, e.g. `api_keys`. */
  readonly section: Section;
  readonly schema: Schema;
  setup(ctx: ClientAuthKindContext<Needs>): Promise<ClientAuthParts> | ClientAuthParts;
}
