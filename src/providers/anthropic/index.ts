import { z } from 'zod';
import { kindContext } from '../../credentials/kind.js';
import { staticKind } from '../../credentials/static/kind.js';
import { apiKeyAuthSchema } from '../../credentials/static/schema.js';
import { applyHeaderCredential, type NamedHeaderCredential } from '../../signing/header.js';
import { instanceSchema } from '../instance-schema.js';
import { endpointTable } from '../endpoint-names.js';
import { rules } from '../transparent-path.js';
import { ANTHROPIC_API, anthropicChat } from '../../protocol/anthropic-messages/index.js';
import { defineProvider, type ProviderParts } from '../types.js';
import { anthropicErrorShape } from '../../protocol/anthropic-messages/errors.js';
import { anthropicUsage } from './usage.js';
import { ANTHROPIC_MODEL_LIST } from './models.js';
import { ANTHROPIC_PRICES } from './prices.js';

const schema = instanceSchema('anthropic', {}, z.discriminatedUnion('type', [apiKeyAuthSchema]));

/** Anthropic (api.anthropic.com): `x-api-key`; the client sends its own `anthropic-version`. */
export const anthropic = defineProvider({
  type: 'anthropic',
  schema,
  defaultEndpoint: 'https://api.anthropic.com',
  transparentRules: rules('POST v1/messages', 'POST v1/messages/count_tokens', 'GET v1/models', 'GET v1/models/*'),
  // The Messages API is conversational generation: the `chat` endpoint scope.
  endpointOf: endpointTable({ chat: ['POST v1/messages'], count_tokens: ['POST v1/messages/count_tokens'], models: ['GET v1/models', 'GET v1/models/*'] }),
  usage: anthropicUsage,
  // Anthropic's error object for the gateway's own errors, so the SDK raises its typed errors.
  errorShape: anthropicErrorShape,
  chat: anthropicChat,
  direct: { messages: () => ANTHROPIC_API },
  listModels: ANTHROPIC_MODEL_LIST,
  // The shortest page of the model list: authenticated, free, changes nothing.
  probe: { path: '/v1/models?limit=1', headers: { 'anthropic-version': '2023-06-01' } },
  prices: ANTHROPIC_PRICES,
  completionCapFields: ['max_tokens'],
  samples: {
    column: { place: 6 },
    instances: [{ config: { authentication: { type: 'api_key', api_key: '${env:PROP_KEY}' } }, chat: ['claude-sonnet-4-5'], embeddings: [] }],
    transcripts: [{ dir: 'wire/anthropic', ext: '.sse', contentType: 'text/event-stream' }],
  },
  setup(name, config, ctx): ProviderParts<NamedHeaderCredential> {
    const header = (value: string): NamedHeaderCredential => ({ type: 'header', name: 'x-api-key', value });
    const { credential } = staticKind.build(config.authentication, { ...kindContext(ctx, name, 'anthropic', undefined), header });
    return { credential, sign: applyHeaderCredential };
  },
});
