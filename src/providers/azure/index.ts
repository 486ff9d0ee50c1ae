import { z } from 'zod';
import { endpointUrl } from '../../config/fields.js';
import { StaticCredential } from '../../credentials/static/index.js';
import { apiKeyAuthSchema } from '../../credentials/static/schema.js';
import type { CachedCredential, Credential } from '../../credentials/types.js';
import { applyHeaderCredential } from '../../signing/header.js';
import { instanceSchema } from '../instance-schema.js';
import { OPENAI_INFERENCE_RULES } from '../openai/compatible.js';
import { openaiUsage } from '../openai/usage.js';
import { rules } from '../transparent-path.js';
import { defineProvider, type ProviderContext } from '../types.js';
import { API_VERSION, DEPLOYMENT_NAME, azureChat, azureEmbeddings } from './deployment.js';

/** The latest generally available dated data-plane version (the v1 API needs none). */
export const AZURE_DEFAULT_API_VERSION = '2024-10-21';

/**
 * `authentication` of an Azure OpenAI instance, by `type`. Only `api_key` (sent as `api-key`)
 * so far; the Entra ID kinds (`client_secret`, `managed_identity`, `workload_identity`, ...) join
 * this union with a `scope` field and are applied as `Authorization: Bearer` by the same signer.
 */
const authSchema = z.discriminatedUnion('type', [apiKeyAuthSchema]);
type AzureAuth = z.output<typeof authSchema>;

const schema = instanceSchema(
  'azure',
  {
    /** `https://{resource}.openai.azure.com`: every resource has its own host, so it is required. */
    endpoint: endpointUrl(),
    /** `api-version` of protocol-mode requests; transparent requests keep the client's own. */
    api_version: z.string().regex(API_VERSION, 'must be a dated Azure OpenAI API version such as 2024-10-21 or 2025-04-01-preview').default(AZURE_DEFAULT_API_VERSION),
    /** Protocol mode: model name → deployment name; an unlisted model is taken as a deployment name. */
    deployments: z.record(z.string().min(1), z.string().regex(DEPLOYMENT_NAME, 'must be an Azure deployment name (letters, digits, "_", "-", ".")')).default({}),
  },
  authSchema,
);

/**
 * Transparent mode: the dated deployment routes
 * (https://learn.microsoft.com/azure/ai-foundry/openai/reference) and the v1 API, whose routes
 * are OpenAI's under `/openai/` (https://learn.microsoft.com/azure/ai-foundry/openai/api-version-lifecycle).
 */
const AZURE_RULES = rules(
  'POST openai/deployments/*/chat/completions',
  'POST openai/deployments/*/completions',
  'POST openai/deployments/*/embeddings',
  'GET openai/models',
  'GET openai/models/*',
  ...OPENAI_INFERENCE_RULES.map((r) => `${r.method ?? ''} openai/${r.segments.join('/')}`.trim()),
);

type HeaderCredential = Extract<Credential, { type: 'bearer' | 'header' }>;

function credentialFor(auth: AzureAuth, ctx: ProviderContext): CachedCredential<HeaderCredential> {
  switch (auth.type) {
    case 'api_key':
      return new StaticCredential(ctx.secrets.handle(auth.api_key, auth.refresh_interval), 'api_key', (value) => ({ type: 'header', name: 'api-key', value }));
    default:
      return auth.type satisfies never;
  }
}

/** Azure OpenAI (`https://{resource}.openai.azure.com`): deployments, `api-version`, `api-key`. */
export const azure = defineProvider({
  type: 'azure',
  schema,
  defaultEndpoint: undefined,
  transparentRules: AZURE_RULES,
  usage: openaiUsage,
  // On the dated routes the deployment runs what it runs, whatever the body's `model` says, so
  // key scopes apply to the deployment name.
  modelFromPath: (segments) => (segments[0] === 'openai' && segments[1] === 'deployments' ? segments[2] : undefined),
  setup(_name, config, ctx) {
    return {
      credential: credentialFor(config.authentication, ctx),
      sign: (req, cred) => applyHeaderCredential(req, cred as HeaderCredential),
      chat: azureChat(config.api_version, config.deployments),
      embeddings: azureEmbeddings(config.api_version, config.deployments),
    };
  },
});
