import { z } from 'zod';
import { apiKeyAuthSchema } from '../../credentials/static/schema.js';
import { instanceSchema } from '../instance-schema.js';
import { openaiCompatibleChat } from '../openai/chat.js';
import { OPENAI_INFERENCE_RULES, bearerFromApiKey } from '../openai/compatible.js';
import { openaiUsage } from '../openai/usage.js';
import { defineProvider } from '../types.js';

const schema = instanceSchema('xai', {}, z.discriminatedUnion('type', [apiKeyAuthSchema]));

/**
 * The OpenAI inference routes xAI serves (https://docs.x.ai/developers/rest-api-reference):
 * chat completions, legacy completions, models, and the Responses API (create, retrieve).
 * Embeddings, `input_items` and `cancel` are not in xAI's reference. Picked from the shared list
 * by name rather than restated, so a route OpenAI gains later is not opened here by accident.
 */
export const XAI_SERVED: ReadonlySet<string> = new Set([
  'POST v1/chat/completions',
  'POST v1/completions',
  'GET v1/models',
  'GET v1/models/*',
  'POST v1/responses',
  'GET v1/responses/*',
]);

/** xAI (api.x.ai): OpenAI-compatible, Bearer key. */
export const xai = defineProvider({
  type: 'xai',
  schema,
  defaultEndpoint: 'https://api.x.ai',
  transparentRules: OPENAI_INFERENCE_RULES.filter((r) => XAI_SERVED.has(r.source)),
  usage: openaiUsage,
  chat: openaiCompatibleChat,
  setup: (_name, config, ctx) => bearerFromApiKey(config.authentication, ctx),
});
