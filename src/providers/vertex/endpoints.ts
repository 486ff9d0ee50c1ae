import type { EndpointName } from '../endpoint-names.js';

/** Vertex's model methods (`…/models/{model}:{method}`) by endpoint scope. */
const METHODS: Readonly<Record<string, EndpointName>> = {
  generateContent: 'chat',
  streamGenerateContent: 'chat',
  // Claude on Vertex: the Anthropic Messages API through rawPredict.
  rawPredict: 'chat',
  streamRawPredict: 'chat',
  countTokens: 'count_tokens',
  computeTokens: 'count_tokens',
  embedContent: 'embeddings',
};

/**
 * The endpoint scope of a Vertex request on `{v1|v1beta1}/projects/P/locations/L/publishers/X/models/{model}:{method}`
 * (after express mode's short form is completed): by the method, with two exceptions. Anthropic's
 * token count is the `count-tokens` model's rawPredict; `:predict` is `embeddings` for an embedding
 * model and unmapped otherwise (Imagen generates images through it, which no endpoint names).
 */
export function vertexEndpointOf(method: string, segments: readonly string[]): EndpointName | undefined {
  if (method !== 'POST' || segments.length !== 9 || segments[7] !== 'models') return undefined;
  const last = segments[8]!;
  const colon = last.lastIndexOf(':');
  if (colon <= 0) return undefined;
  const model = last.slice(0, colon);
  const verb = last.slice(colon + 1);
  if (model === 'count-tokens' && verb === 'rawPredict') return 'count_tokens';
  if (verb === 'predict') return /embed/i.test(model) ? 'embeddings' : undefined;
  return Object.hasOwn(METHODS, verb) ? METHODS[verb] : undefined;
}
