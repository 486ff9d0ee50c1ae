import { z } from 'zod';
import { apiKeyAuthSchema } from '../../credentials/static/schema.js';
import { instanceSchema } from '../instance-schema.js';
import { bearerFromApiKey, defineCompatibleProvider } from '../openai-compatible/index.js';
import { OPENAI_PRICES } from './prices.js';

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

/** OpenAI (api.openai.com), Bearer key: the OpenAI-compatible base with nothing changed. */
export const openai = defineCompatibleProvider({
  type: 'openai',
  schema,
  defaultEndpoint: 'https://api.openai.com',
  // The gateway's key decides which organization and project are billed, not the client.
  strippedHeaders: new Set(['openai-organization', 'openai-project']),
  prices: OPENAI_PRICES,
  column: { place: 1 },
  setup(_name, config, ctx) {
    const headers: Record<string, string> = {};
    if (config.organization) headers['openai-organization'] = config.organization;
    if (config.project) headers['openai-project'] = config.project;
    return { ...bearerFromApiKey(config.authentication, ctx), headers };
  },
});
