import { endpointTable, type EndpointName } from '../endpoint-names.js';

const BY_PATH = endpointTable({
  count_tokens: ['POST model/*/count-tokens'],
  models: ['GET foundation-models', 'GET foundation-models/*', 'GET inference-profiles', 'GET inference-profiles/*'],
  chat: ['POST model/*/converse', 'POST model/*/converse-stream', 'POST openai/v1/chat/completions'],
  responses: ['POST openai/v1/responses'],
});

const INVOKE = endpointTable({ chat: ['POST model/*/invoke', 'POST model/*/invoke-with-response-stream'] });

/**
 * The endpoint scope of a Bedrock request. InvokeModel runs whatever the model is, so it is
 * `embeddings` for an embedding model (Titan, Cohere and Nova embeddings all name `embed` in
 * their ids: `amazon.titan-embed-text-v2:0`, `cohere.embed-english-v3`) and `chat` for every
 * other; Converse and the OpenAI-compatible chat completions are `chat`.
 */
export function bedrockEndpointOf(method: string, segments: readonly string[]): EndpointName | undefined {
  const byPath = BY_PATH(method, segments);
  if (byPath !== undefined) return byPath;
  const invoke = INVOKE(method, segments);
  if (invoke === undefined) return undefined;
  return /embed/i.test(decodeModel(segments[1]!)) ? 'embeddings' : invoke;
}

function decodeModel(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    return segment;
  }
}
