import { apiKeyAuthenticator } from '../authenticator.js';
import type { ClientAuthKind, ClientAuthParts, ClientAuthServices } from '../kind.js';
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
  setup(ctx: ClientAuthServices): ClientAuthParts {
    const keys = apiKeyAuthenticator(ctx.verifier);
    return { authenticators: [keys], exchange: { authenticators: [keys] } };
  },
} satisfies ClientAuthKind<'api_keys', typeof apiKeysConfigSchema, unknown>;
