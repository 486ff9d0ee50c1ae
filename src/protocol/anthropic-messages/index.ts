import type { EventDecoder } from '../chat-stream.js';
import { parseProviderJson } from '../json.js';
import { nativeChat } from '../native-chat.js';
import type { ChatTranslatorFactory } from '../translator.js';
import { toAnthropicMessages } from './request.js';
import { anthropicErrorMessage, toChatCompletion } from './response.js';
import { AnthropicEventTranslator, sseEventDecoder } from './stream.js';
import type { AnthropicMessagesParams, AnthropicResponse, AnthropicStreamEvent } from './types.js';

/**
 * OpenAI Chat Completions ↔ Anthropic Messages, shared by every Claude host: api.anthropic.com
 * (`ANTHROPIC_API`, the protocol's own endpoint, and `anthropicChat` below), Bedrock InvokeModel
 * and Vertex rawPredict (each describes only its envelope, an `AnthropicHost`, in its provider
 * folder and calls `anthropicMessagesChat`).
 *  - request.ts: OpenAI request → Messages parameters, without `model`, `stream` or
 *    `anthropic_version` (each host puts those somewhere else); the parameter table.
 *  - response.ts: a Messages answer → chat.completion; stop reasons, usage, error bodies.
 *  - stream.ts: the stream events over the shared skeleton (protocol/chat-stream.ts), whatever
 *    the framing (SSE `data:` on api.anthropic.com and Vertex, event-stream `chunk` bytes on Bedrock).
 */

/**
 * Where a host puts the Messages parameters, and how it frames streams.
 *
 * @example
 * // Claude on Bedrock InvokeModel (event-stream `chunk` events carry the same event JSON):
 * const bedrockClaude: AnthropicHost = {
 *   path: (model, stream) => `/model/${encodeURIComponent(model)}/${stream ? 'invoke-with-response-stream' : 'invoke'}`,
 *   headers: { 'content-type': 'application/json' },
 *   body: (params) => ({ anthropic_version: 'bedrock-2023-05-31', ...params }),
 *   decoder: bedrockChunkDecoder,
 * };
 */
export interface AnthropicHost {
  path(model: string, stream: boolean): string;
  headers: Readonly<Record<string, string>>;
  body(params: AnthropicMessagesParams, model: string, stream: boolean): Record<string, unknown>;
  /** `lineLimit`: TranslatorOptions.streamLineLimit, for hosts whose framing is made of lines. */
  decoder(lineLimit?: number): EventDecoder<AnthropicStreamEvent>;
  /**
   * Where a Messages client's `anthropic-beta` header goes on this host (the Messages API's
   * direct path): on as the header (api.anthropic.com, Vertex), or into the body's
   * `anthropic_beta` list (Bedrock, as @anthropic-ai/bedrock-sdk does).
   */
  betas: 'header' | 'body';
  /** The host's token counter for a Messages body, when it has one. */
  countTokens?: AnthropicTokenCounter;
}

/** A host's count_tokens endpoint: where it is, what it takes, and where the count is in its answer. */
export interface AnthropicTokenCounter {
  path(model: string): string;
  /** `params`: the count_tokens body without `model`. */
  body(params: Record<string, unknown>, model: string): unknown;
  /** The count in the host's JSON answer; undefined when it has none. */
  read(answer: unknown): number | undefined;
}

/** A count in a JSON answer's `field`, when it is a non-negative integer. */
export function countIn(answer: unknown, field: string): number | undefined {
  const n = answer !== null && typeof answer === 'object' ? (answer as Record<string, unknown>)[field] : undefined;
  return typeof n === 'number' && Number.isInteger(n) && n >= 0 ? n : undefined;
}

/** api.anthropic.com: `POST /v1/messages`; the gateway adds `x-api-key` itself. */
export const ANTHROPIC_API: AnthropicHost = {
  path: () => '/v1/messages',
  headers: { 'anthropic-version': '2023-06-01', 'content-type': 'application/json' },
  body: (params, model, stream) => (stream ? { model, ...params, stream: true } : { model, ...params }),
  decoder: sseEventDecoder,
  betas: 'header',
  countTokens: {
    path: () => '/v1/messages/count_tokens',
    body: (params, model) => ({ model, ...params }),
    read: (answer) => countIn(answer, 'input_tokens'),
  },
};

/** Protocol mode against a Claude host: one translator per request, over the host's envelope and framing. */
export function anthropicMessagesChat(host: AnthropicHost): ChatTranslatorFactory {
  return (options) =>
    nativeChat({
      request: (body) => {
        const { params, dropped } = toAnthropicMessages(body);
        const { model, stream } = options;
        return { path: host.path(model, stream), headers: { ...host.headers }, body: Buffer.from(JSON.stringify(host.body(params, model, stream))), dropped };
      },
      response: (body) => toChatCompletion(parseProviderJson<AnthropicResponse>(body, 'Anthropic'), options),
      errorMessage: anthropicErrorMessage,
      stream: () => ({ decoder: host.decoder(options.streamLineLimit), events: new AnthropicEventTranslator(options) }),
    });
}

/** Protocol mode for api.anthropic.com. */
export const anthropicChat: ChatTranslatorFactory = anthropicMessagesChat(ANTHROPIC_API);
