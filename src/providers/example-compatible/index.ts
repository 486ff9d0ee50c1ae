import { bearerApiKeyInstances, defineCompatibleProvider } from '../openai-compatible/index.js';

/** The OpenAI routes Example serves: chat completions and the model list. */
const SERVED: ReadonlySet<string> = new Set(['POST v1/chat/completions', 'GET v1/models', 'GET v1/models/*']);

/**
 * Example (api.example.com), a throwaway OpenAI-compatible provider showing the base's hooks:
 * it reads the cap as `max_tokens` only, has no `seed`, and answers errors as `{"detail": "..."}`.
 */
export const exampleCompatible = defineCompatibleProvider({
  type: 'example-compatible',
  ...bearerApiKeyInstances('example-compatible'),
  defaultEndpoint: 'https://api.example.com',
  served: SERVED,
  renames: { max_completion_tokens: 'max_tokens' },
  drops: ['seed'],
  errorMessage(body) {
    try {
      const detail = (JSON.parse(body.toString('utf8')) as { detail?: unknown }).detail;
      return typeof detail === 'string' ? detail : undefined;
    } catch {
      return undefined;
    }
  },
  sampleModel: 'example-1',
});
