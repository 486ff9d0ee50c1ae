import { z } from 'zod';
import { apiKeyAuthSchema } from '../../credentials/static/schema.js';
import { instanceSchema } from '../instance-schema.js';
import { defineProvider } from '../types.js';
import { OPENAI_INFERENCE_RULES, bearerFromApiKey } from './compatible.js';
import { openaiCompatibleChat } from './chat.js';
import { openaiCompatibleEmbeddings } from './embeddings.js';
import { openaiUsage } from './usage.js';

const schema = instanceSchema(
  'openai',
  {
    /** Sent as OpenAI-Organization; a client's own value is dropped. */
    organization: z.string().min(1).optional(),
    /** Sent as OpenAI-Project; a client's own value is dropped. */
    project: z.string().min(1).optional(),
  },
  z.discriminatedUnion('type', [apiKeyAuthSchema]),
);

/** OpenAI (api.openai.com), Bearer key. */
export const openai = defineProvider({
  type: 'openai',
  schema,
  defaultEndpoint: 'https://api.openai.com',
  transparentRules: OPENAI_INFERENCE_RULES,
  // The gateway's key decides which organization and project are billed, not the client.
  strippedHeaders: new Set(['openai-organization', 'openai-project']),
  usage: openaiUsage,
  chat: openaiCompatibleChat,
  embeddings: openaiCompatibleEmbeddings,
  setup(_name, config, ctx) {
    const headers: Record<string, string> = {};
    if (config.organization) headers['openai-organization'] = config.organization;
    if (config.project) headers['openai-project'] = config.project;
    return { ...bearerFromApiKey(config.authentication, ctx), headers };
  },
});
