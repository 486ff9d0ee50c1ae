import { z } from 'zod';
import { apiKeyAuthSchema } from '../../credentials/static/schema.js';
import { instanceSchema } from '../instance-schema.js';
import type { ProviderContext } from '../types.js';
import { bearerFromApiKey } from './compatible.js';

/**
 * The schema and setup of the commonest OpenAI-compatible provider: an instance with the common
 * fields and `authentication: { type: api_key }`, sent as `Authorization: Bearer`.
 *
 * @example
 * export const xai = defineCompatibleProvider({ type: 'xai', ...bearerApiKeyInstances('xai'), defaultEndpoint: 'https://api.x.ai' });
 */
export function bearerApiKeyInstances<T extends string>(type: T) {
  const schema = instanceSchema(type, {}, z.discriminatedUnion('type', [apiKeyAuthSchema]));
  return {
    schema,
    setup: (_name: string, config: z.output<typeof schema>, ctx: ProviderContext) => bearerFromApiKey(config.authentication, ctx),
  };
}

/** A sample `api_key` instance block for the contract tests (see ProviderSamples). */
export const SAMPLE_API_KEY_INSTANCE: Readonly<Record<string, unknown>> = { authentication: { type: 'api_key', api_key: '${env:PROP_KEY}' } };
