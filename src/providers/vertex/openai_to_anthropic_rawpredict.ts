import type { ChatTranslatorFactory } from '../../protocol/translator.js';
import { anthropicMessagesChat, countIn, type AnthropicHost } from '../../protocol/anthropic-messages/index.js';
import { sseEventDecoder } from '../../protocol/anthropic-messages/stream.js';
import type { VertexTarget } from './openai_to_gemini.js';

/**
 * OpenAI Chat Completions ↔ Claude on Vertex AI (`publishers/anthropic`, `:rawPredict` and
 * `:streamRawPredict`; https://cloud.google.com/vertex-ai/generative-ai/docs/partner-models/claude).
 * Only the envelope is Vertex's: the path names the model, the body is the Anthropic Messages
 * parameters with `anthropic_version: "vertex-2023-10-16"` and no `model` (`stream: true` when
 * streaming), and streams are SSE exactly as on api.anthropic.com. Translation is the shared
 * Anthropic Messages module's (protocol/anthropic-messages/).
 */

export const VERTEX_ANTHROPIC_VERSION = 'vertex-2023-10-16';

/** True for the model ids served by the Anthropic publisher (`claude-*`). */
export function isVertexClaudeModel(model: string): boolean {
  return model.startsWith('claude-');
}

/** The Claude host of one project and location. */
export function vertexClaudeHost(target: VertexTarget): AnthropicHost {
  const base = `/v1/projects/${target.project}/locations/${target.location}/publishers/anthropic/models/`;
  return {
    path: (model, stream) => `${base}${model}${stream ? ':streamRawPredict' : ':rawPredict'}`,
    headers: { 'content-type': 'application/json' },
    body: (params, _model, stream) => (stream ? { anthropic_version: VERTEX_ANTHROPIC_VERSION, ...params, stream: true } : { anthropic_version: VERTEX_ANTHROPIC_VERSION, ...params }),
    decoder: sseEventDecoder,
    betas: 'header',
    // https://cloud.google.com/vertex-ai/generative-ai/docs/partner-models/claude/count-tokens
    countTokens: {
      path: () => `${base}count-tokens:rawPredict`,
      body: (params, model) => ({ anthropic_version: VERTEX_ANTHROPIC_VERSION, model, ...params }),
      read: (answer) => countIn(answer, 'input_tokens'),
    },
  };
}

/** Protocol mode for Claude on Vertex in one project and location. */
export function vertexClaudeChat(target: VertexTarget): ChatTranslatorFactory {
  return anthropicMessagesChat(vertexClaudeHost(target));
}
