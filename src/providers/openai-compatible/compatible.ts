import type { ApiKeyAuth } from '../../credentials/static/schema.js';
import { StaticCredential } from '../../credentials/static/index.js';
import { applyHeaderCredential, type BearerCredential } from '../../signing/header.js';
import { endpointTable } from '../endpoint-names.js';
import { rules } from '../transparent-path.js';
import type { ProviderContext, ProviderParts } from '../types.js';

/**
 * What every OpenAI-compatible provider shares (OpenAI itself, the demo upstream, xAI, Ollama,
 * Azure): the inference routes of the OpenAI API (`served` in defineCompatibleProvider picks
 * them by `source`) and Bearer authentication.
 */
export const OPENAI_INFERENCE_RULES = rules(
  'POST v1/chat/completions',
  'POST v1/completions',
  'POST v1/embeddings',
  'GET v1/models',
  'GET v1/models/*',
  'POST v1/responses',
  'GET v1/responses/*',
  'GET v1/responses/*/input_items',
  'POST v1/responses/*/cancel',
);

/**
 * The endpoint scope of each OpenAI route (providers/endpoint-names.ts), including routes an
 * operator may open with `allow_paths` (deleting a stored response, counting input tokens).
 */
export const OPENAI_ENDPOINTS = endpointTable({
  chat: ['POST v1/chat/completions'],
  completions: ['POST v1/completions'],
  embeddings: ['POST v1/embeddings'],
  models: ['GET v1/models', 'GET v1/models/*'],
  count_tokens: ['POST v1/responses/input_tokens'],
  responses: ['POST v1/responses', 'GET v1/responses/*', 'DELETE v1/responses/*', 'GET v1/responses/*/input_items', 'POST v1/responses/*/cancel'],
});

/** Bearer credential from an `api_key` secret reference. */
export function bearerFromApiKey(auth: ApiKeyAuth, ctx: ProviderContext): Pick<ProviderParts<BearerCredential>, 'credential' | 'sign'> {
  const secret = ctx.secrets.handle(auth.api_key, auth.refresh_interval);
  return {
    credential: new StaticCredential(secret, 'api_key', (token) => ({ type: 'bearer', token })),
    sign: applyHeaderCredential,
  };
}

/** The route protocol-mode chat is sent to; a provider serving it gets the chat translator. */
export const CHAT_ROUTE = 'POST v1/chat/completions';
/** The route protocol-mode embeddings are sent to; a provider serving it gets the embeddings translator. */
export const EMBEDDINGS_ROUTE = 'POST v1/embeddings';
/** The OpenAI Responses API; a provider serving it gets the Responses API's direct path. */
export const RESPONSES_ROUTE = 'POST v1/responses';
/** The route protocol mode's model list reads; a provider serving it gets OpenAI's lister. */
export const MODELS_ROUTE = 'GET v1/models';

/**
 * Where OpenAI's request bodies put the completion cap: chat's `max_tokens` and
 * `max_completion_tokens`, the Responses API's `max_output_tokens`.
 */
export const OPENAI_CAP_FIELDS: readonly string[] = ['max_tokens', 'max_completion_tokens', 'max_output_tokens'];
