import type { AuthConfig } from './config.js';
import type { Authenticator } from './authenticator.js';
import type { SessionAuthenticator } from './session/authenticator.js';
import type { ClientAuthServices } from './kind.js';
import type { TotpSecretBox } from './totp/secret-box.js';
import type { Middleware, RouteSpec } from '../request/types.js';

export interface ClientAuthDeps extends ClientAuthServices {
  /** The `auth` section and the proxies whose forwarded-for headers are trusted (the ALB header is accepted only from them). */
  config: { auth: AuthConfig; server: { trusted_proxies: readonly string[] } };
}

/** Layer 1 as the server uses it: every kind's authenticators, steps and routes, in registry order. */
export interface ClientAuth {
  authenticators: Authenticator[];
  after: Middleware[];
  routes: RouteSpec[];
  /** Session records and their subjects' checks (the admin console's cookies use them). */
  sessions: SessionAuthenticator;
  /** The box TOTP secrets are sealed with (read once at startup from `auth.totp.encryption_key`). */
  totpBox: TotpSecretBox | undefined;
  start(): Promise<void>;
  stop(): Promise<void>;
}
