import { z } from 'zod';
import { FixedCredential } from '../../credentials/static/index.js';
import { applyHeaderCredential, type BearerCredential } from '../../signing/header.js';
import { builtinInstanceSchema } from '../instance-schema.js';
import { OPENAI_TRANSCRIPTS, defineCompatibleProvider } from '../openai-compatible/index.js';
import type { ProviderParts } from '../types.js';
import { startDemoUpstream } from './upstream.js';

const schema = builtinInstanceSchema(
  'demo',
  z.discriminatedUnion('type', [z.strictObject({ type: z.literal('builtin') })]).prefault({ type: 'builtin' }),
);

/**
 * The built-in demo: an OpenAI-compatible upstream the gateway starts on a loopback port, with a
 * token generated per process. For trying the gateway without a provider account.
 */
export const demo = defineCompatibleProvider({
  type: 'demo',
  schema,
  defaultEndpoint: undefined,
  // What the demo upstream answers (upstream.ts); the Responses API then goes through the chat hub.
  served: new Set(['POST v1/chat/completions', 'POST v1/embeddings', 'GET v1/models']),
  samples: { instances: [{ config: {}, chat: ['demo'], embeddings: ['demo-embed'] }], column: { place: 4 }, passThrough: { drops: [] }, transcripts: OPENAI_TRANSCRIPTS },
  async setup(): Promise<ProviderParts<BearerCredential>> {
    const upstream = await startDemoUpstream();
    return {
      credential: new FixedCredential({ type: 'bearer', token: upstream.token }, 'builtin'),
      sign: applyHeaderCredential,
      endpoint: { origin: upstream.origin, basePath: '' },
      close: upstream.close,
    };
  },
});
