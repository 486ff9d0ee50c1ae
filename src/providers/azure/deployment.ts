import { GatewayError } from '../../errors/gateway-error.js';
import type { ChatTranslatorFactory, EmbeddingsTranslatorFactory } from '../../protocol/translator.js';
import type { DirectApis } from '../types.js';
import { openaiCompatibleChatWith } from '../openai-compatible/chat.js';
import { openaiCompatibleEmbeddingsWith } from '../openai-compatible/embeddings.js';

/**
 * An Azure OpenAI deployment name: letters, digits, `_`, `-`, `.`, at most 64 characters, not
 * starting with `.` (so never a dot segment). Names are chosen by whoever deploys the model.
 */
export const DEPLOYMENT_NAME = /^[A-Za-z0-9_-][A-Za-z0-9_.-]{0,63}$/;

/** A dated Azure OpenAI data-plane API version, e.g. `2024-10-21` or `2025-04-01-preview`. */
export const API_VERSION = /^\d{4}-\d{2}-\d{2}(-preview)?$/;

/**
 * Protocol mode for one Azure OpenAI instance: OpenAI's chat completions at
 * `/openai/deployments/{deployment}/chat/completions?api-version=...`
 * (https://learn.microsoft.com/azure/ai-foundry/openai/reference). The deployment is
 * `deployments[model]`, else the model name itself. The body keeps `model`: Azure ignores it,
 * as it does from Azure's own SDKs, which send it too.
 *
 * @example
 * azureChat('2024-10-21', { 'gpt-4o': 'prod-gpt4o' })({ model: 'gpt-4o', ... }).request(body).path
 * // → '/openai/deployments/prod-gpt4o/chat/completions?api-version=2024-10-21'
 */
export function azureChat(apiVersion: string, deployments: Readonly<Record<string, string>>): ChatTranslatorFactory {
  const query = `?api-version=${apiVersion}`;
  return openaiCompatibleChatWith({ path: (model) => `/openai/deployments/${deploymentOf(model, deployments)}/chat/completions${query}` });
}

/**
 * Protocol-mode embeddings for one Azure OpenAI instance, at
 * `/openai/deployments/{deployment}/embeddings?api-version=...`; the deployment as for chat.
 *
 * @example
 * azureEmbeddings('2024-10-21', { 'text-embedding-3-small': 'embed' })({ model: 'text-embedding-3-small' }).request(body).path
 * // → '/openai/deployments/embed/embeddings?api-version=2024-10-21'
 */
export function azureEmbeddings(apiVersion: string, deployments: Readonly<Record<string, string>>): EmbeddingsTranslatorFactory {
  const query = `?api-version=${apiVersion}`;
  return openaiCompatibleEmbeddingsWith({ path: (model) => `/openai/deployments/${deploymentOf(model, deployments)}/embeddings${query}` });
}

/**
 * The Responses API's direct path: Azure's v1 API (`/openai/v1/responses`, no api-version), whose
 * body names the deployment in `model`.
 * https://learn.microsoft.com/azure/ai-foundry/openai/how-to/responses
 */
export function azureResponses(deployments: Readonly<Record<string, string>>): DirectApis {
  return { responses: (model) => ({ path: '/openai/v1/responses', model: deploymentOf(model, deployments) }) };
}

/** `deployments[model]`, else the model name itself when it is a valid deployment name. */
function deploymentOf(model: string, deployments: Readonly<Record<string, string>>): string {
  const deployment = Object.hasOwn(deployments, model) ? deployments[model]! : model;
  // Unmapped models become URL segments: anything else could leave the deployments path.
  if (!DEPLOYMENT_NAME.test(deployment)) {
    throw new GatewayError('invalid_request', `model "${model.slice(0, 100)}" is not an Azure deployment name and has no entry in the instance's deployments`);
  }
  return deployment;
}
