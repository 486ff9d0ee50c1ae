import type { ApiKeyAuth } from '../../credentials/static/schema.js';
import { StaticCredential } from '../../credentials/static/index.js';
import { applyHeaderCredential, type BearerCredential } from '../../signing/header.js';
import { rules } from '../transparent-path.js';
import type { ProviderContext, ProviderParts } from '../types.js';

/**
 * What every OpenAI-compatible provider shares (OpenAI itself, the demo upstream, and later xAI,
 * Ollama): the inference routes of the OpenAI API and Bearer authentication.
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

/** Bearer credential from an `api_key` secret reference. */
export function bearerFromApiKey(auth: ApiKeyAuth, ctx: ProviderContext): Pick<ProviderParts<BearerCredential>, 'credential' | 'sign'> {
  const secret = ctx.secrets.handle(auth.api_key, auth.refresh_interval);
  return {
    credential: new StaticCredential(secret, 'api_key', (token) => ({ type: 'bearer', token })),
    sign: applyHeaderCredential,
  };
}
