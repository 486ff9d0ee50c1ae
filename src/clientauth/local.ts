import { authenticate } from './authenticate.js';
import { apiKeyAuthenticator, type Authenticator } from './authenticator.js';
import { BasicAuthenticator } from './basic/authenticator.js';
import { UserDirectory } from './basic/users.js';
import type { ClientAuthDeps, ClientAuthParts } from './types.js';
import { SessionAuthenticator } from './session/authenticator.js';
import { sessionRoute } from './session/route.js';
import { IdentityWatch } from './session/watch.js';
import { readTotpKey } from './totp/enrol.js';
import { EnrolmentDirectory } from './totp/enrolments.js';
import { SecondFactorChecker } from './totp/second-factor.js';
import { TotpSecretBox } from './totp/secret-box.js';
import { secondFactorStep } from './totp/step.js';

const PRUNE_INTERVAL_MS = 60 * 60 * 1000;

/**
 * Basic auth for users with passwords, the TOTP second factor and session tokens.
 *
 * - `auth.basic.enabled`: the Basic authenticator (users from `llmproxy users create`).
 * - The TOTP step runs after every authentication (it passes requests that need no second factor).
 * - `auth.sessions.enabled`: the session authenticator and `POST /auth/v1/session`.
 */
export async function localClientAuth(deps: ClientAuthDeps): Promise<ClientAuthParts> {
  const { config, store, verifier, throttle, audit, logger, metrics } = deps;
  const auth = config.auth;
  const identity = store.identity;

  const keyMaterial = await readTotpKey(auth.totp.encryption_key, deps.baseDir);
  // Registered with the log scrubber like every other secret value, should it ever reach a log line.
  if (keyMaterial !== undefined) deps.scrubber.add(keyMaterial);
  const box = new TotpSecretBox(keyMaterial);
  if (!box.encrypts && (await identity.totp.list()).length > 0) {
    logger.warn('TOTP secrets are stored unencrypted: set auth.totp.encryption_key (a secret reference) to encrypt new enrolments');
  }

  const watch = new IdentityWatch(identity, store.keys, verifier, { pollMs: auth.basic.change_poll, logger, ...(deps.announcements ? { announcements: deps.announcements } : {}) });
  const trusted = () => watch.trusted();
  const users = new UserDirectory(identity.users, trusted);
  const enrolments = new EnrolmentDirectory(identity.totp, box, trusted, logger);
  watch.onIdentityChange(() => {
    users.clear();
    enrolments.clear();
  });

  const authenticators: Authenticator[] = [];
  let basic: BasicAuthenticator | undefined;
  if (auth.basic.enabled) {
    basic = new BasicAuthenticator({ users, cacheTtlMs: auth.basic.cache_ttl, trusted });
    watch.onIdentityChange(() => basic!.clear());
  }
  if (auth.sessions.enabled) {
    const sessions = new SessionAuthenticator({ sessions: identity.sessions, keys: store.keys, users, trusted });
    watch.onIdentityChange(() => sessions.clearSessions());
    watch.onKeyChange((id) => sessions.forgetKey(id));
    authenticators.push(sessions);
  }
  if (basic) authenticators.push(basic);

  const checker = new SecondFactorChecker({ store: identity.totp, maxFailures: auth.totp.max_failures, lockoutMs: auth.totp.lockout });
  const stepDeps = {
    enrolments,
    checker,
    policy: { keys: auth.api_keys.require_totp, users: auth.basic.require_totp, roles: new Set(auth.totp.required_roles) },
    throttle,
    audit,
    metrics,
  };

  const routes = [];
  if (auth.sessions.enabled) {
    // Sessions are exchanged for a key or a Basic user, never for another session.
    const exchangeAuth: Authenticator[] = [...(basic ? [basic] : []), apiKeyAuthenticator(verifier)];
    routes.push(
      sessionRoute({
        authenticate: [authenticate({ authenticators: exchangeAuth, throttle, audit, metrics }), secondFactorStep(stepDeps, 'exchange')],
        sessions: identity.sessions,
        ttlMs: auth.sessions.ttl,
        logger,
        audit,
      }),
    );
  }

  let pruneTimer: NodeJS.Timeout | undefined;
  return {
    authenticators,
    after: [secondFactorStep(stepDeps, 'policy')],
    routes,
    async start() {
      await watch.start();
      pruneTimer = setInterval(() => {
        identity.sessions.prune(Date.now()).catch((err: unknown) => logger.warn({ error: err instanceof Error ? err.message : String(err) }, 'could not prune expired sessions'));
      }, PRUNE_INTERVAL_MS);
      pruneTimer.unref();
    },
    async stop() {
      if (pruneTimer) clearInterval(pruneTimer);
      await watch.stop();
    },
  };
}

