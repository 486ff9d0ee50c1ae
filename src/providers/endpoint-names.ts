import { matchPathRule, rules } from './transparent-path.js';

/**
 * The closed vocabulary of endpoint scopes (`keys create --endpoints chat,embeddings`): what a
 * request does, whatever API shape it takes. Protocol routes know theirs; on transparent routes
 * each provider's folder maps its native paths to one (`ProviderDefinition.endpointOf`).
 *
 * - `chat`: conversational generation — OpenAI chat completions, the Anthropic Messages API,
 *   Bedrock Converse and InvokeModel, Vertex generateContent and rawPredict, watsonx and OCI chat,
 *   Ollama `api/chat`.
 * - `completions`: legacy text completion — OpenAI `v1/completions`, watsonx text generation,
 *   OCI generateText, Ollama `api/generate`.
 * - `embeddings`: embedding vectors.
 * - `models`: listing and describing models.
 * - `responses`: the OpenAI Responses API (create, read, delete, input items, cancel).
 * - `count_tokens`: token counting without generation.
 */
export const ENDPOINT_NAMES = ['chat', 'completions', 'embeddings', 'models', 'responses', 'count_tokens'] as const;
export type EndpointName = (typeof ENDPOINT_NAMES)[number];

const KNOWN: ReadonlySet<string> = new Set(ENDPOINT_NAMES);

/** Names people reach for that the vocabulary spells otherwise. */
const RENAMED: Readonly<Record<string, string>> = {
  messages: 'the Anthropic Messages API is "chat"',
  'chat/completions': 'write "chat"',
  embedding: 'write "embeddings"',
  completion: 'write "completions"',
  model: 'write "models"',
  converse: 'Bedrock Converse is "chat"',
  invoke: 'Bedrock InvokeModel is "chat" (or "embeddings" for an embedding model)',
};

/** Why `name` is not an endpoint name (a sentence for a 400 or a CLI error), or undefined when it is one. */
export function endpointNameProblem(name: string): string | undefined {
  if (KNOWN.has(name)) return undefined;
  const hint = Object.hasOwn(RENAMED, name) ? `; ${RENAMED[name]}` : '';
  return `"${name.slice(0, 64)}" is not an endpoint (known: ${ENDPOINT_NAMES.join(', ')})${hint}`;
}

export function isEndpointName(name: string): name is EndpointName {
  return KNOWN.has(name);
}

/** How a provider maps a transparent request to an endpoint: undefined for a native path it does not map. */
export type EndpointOf = (method: string, segments: readonly string[]) => EndpointName | undefined;

/**
 * An {@link EndpointOf} from allowlist-style rules per endpoint (`[METHOD ]pattern`, as in
 * `transparentRules`); the first endpoint with a matching rule wins.
 *
 * @example
 * endpointTable({ chat: ['POST v1/messages'], count_tokens: ['POST v1/messages/count_tokens'], models: ['GET v1/models', 'GET v1/models/*'] })
 */
export function endpointTable(table: Partial<Record<EndpointName, readonly string[]>>): EndpointOf {
  const compiled = Object.entries(table).map(([endpoint, texts]) => ({ endpoint: endpoint as EndpointName, rules: rules(...texts!) }));
  return (method, segments) => compiled.find((e) => matchPathRule(e.rules, method, segments) !== undefined)?.endpoint;
}
