import type { HeaderCredential } from '../../signing/header.js';
import type { CredentialKind, CredentialKindContext } from '../kind.js';
import { StaticCredential } from './index.js';
import { apiKeyAuthSchema, type ApiKeyAuth } from './schema.js';

/**
 * An API key kept in a secret store and sent as a header. The provider says which header
 * (`header`): `Authorization: Bearer` for OpenAI-compatible APIs, `x-api-key` for Anthropic,
 * `api-key` for Azure OpenAI.
 */
export const staticKind = {
  name: 'static',
  types: {
    api_key: { schema: apiKeyAuthSchema, fetches: false },
  },
  build(auth: ApiKeyAuth, ctx: CredentialKindContext & { header: (value: string) => HeaderCredential }) {
    return { credential: new StaticCredential(ctx.secrets.handle(auth.api_key, auth.refresh_interval), 'api_key', (value) => ctx.header(value)) };
  },
} satisfies CredentialKind<ApiKeyAuth, { header: (value: string) => HeaderCredential }, HeaderCredential>;
