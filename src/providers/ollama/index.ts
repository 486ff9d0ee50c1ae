import { z } from 'zod';
import { FixedCredential } from '../../credentials/static/index.js';
import { apiKeyAuthSchema } from '../../credentials/static/schema.js';
import type { Credential } from '../../credentials/types.js';
import { instanceSchema } from '../instance-schema.js';
import { OPENAI_TRANSCRIPTS, bearerFromApiKey, defineCompatibleProvider } from '../openai-compatible/index.js';
import type { UpstreamRequest } from '../../upstream/types.js';
import { endpointTable } from '../endpoint-names.js';
import { rules } from '../transparent-path.js';
import type { ProviderParts } from '../types.js';
import { ollamaUsage } from './usage.js';

/** `authentication: { type: none }`: a local Ollama takes requests without a credential. */
const noneAuthSchema = z.strictObject({ type: z.literal('none') });

const schema = instanceSchema(
  'ollama',
  {},
  // `api_key` is for an Ollama behind an authenticating proxy (or ollama.com): sent as Bearer.
  z.discriminatedUnion('type', [noneAuthSchema, apiKeyAuthSchema]).prefault({ type: 'none' }),
);

/**
 * Ollama's OpenAI-compatible routes (https://docs.ollama.com/api/openai-compatibility), picked
 * from the shared list by name: chat completions, completions, embeddings, models, and the
 * stateless Responses API (no stored responses to retrieve).
 */
export const OLLAMA_OPENAI_SERVED: ReadonlySet<string> = new Set([
  'POST v1/chat/completions',
  'POST v1/completions',
  'POST v1/embeddings',
  'GET v1/models',
  'GET v1/models/*',
  'POST v1/responses',
]);

/**
 * Ollama's native inference routes (https://docs.ollama.com/api). Model management (`pull`,
 * `push`, `create`, `copy`, `delete`) stays closed unless an operator opens it in `allow_paths`.
 */
const NATIVE_RULES = rules('POST api/chat', 'POST api/generate', 'POST api/embed', 'GET api/tags');

/**
 * What an instance without a credential holds. The Credential union has no "none" member, so
 * this is a FixedCredential reporting method `none` whose value is never applied:
 * {@link signNothing} returns the request untouched.
 */
const NO_CREDENTIAL: Credential = { type: 'bearer', token: '' };

function signNothing(req: UpstreamRequest): UpstreamRequest {
  return req;
}

/** Ollama (default http://localhost:11434): OpenAI-compatible `/v1` plus its native `/api`. */
export const ollama = defineCompatibleProvider({
  type: 'ollama',
  schema,
  defaultEndpoint: 'http://localhost:11434',
  served: OLLAMA_OPENAI_SERVED,
  nativeRules: NATIVE_RULES,
  endpointOf: endpointTable({ chat: ['POST api/chat'], completions: ['POST api/generate'], embeddings: ['POST api/embed', 'POST api/embeddings'], models: ['GET api/tags', 'POST api/show'] }),
  usage: ollamaUsage,
  samples: {
    passThrough: { drops: [] },
    column: { place: 3 },
    instances: [{ config: { endpoint: 'http://127.0.0.1:11434' }, chat: ['llama3.2'], embeddings: ['nomic-embed-text'] }],
    // Its SSE streams are OpenAI's (ollamaUsage reads them with OpenAI's reader).
    transcripts: OPENAI_TRANSCRIPTS,
  },
  setup(_name, config, ctx): ProviderParts {
    const auth = config.authentication;
    switch (auth.type) {
      case 'none':
        return { credential: new FixedCredential(NO_CREDENTIAL, 'none'), sign: signNothing };
      case 'api_key':
        return bearerFromApiKey(auth, ctx);
      default:
        return auth satisfies never;
    }
  },
});
