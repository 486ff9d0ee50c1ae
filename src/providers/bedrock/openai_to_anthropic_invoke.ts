import { anthropicMessagesChat, countIn, type AnthropicHost } from '../../protocol/anthropic-messages/index.js';
import { parseAnthropicEvent } from '../../protocol/anthropic-messages/stream.js';
import type { AnthropicStreamEvent } from '../../protocol/anthropic-messages/types.js';
import { bedrockEventDecoder, exceptionMessage, type BedrockEvent } from '../../protocol/aws-eventstream.js';
import type { EventDecoder } from '../../protocol/chat-stream.js';
import { StreamIncomplete, type ChatTranslatorFactory } from '../../protocol/translator.js';

/**
 * OpenAI Chat Completions ↔ Claude on Bedrock InvokeModel / InvokeModelWithResponseStream
 * (https://docs.aws.amazon.com/bedrock/latest/userguide/model-parameters-anthropic-claude-messages.html).
 * Only the envelope is Bedrock's: the request is the Anthropic Messages parameters with
 * `anthropic_version: "bedrock-2023-05-31"` and no `model` or `stream` (the path names both),
 * and the stream is an AWS event stream whose `chunk` events carry each Anthropic event's JSON,
 * base64-encoded, in `bytes`. Translation is the shared Anthropic Messages module's
 * (protocol/anthropic-messages/). Exception and error frames end the stream with
 * StreamIncomplete carrying their message.
 */

export const BEDROCK_ANTHROPIC_VERSION = 'bedrock-2023-05-31';

/** True for the model ids InvokeModel serves with the Messages body: `anthropic.*`, `{geo}.anthropic.*` and their ARNs. */
export function isBedrockAnthropicModel(model: string): boolean {
  const id = model.slice(model.lastIndexOf('/') + 1);
  return id.startsWith('anthropic.') || id.includes('.anthropic.');
}

/** Event-stream framing to Anthropic events. Per request: holds the frame decoder. */
export function bedrockChunkDecoder(): EventDecoder<AnthropicStreamEvent> {
  const frames = bedrockEventDecoder();
  return {
    push: (chunk) => Array.from(frames.push(chunk), chunkEvent),
    end: () => Array.from(frames.end(), chunkEvent),
  };
}

/** One Bedrock event as the Anthropic event its `chunk` carries; throws for exceptions. */
function chunkEvent(ev: BedrockEvent): AnthropicStreamEvent {
  if (ev.kind === 'error') throw new StreamIncomplete(`${ev.type}: ${ev.message ?? 'no message'}`);
  if (ev.kind === 'exception' || ev.type !== 'chunk') throw new StreamIncomplete(`${ev.type}: ${exceptionMessage(ev.payload) ?? 'no message'}`);
  const bytes = ev.payload !== null && typeof ev.payload === 'object' ? (ev.payload as { bytes?: unknown }).bytes : undefined;
  if (typeof bytes !== 'string') throw new StreamIncomplete('Bedrock sent a chunk event without bytes');
  return parseAnthropicEvent(Buffer.from(bytes, 'base64').toString('utf8'));
}

/** Claude on Bedrock InvokeModel; the gateway signs the request itself. */
export const BEDROCK_INVOKE: AnthropicHost = {
  path: (model, stream) => `/model/${encodeURIComponent(model)}/${stream ? 'invoke-with-response-stream' : 'invoke'}`,
  headers: { 'content-type': 'application/json' },
  body: (params) => ({ anthropic_version: BEDROCK_ANTHROPIC_VERSION, ...params }),
  decoder: bedrockChunkDecoder,
  betas: 'body',
  // CountTokens takes the InvokeModel body, base64-encoded, which must be valid for InvokeModel (max_tokens included).
  countTokens: {
    path: (model) => `/model/${encodeURIComponent(model)}/count-tokens`,
    body: (params) => ({ input: { invokeModel: { body: Buffer.from(JSON.stringify({ anthropic_version: BEDROCK_ANTHROPIC_VERSION, max_tokens: 1, ...params })).toString('base64') } } }),
    read: (answer) => countIn(answer, 'inputTokens'),
  },
};

/** Protocol mode for Claude through InvokeModel. */
export const anthropicInvokeChat: ChatTranslatorFactory = anthropicMessagesChat(BEDROCK_INVOKE);

/**
 * `chat_api: invoke`: Claude models through InvokeModel, every other model through `fallback`
 * (Converse).
 */
export function invokeChat(fallback: ChatTranslatorFactory): ChatTranslatorFactory {
  return (options) => (isBedrockAnthropicModel(options.model) ? anthropicInvokeChat(options) : fallback(options));
}
