import type { HeaderCredential } from '../../signing/header.js';
import type { BuiltCredential, CredentialKind, CredentialKindContext } from '../kind.js';
import { StaticCredential } from './index.js';
import { accessTokenAuthSchema, apiKeyAuthSchema, bearerTokenAuthSchema, type ApiKeyAuth, type TokenAuth } from './schema.js';

export type StaticAuth = ApiKeyAuth | TokenAuth;

/** What a provider adds to the kind's context: how the secret's value is sent. */
export interface StaticHeader<C extends HeaderCredential> {
  /**
   * The credential a value becomes: `Authorization: Bearer` for OpenAI-compatible APIs and
   * access tokens, `x-api-key` for Anthropic, `api-key` for Azure OpenAI.
   */
  header(value: string): C;
}

/**
 * A credential kept in a secret store and sent as a header: an API key (`api_key`), or an access
 * token something else keeps fresh (`access_token`, `bearer_token`). The secret layer re-reads
 * it; a new value is used from the next request. The provider says which header carries it.
 */
export const staticKind = {
  name: 'static',
  types: {
    api_key: { schema: apiKeyAuthSchema, fetches: false },
    access_token: { schema: accessTokenAuthSchema, fetches: false },
    bearer_token: { schema: bearerTokenAuthSchema, fetches: false },
  },
  build<C extends HeaderCredential>(auth: StaticAuth, ctx: CredentialKindContext & StaticHeader<C>): BuiltCredential<C> {
    const reference = auth.type === 'api_key' ? auth.api_key : auth.token;
    return { credential: new StaticCredential(ctx.secrets.handle(reference, auth.refresh_interval), auth.type, (value) => ctx.header(value)) };
  },
} satisfies CredentialKind<StaticAuth, StaticHeader<HeaderCredential>, HeaderCredential>;
