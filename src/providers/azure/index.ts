import { z } from 'zod';
import { duration, endpointUrl } from '../../config-fields/fields.js';
import { azureKind } from '../../credentials/azure/kind.js';
import { entraAuthSchemas } from '../../credentials/azure/schema.js';
import { kindContext, type BuiltCredential } from '../../credentials/kind.js';
import { staticKind } from '../../credentials/static/kind.js';
import { apiKeyAuthSchema } from '../../credentials/static/schema.js';
import { applyHeaderCredential, type HeaderCredential } from '../../signing/header.js';
import { instanceSchema } from '../instance-schema.js';
import { OPENAI_ENDPOINTS, OPENAI_INFERENCE_RULES, OPENAI_TRANSCRIPTS, defineCompatibleProvider } from '../openai-compatible/index.js';
import { endpointTable } from '../endpoint-names.js';
import { rules } from '../transparent-path.js';
import type { ProviderContext, ProviderParts } from '../types.js';
import { API_VERSION, DEPLOYMENT_NAME, azureChat, azureEmbeddings, azureResponses } from './deployment.js';

/** The latest generally available dated data-plane version (the v1 API needs none). */
export const AZURE_DEFAULT_API_VERSION = '2024-10-21';

/**
 * `authentication` of an Azure OpenAI instance, by `type`: `api_key` (sent as `api-key`), or an
 * Entra ID kind (`client_secret`, `client_certificate`, `managed_identity`, `workload_identity`,
 * `default_credentials`) whose token for `scope` is sent as `Authorization: Bearer`.
 */
const authSchema = z.discriminatedUnion('type', [apiKeyAuthSchema, ...entraAuthSchemas]);
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
    /** Entra ID kinds: refresh the token this long before it expires (default 5 minutes). */
    credential_refresh_window: duration().optional(),
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

/** Endpoint scopes of the dated deployment routes; the v1 API's are OpenAI's under `openai/`. */
const AZURE_DEPLOYMENT_ENDPOINTS = endpointTable({
  chat: ['POST openai/deployments/*/chat/completions'],
  completions: ['POST openai/deployments/*/completions'],
  embeddings: ['POST openai/deployments/*/embeddings'],
  models: ['GET openai/models', 'GET openai/models/*'],
});

function credentialFor(name: string, auth: AzureAuth, refreshWindowMs: number | undefined, ctx: ProviderContext): BuiltCredential<HeaderCredential> {
  const kinds = kindContext(ctx, name, 'azure', refreshWindowMs);
  switch (auth.type) {
    case 'api_key':
      return staticKind.build(auth, { ...kinds, header: (value) => ({ type: 'header', name: 'api-key', value }) });
    case 'client_secret':
    case 'client_certificate':
    case 'managed_identity':
    case 'workload_identity':
    case 'default_credentials':
      return azureKind.build(auth, kinds);
    default:
      return auth satisfies never;
  }
}

/**
 * Azure OpenAI (`https://{resource}.openai.azure.com`): deployments, `api-version`, `api-key`.
 * It serves OpenAI's routes under `openai/` only, so none at the root; protocol mode's
 * translators address a deployment and come from the instance's config (setup).
 */
export const azure = defineCompatibleProvider({
  type: 'azure',
  schema,
  defaultEndpoint: undefined,
  served: new Set(),
  nativeRules: AZURE_RULES,
  endpointOf: (method, segments) => AZURE_DEPLOYMENT_ENDPOINTS(method, segments) ?? (segments[0] === 'openai' ? OPENAI_ENDPOINTS(method, segments.slice(1)) : undefined),
  samples: {
    passThrough: { drops: [] },
    column: { place: 5 },
    instances: [
      {
        config: { endpoint: 'https://example.openai.azure.com', deployments: { 'gpt-4o': 'chat-prod', 'text-embedding-3-small': 'embed-prod' }, authentication: { type: 'api_key', api_key: '${env:PROP_KEY}' } },
        chat: ['gpt-4o'],
        embeddings: ['text-embedding-3-small'],
      },
    ],
    transcripts: OPENAI_TRANSCRIPTS,
  },
  // On the dated routes the deployment runs what it runs, whatever the body's `model` says, so
  // key scopes apply to the deployment name.
  modelFromPath: (segments) => (segments[0] === 'openai' && segments[1] === 'deployments' ? segments[2] : undefined),
  // An expired or revoked Entra token: 401 with a Bearer challenge. An `api-key` 401 carries
  // none and is not retried (a static key cannot be refetched).
  staleCredential: (status, headers) => status === 401 && /^bearer\b/i.test(String(headers['www-authenticate'] ?? '')),
  setup(name, config, ctx): ProviderParts<HeaderCredential> {
    const { credential, close } = credentialFor(name, config.authentication, config.credential_refresh_window, ctx);
    return {
      credential,
      ...(close !== undefined ? { close: async () => close() } : {}),
      sign: applyHeaderCredential,
      chat: azureChat(config.api_version, config.deployments),
      embeddings: azureEmbeddings(config.api_version, config.deployments),
      direct: azureResponses(config.deployments),
      // The resource's model list, at the instance's data-plane version.
      probe: { path: `/openai/models?api-version=${encodeURIComponent(config.api_version)}` },
    };
  },
});
