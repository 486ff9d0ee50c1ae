import { authenticate } from '../authenticate.js';
import type { ClientAuthKind, ClientAuthKindContext, ClientAuthParts } from '../kind.js';
import type { ApiKeysConfig } from '../api-key/config.js';
import { agePolicyOf } from '../api-key/policy.js';
import { SessionAuthenticator } from './authenticator.js';
import { sessionConfigSchema, type SessionConfig } from './config.js';
import { sessionRoute } from './route.js';

type Needs = { auth: { sessions: SessionConfig; api_keys: ApiKeysConfig } };

const PRUNE_INTERVAL_MS = 60 * 60 * 1000;

/**
 * `auth.sessions`: session tokens, and `POST /auth/v1/session`, which exchanges a credential
 * other kinds offer for exchange (a Basic user, an API key) plus the steps they ask for (a TOTP
 * code) for a session token. Sessions are never exchanged for another session. Expired sessions
 * are pruned hourly whether or not new ones may be made.
 */
export const sessionKind = {
  name: 'session',
  section: 'sessions',
  schema: sessionConfigSchema,
  setup(ctx: ClientAuthKindContext<Needs>): ClientAuthParts {
    const config = ctx.config.auth.sessions;
    const { store, logger, audit, throttle, metrics } = ctx;
    const identity = store.identity;
    let pruneTimer: NodeJS.Timeout | undefined;
    const lifecycle: ClientAuthParts = {
      async start() {
        pruneTimer = setInterval(() => {
          identity.sessions.prune(Date.now()).catch((err: unknown) => logger.warn({ error: err instanceof Error ? err.message : String(err) }, 'could not prune expired sessions'));
        }, PRUNE_INTERVAL_MS);
        pruneTimer.unref();
      },
      async stop() {
        if (pruneTimer) clearInterval(pruneTimer);
      },
    };
    const { users, trusted, watch } = ctx.local();
    const apiKeys = ctx.config.auth.api_keys;
    const keyPolicy = { enabled: apiKeys.enabled, age: agePolicyOf(apiKeys) };
    const sessions = new SessionAuthenticator({ sessions: identity.sessions, keys: store.keys, users, trusted, keyPolicy });
    watch.onIdentityChange(() => sessions.clearSessions());
    watch.onKeyChange((id) => sessions.forgetKey(id));
    // The console's cookies are sessions too, so the check exists even when session tokens are off.
    if (!config.enabled) return { ...lifecycle, sessions };
    return {
      ...lifecycle,
      sessions,
      authenticators: [sessions],
      routes: (exchange) => [
        sessionRoute({
          authenticate: [authenticate({ authenticators: exchange.authenticators, throttle, audit, metrics }), ...exchange.steps],
          sessions: identity.sessions,
          ttlMs: config.ttl,
          logger,
          audit,
        }),
      ],
    };
  },
} satisfies ClientAuthKind<'sessions', typeof sessionConfigSchema, Needs>;
