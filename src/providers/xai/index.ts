import { bearerApiKeyInstances, defineCompatibleProvider } from '../openai-compatible/index.js';

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
export const xai = defineCompatibleProvider({
  type: 'xai',
  ...bearerApiKeyInstances('xai'),
  defaultEndpoint: 'https://api.x.ai',
  served: XAI_SERVED,
  sampleModel: 'grok-4',
  column: { place: 2 },
});
