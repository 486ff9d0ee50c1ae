import { z } from 'zod';
import { duration, secretRef } from '../../config-fields/fields.js';

/** `authentication: { type: api_key, api_key: "${...}" }`, shared by every key-based provider. */
export const apiKeyAuthSchema = z.strictObject({
  type: z.literal('api_key'),
  api_key: secretRef(),
  /** Overrides `secrets.refresh_interval` for this instance's secret. */
  refresh_interval: duration().optional(),
});

export type ApiKeyAuth = z.output<typeof apiKeyAuthSchema>;

/**
 * `authentication: { type: <type>, token: "${...}" }`: an access token that something else keeps
 * fresh in a secret store (a sidecar, a scheduled job), re-read on the refresh interval and sent
 * as `Authorization: Bearer`. Providers name the type as their platform does: `access_token` for
 * an OAuth 2 access token, `bearer_token` for an IAM access token.
 */
function tokenAuthSchema<T extends string>(type: T) {
  return z.strictObject({
    type: z.literal(type),
    token: secretRef(),
    /** Overrides `secrets.refresh_interval`: re-read the token at least this often. */
    refresh_interval: duration().optional(),
  });
}

export const accessTokenAuthSchema = tokenAuthSchema('access_token');
export const bearerTokenAuthSchema = tokenAuthSchema('bearer_token');
export type TokenAuth = z.output<typeof accessTokenAuthSchema> | z.output<typeof bearerTokenAuthSchema>;
