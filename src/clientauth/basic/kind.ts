import type { ClientAuthKind, ClientAuthKindContext, ClientAuthParts } from '../kind.js';
import { BasicAuthenticator } from './authenticator.js';
import { basicConfigSchema, type BasicConfig } from './config.js';

type Needs = { auth: { basic: BasicConfig } };

/**
 * `auth.basic`: `Authorization: Basic` for users created with `llmproxy users create` (opt-in).
 * A Basic user may also be exchanged for a session.
 */
export const basicKind = {
  name: 'basic',
  section: 'basic',
  schema: basicConfigSchema,
  setup(ctx: ClientAuthKindContext<Needs>): ClientAuthParts {
    const config = ctx.config.auth.basic;
    if (!config.enabled) return {};
    const { users, trusted, watch } = ctx.local();
    const basic = new BasicAuthenticator({ users, cacheTtlMs: config.cache_ttl, trusted });
    watch.onIdentityChange(() => basic.clear());
    return { authenticators: [basic], exchange: { authenticators: [basic] } };
  },
} satisfies ClientAuthKind<'basic', typeof basicConfigSchema, Needs>;
