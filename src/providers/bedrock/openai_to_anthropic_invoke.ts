import { bedrockEvent, EventStreamDecoder, EventStreamError, type EventStreamMessage } from '../../protocol/aws-eventstream.js';
import { StreamIncomplete, type ChatTranslatorFactory } from '../../protocol/translator.js';
import {
  AnthropicMessagesTranslator,
  parseAnthropicEvent,
  type AnthropicEventDecoder,
  type AnthropicHost,
  type AnthropicStreamEvent,
} from '../anthropic/openai_to_anthropic.js';

/**
 * OpenAI Chat Completions ↔ Claude on Bedrock InvokeModel / InvokeModelWithResponseStream
 * (https://docs.aws.amazon.com/bedrock/latest/userguide/model-parameters-anthropic-claude-messages.html).
 * Only the envelope is Bedrock's: the request is the Anthropic Messages parameters with
 * `anthropic_version: "bedrock-2023-05-31"` and no `model` or `stream` (the path names both),
 * and the stream is an AWS event stream whose `chunk` events carry each Anthropic event's JSON,
 * base64-encoded, in `bytes`. Translation is the Anthropic translator's (openai_to_anthropic.ts).
 * Exception and error frames end the stream with StreamIncomplete carrying their message.
 */

export const BEDROCK_ANTHROPIC_VERSION = 'bedrock-2023-05-31';

/** True for the model ids InvokeModel serves with the Messages body: `anthropic.*`, `{geo}.anthropic.*` and their ARNs. */
export function isBedrockAnthropicModel(model: string): boolean {
  const id = model.slice(model.lastIndexOf('/') + 1);
  return id.startsWith('anthropic.') || id.includes('.anthropic.');
}

/**
 * Event-stream framing to Anthropic events. Per request: holds the frame decoder; once it fails,
 * every later call fails the same way.
 */
export function bedrockChunkDecoder(): AnthropicEventDecoder {
  const frames = new EventStreamDecoder();
  let failed: Error | undefined;
  const guard = (run: () => AnthropicStreamEvent[]): AnthropicStreamEvent[] => {
    if (failed) throw failed;
    try {
      return run();
    } catch (err) {
      throw (failed = asStreamIncomplete(err));
    }
  };
  return {
    push: (chunk) => guard(() => frames.push(chunk).map(chunkEvent)),
    end: () =>
      guard(() => {
        frames.end();
        return [];
      }),
  };
}

/** One event-stream message as the Anthropic event its `chunk` carries; throws for exceptions. */
function chunkEvent(msg: EventStreamMessage): AnthropicStreamEvent {
  const ev = bedrockEvent(msg);
  if (ev.kind === 'error') throw new StreamIncomplete(`${ev.type}: ${ev.message ?? 'no message'}`);
  if (ev.kind === 'exception' || ev.type !== 'chunk') throw new StreamIncomplete(`${ev.type}: ${messageOf(ev.payload) ?? 'no message'}`);
  const bytes = isObject(ev.payload) ? ev.payload['bytes'] : undefined;
  if (typeof bytes !== 'string') throw new StreamIncomplete('Bedrock sent a chunk event without bytes');
  return parseAnthropicEvent(Buffer.from(bytes, 'base64').toString('utf8'));
}

function isObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

function messageOf(payload: unknown): string | undefined {
  if (!isObject(payload)) return undefined;
  const m = payload['message'] ?? payload['Message'];
  return typeof m === 'string' ? m : undefined;
}

function asStreamIncomplete(err: unknown): Error {
  if (err instanceof StreamIncomplete) return err;
  if (err instanceof EventStreamError) return new StreamIncomplete(`the Bedrock event stream is corrupt (${err.code}): ${err.message}`, { cause: err });
  return err instanceof Error ? err : new Error(String(err));
}

/** Claude on Bedrock InvokeModel; the gateway signs the request itself. */
export const BEDROCK_INVOKE: AnthropicHost = {
  path: (model, stream) => `/model/${encodeURIComponent(model)}/${stream ? 'invoke-with-response-stream' : 'invoke'}`,
  headers: { 'content-type': 'application/json' },
  body: (params) => ({ anthropic_version: BEDROCK_ANTHROPIC_VERSION, ...params }),
  decoder: bedrockChunkDecoder,
};

/** Protocol mode for Claude through InvokeModel. */
export const anthropicInvokeChat: ChatTranslatorFactory = (options) => new AnthropicMessagesTranslator(options, BEDROCK_INVOKE);

/**
 * `chat_api: invoke`: Claude models through InvokeModel, every other model through `fallback`
 * (Converse).
 */
export function invokeChat(fallback: ChatTranslatorFactory): ChatTranslatorFactory {
  return (options) => (isBedrockAnthropicModel(options.model) ? anthropicInvokeChat(options) : fallback(options));
}
