import { z } from 'zod';
import { FixedCredential } from '../../credentials/static/index.js';
import { applyHeaderCredential, type BearerCredential } from '../../signing/header.js';
import { builtinInstanceSchema } from '../instance-schema.js';
import { OPENAI_INFERENCE_RULES } from '../openai/compatible.js';
import { openaiCompatibleChat } from '../openai/chat.js';
import { openaiCompatibleEmbeddings } from '../openai/embeddings.js';
import { openaiUsage } from '../openai/usage.js';
import { defineProvider, type ProviderParts } from '../types.js';
import { startDemoUpstream } from './upstream.js';

const schema = builtinInstanceSchema(
  'demo',
  z.discriminatedUnion('type', [z.strictObject({ type: z.literal('builtin') })]).prefault({ type: 'builtin' }),
);

/**
 * The built-in demo: an OpenAI-compatible upstream the gateway starts on a loopback port, with a
 * token generated per process. For trying the gateway without a provider account.
 */
export const demo = defineProvider({
  type: 'demo',
  schema,
  defaultEndpoint: undefined,
  transparentRules: OPENAI_INFERENCE_RULES,
  usage: openaiUsage,
  chat: openaiCompatibleChat,
  embeddings: openaiCompatibleEmbeddings,
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
