import { apiKeyAuthenticator } from '../authenticator.js';
import type { ClientAuthKind, ClientAuthKindContext, ClientAuthParts } from '../kind.js';
import { apiKeysConfigSchema } from './config.js';

/**
 * `auth.api_keys`: gateway API keys. Last in the registry: its authenticator claims every request
 * the others left, so a request with no credential at all is refused as `missing`. A key may
 * also be exchanged for a session.
 */
export const apiKeyKind = {
  name: 'api-key',
  section: 'api_keys',
  schema: apiKeysConfigSchema,
  setup(ctx: ClientAuthKindContext<{ auth: { api_keys: { enabled: boolean } } }>): ClientAuthParts {
    const keys = apiKeyAuthenticator(ctx.verifier, { enabled: ctx.config.auth.api_keys.enabled });
    return { authenticators: [keys], exchange: { authenticators: [keys] } };
  },
} satisfies ClientAuthKind<'api_keys', typeof apiKeysConfigSchema, { auth: { api_keys: { enabled: boolean } } }>;
